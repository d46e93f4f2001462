"""The NumPy reference: every fixture reproduced in float32 and float64."""
