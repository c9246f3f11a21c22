"""Explanations of one prediction, exact and without autograd: Grad-CAM, occlusion, RISE, trust checks."""
