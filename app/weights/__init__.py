"""Weights: seeded initialisation, checkpoint import, downloads of trained weights."""
