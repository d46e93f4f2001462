"""Whole-model parity: every fixture against real Keras, and the NumPy reference against onnxruntime on a grid."""
