"""Interpreters and readers of a net: the ONNX builder, the PyTorch reference, the ONNX inspector."""
