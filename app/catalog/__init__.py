"""The catalog of models: what each one is (info, sources, sidecars, class names) and its files."""
