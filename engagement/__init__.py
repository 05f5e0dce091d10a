"""Experiments, their liaisons, and the storage requirements they file."""
