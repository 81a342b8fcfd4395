"""Serving one model: interface, audio, long audio, int8, CLI."""
