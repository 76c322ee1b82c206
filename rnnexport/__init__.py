"""rnnexport: train a hand-made character RNN, export it to TorchScript and ONNX, classify names in batch."""

__version__ = "0.1.0"
