"""The model and its files: the RNN cell (no I/O), checkpoints as plain dicts, the model folder's lookup and the
manifest every loader checks."""
