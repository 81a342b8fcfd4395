"""Training: the Brain, stages, checkpoints, end-of-run tests."""
