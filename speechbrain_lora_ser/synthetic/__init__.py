"""Synthetic speech corpora and small encoders for the demo and tests."""
