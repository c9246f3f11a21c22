"""convscope: see how a convolutional network works, layer by layer."""

__version__ = "0.1.0"
