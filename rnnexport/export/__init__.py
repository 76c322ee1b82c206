"""Export: a checkpoint to every artifact (TorchScript, the ONNX graphs, the fold table), staged, verified
against eager PyTorch, then swapped into the model folder with parity.json and manifest.json (the write side)."""
