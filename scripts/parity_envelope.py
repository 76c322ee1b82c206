"""The parity envelope of a model folder: each runtime's worst ratio |a - b| / (atol + rtol·|b|) against float64,
by name length, on random capitalised names (rnnexport.verification.verify.parity_envelope); prints the markdown
table that docs/model.md ('Parity') shows.
usage: python scripts/parity_envelope.py [MODEL_DIR] [--per-band N] [--json PATH]"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rnnexport.model.folder import find_model_dir
from rnnexport.runtimes.torch_runtimes import use_one_intra_op_thread
from rnnexport.verification.verify import parity_envelope


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model_dir", nargs="?", type=Path, help="[default: the packaged model]")
    parser.add_argument("--per-band", type=int, default=2000, help="random names per length band")
    parser.add_argument("--json", type=Path, help="also write the envelope as JSON here")
    args = parser.parse_args()
    use_one_intra_op_thread()  # as verify measures: 1-thread torch calls
    envelope = parity_envelope(find_model_dir(args.model_dir), args.per_band)
    bands = envelope["worst_ratio"]
    runtimes = list(next(iter(bands.values())))
    print(f"| letters | {' | '.join(runtimes)} |")
    print(f"|---|{'---|' * len(runtimes)}")
    for band, ratios in bands.items():
        print(f"| {band} | {' | '.join(f'{ratios[name]:.2f}' for name in runtimes)} |")
    if args.json:
        args.json.write_text(json.dumps(envelope, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
