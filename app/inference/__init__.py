"""Inference: turning user input into tensors (preprocess) and tensors into answers (run)."""
