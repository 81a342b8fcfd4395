"""Corpora to training data: layouts, manifests, loaders."""
