"""Lowering options, kept apart so ``import kerasrnn2onnx`` does not load the graph builder."""

DEFAULT_OPSET = 18
MIN_OPSET = 14  # LSTM/GRU/RNN-14 and Squeeze/Unsqueeze with an axes input
STRATEGIES = ("auto", "native", "scan", "unroll")
TARGETS = ("cpu", "cuda", "openvino", "tract", "opencv", "web", "portable")
