"""Training by hand and measuring the result: recipes, the loop, augmentation, calibration, the operating point,
metrics, evaluation, cross-validation and the training reports."""
