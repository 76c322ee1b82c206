"""Export: a checkpoint to every artifact (TorchScript, torch.export, the ONNX graphs, the fold table; with
``--aoti`` the AOTInductor package), staged, verified against eager PyTorch, then swapped into the model folder
with parity.json and manifest.json (the write side)."""
