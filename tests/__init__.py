"""kerasrnn2onnx test suite."""
