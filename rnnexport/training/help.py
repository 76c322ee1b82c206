"""What ``rnnexport train --help``, ``evaluate --help`` and ``model-card --help`` say (cli/training.py), and their
options' help by parameter name. torch-free, so that the command line starts without importing torch."""

# `rnnexport train --help` and `rnnexport evaluate --help` (cli/training.py), and their options' help by name.
TRAIN_HELP = """Train the RNN with a hand-written update (SGD; AdamW in --recipe adamw) and write checkpoint.pt,
training.json and three plots (loss curve, confusion matrix, reliability diagram).

\b
Labels come from the data (sorted); the held-out split of docs/model.md applies to any data.
Examples:
  rnnexport train                          # the default recipe: 1.5-5 min on 2 cores, by load
  rnnexport train --recipe seed --out runs/seed
  rnnexport train --epochs 5 --lr 0.2 --seed 1 --out runs/try
  rnnexport train --data people.csv --name-column surname --label-column origin --out runs/people
  rnnexport train --data folder_of_label_files --alphabet abcdefghijklmnopqrstuvwxyz --hidden-size 64
"""
EVALUATE_HELP = """Print the held-out table of a checkpoint (per-label precision, recall, F1; accuracy, balanced
accuracy, ECE; then accuracy, balanced accuracy and ECE of the names lower- and UPPER-cased), or cross-validate a
recipe with --cv.

\b
Examples:
  rnnexport evaluate --checkpoint exported/checkpoint.pt
  rnnexport evaluate --model-dir runs/people --data people.csv --name-column surname --label-column origin
  rnnexport evaluate --cv 10 --recipe adamw  # 10 folds, 2 processes (4-10 min on 2 cores)
  rnnexport evaluate --cv 10 --folds 0,1,2
  rnnexport evaluate --cv 5 --data people.csv --name-column surname --label-column origin \\
      --alphabet abcdefghijklmnopqrstuvwxyz --hidden-size 64   # a custom model's shape (as trained)
"""
OPTION_HELP = {
    "train_data": "Labelled names: a folder of <label>.txt files (any labels, at least 2), or a CSV, TSV or Parquet "
    "file with a name and a label column, read as classify reads its input [default: data/names, else "
    "$RNNEXPORT_NAMES_DIR].",
    "recipe": "'default': AdamW with w's singular values clamped at 1.5, case augmentation, calibration and prior "
    "shift 0.52 (the committed model, docs/model.md); 'adamw': the same unclamped, 40 epochs; 'sgd' (or "
    "'sgd-2024'): SGD with loss weights, the default until 2026-12; 'seed': the original tutorial recipe (batch 1, "
    "label-uniform, lr 0.005, 200,000 steps).",
    "out": "Where checkpoint.pt, training.json and the plots go (an earlier model's export there, the files its "
    "rnnexport manifest.json lists and matches, is removed; no other file is touched).",
    "checkpoint": "[default: checkpoint.pt of --model-dir, $RNNEXPORT_MODEL_DIR or the packaged model]",
    "evaluate_data": "The labelled data the model was trained on (as train --data) [default: data/names, else "
    "$RNNEXPORT_NAMES_DIR].",
    "n_folds": "Cross-validate a recipe over N crc32 folds instead.",
    "cv_recipe": "With --cv: the recipe to train on each fold.",
    "prior_shift": "With --cv: τ to report (default: the recipe's).",
    "folds": "With --cv: comma-separated folds to run [default: all].",
    "jobs": "With --cv: processes.",
    "report": "With --cv: write the JSON here.",
}
MODEL_CARD_HELP = """Write the model card (Mitchell et al. 2019) from the model's reports and a cross-validation report.

\b
Example (make model-card):
  rnnexport model-card --model-dir exported --cv-report docs/reports/cv10_default.json
"""
MODEL_CARD_OPTIONS = {
    "cv_report": "The JSON of evaluate --cv --report (docs/reports/cv10_default.json).",
    "output": "Where the card goes.",
}
