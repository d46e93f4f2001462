"""Lowering specs to ONNX: strategies, graph structure of native ops, the ONNX checker and reference evaluator."""
