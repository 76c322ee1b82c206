"""The runtimes that turn encoded names into log-probs (ONNX Runtime, TorchScript, torch.export, AOTInductor, eager
torch), their registry, and prefix-shared evaluation (each distinct name and prefix once)."""
