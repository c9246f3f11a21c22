"""HTTP routes, one module per concern; thin handlers over app.serving.service."""
