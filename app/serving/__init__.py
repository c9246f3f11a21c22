"""Serving: the model registry and session cache, the service the routes call, preprocessing and runs."""
