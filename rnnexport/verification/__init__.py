"""Proof that every runtime gives eager PyTorch's answer: the parity rule and its report, and verify, which holds
every exported runtime to it on every name."""
