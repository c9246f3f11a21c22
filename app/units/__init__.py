"""Inside one unit: receptive-field boxes, the arithmetic of one activation, kernels and dataset examples."""
