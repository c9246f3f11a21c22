"""Tests of the pure parts: definitions, analysis, numbers against references, training and the repo itself."""
