"""The TorchScript artifact: the scripted recurrent loop plus string input and per-step hidden states."""

from __future__ import annotations

import hashlib
import io
import json
import re
import warnings
import zipfile
from pathlib import Path
from typing import Dict, List  # noqa: UP035 - TorchScript needs typing generics in annotations

import torch

from ..model.cell import CharRNN, ModelConfig
from ..model.manifest import ARCHIVE_METADATA_FILE
from .manifest import archive_metadata

SERIALIZATION_ID = ".data/serialization_id"  # a record of every torch.jit.save archive
FIXED_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip can hold


class ScriptableCharRNN(CharRNN):
    """CharRNN plus what a LibTorch caller needs: string input and per-step hidden states."""

    def __init__(self, config: ModelConfig, alphabet: str):
        super().__init__(config)
        self.letter_index: Dict[str, int] = {letter: i for i, letter in enumerate(alphabet)}  # noqa: UP006
        self.space_index = alphabet.index(" ") if " " in alphabet else -1  # -1: no blank name without a space

    def forward(self, indices: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """indices int64 (T, B) in [0, 57), lengths int64 (B,) in [1, T] -> log-probs (B, L); a ValueError for
        any other input (a LibTorch caller sees it as a c10::Error naming the rule)."""
        check_inputs(indices, lengths, len(self.letter_index))
        return self.recur(indices, lengths)

    @torch.jit.export
    def hidden_states(self, indices: torch.Tensor) -> torch.Tensor:
        """indices (T, B) -> every h_t, (T, B, H), ignoring lengths."""
        inputs = self.u.weight.t()[indices] + self.u.bias
        hidden = torch.zeros(indices.shape[1], self.hidden_size, dtype=inputs.dtype, device=inputs.device)
        states: List[torch.Tensor] = []  # noqa: UP006
        for t in range(indices.shape[0]):
            hidden = torch.tanh(self.w(hidden) + inputs[t])
            states.append(hidden)
        return torch.stack(states)

    @torch.jit.export
    def prefix_step(self, hidden: torch.Tensor, parent: torch.Tensor, letter: torch.Tensor) -> torch.Tensor:
        """One trie level of prefix-shared evaluation (runtimes/prefix.py), the maths of ``forward``'s step:
        hidden float32 (parents, H) (level 1: one zero row), parent int64 (nodes,) (level 1: all 0), letter
        int64 (nodes,) -> tanh(hidden[parent] @ W^T + input_table[letter]), float32 (nodes, H)."""
        table = self.u.weight.t() + (self.u.bias + self.w.bias)  # (57, H): as in forward
        parents = hidden.index_select(0, parent)
        return torch.tanh(torch.addmm(table.index_select(0, letter), parents, self.w.weight.t()))

    @torch.jit.export
    def prefix_head(self, hidden: torch.Tensor) -> torch.Tensor:
        """The readout where names end: hidden float32 (batch, H) -> log-probs (batch, L)."""
        return self.readout(hidden)

    @torch.jit.export
    def predict_names(self, names: List[str]) -> torch.Tensor:  # noqa: UP006
        """Names already folded to the alphabet -> log-probs (B, L); a blank name gets a NaN row.

        A character outside the alphabet (an unfolded 'Dvořák', a digit) is a ValueError that says how to fold:
        the CLI folds before it predicts, so an unfolded name would otherwise get another answer than the CLI's.
        """
        rows: List[List[int]] = []  # noqa: UP006
        for name in names:
            row: List[int] = []  # noqa: UP006
            for letter in name:
                if letter not in self.letter_index:
                    raise ValueError(
                        "name '" + name + "' has a character outside the alphabet; fold it first "
                        "(Python: rnnexport.text.fold; other languages: fold_table.json)"
                    )
                row.append(self.letter_index[letter])
            rows.append(row)
        longest = 1
        for row in rows:
            longest = max(longest, len(row))
        indices = torch.zeros(longest, len(rows), dtype=torch.long)
        lengths = torch.ones(len(rows), dtype=torch.long)
        blank: List[bool] = []  # noqa: UP006
        for b, row in enumerate(rows):
            # No letter, or only spaces: no prediction (as rnnexport.text.encode_ragged decides).
            only_spaces = True
            for letter_index in row:
                if letter_index != self.space_index:
                    only_spaces = False
            blank.append(only_spaces)
            if len(row) > 0:
                indices[: len(row), b] = torch.tensor(row, dtype=torch.long)
                lengths[b] = len(row)
        log_probs = self.forward(indices, lengths)
        return log_probs.masked_fill(torch.tensor(blank, dtype=torch.bool).unsqueeze(1), float("nan"))


def check_inputs(indices: torch.Tensor, lengths: torch.Tensor, n_letters: int) -> None:
    """The contract of ``forward``; scripted, so it runs inside the archive for LibTorch callers too."""
    if indices.dtype != torch.long or lengths.dtype != torch.long or indices.dim() != 2 or lengths.dim() != 1:
        raise ValueError("indices must be int64 [T, B] and lengths int64 [B]")
    steps = indices.shape[0]
    if steps < 1 or indices.shape[1] < 1:
        raise ValueError("indices must hold at least one name of one letter: shape [T >= 1, B >= 1]")
    if lengths.shape[0] != indices.shape[1]:
        raise ValueError(
            "lengths has " + str(lengths.shape[0]) + " entries for a batch of " + str(indices.shape[1]) + " names"
        )
    if bool((lengths < 1).any()) or bool((lengths > steps).any()):
        raise ValueError("every length must lie in 1..T = 1.." + str(steps))
    if bool((indices < 0).any()) or bool((indices >= n_letters).any()):
        raise ValueError("indices must lie in 0.." + str(n_letters - 1) + " (the alphabet)")


def script_model(model: CharRNN, alphabet: str) -> torch.jit.ScriptModule:
    config = ModelConfig(len(alphabet), model.hidden_size, model.v.out_features)
    scriptable = ScriptableCharRNN(config, alphabet)
    scriptable.load_state_dict(model.state_dict())
    with warnings.catch_warnings():
        # torch 2.13 deprecates torch.jit.script (TorchScript is in maintenance), yet char_rnn.pt is what
        # existing LibTorch services load, so we keep writing it; the warning says nothing actionable to our users.
        # Its successor ships beside it: char_rnn.pt2 (torch.export) and, for C++, char_rnn_aoti.pt2 (AOTInductor,
        # export --aoti); see docs/embedding.md. A torch that turns this warning into an error fails here loudly.
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*torch.jit.script.*")
        return torch.jit.script(scriptable.eval())


def write_torchscript(model: CharRNN, metadata: dict[str, str], path: Path) -> None:
    scripted = script_model(model, metadata["alphabet"])
    extra = archive_metadata(metadata)
    with warnings.catch_warnings():
        # Deprecated with TorchScript itself in torch 2.13; still the format existing LibTorch consumers load
        # (successor: char_rnn.pt2 / char_rnn_aoti.pt2, as above).
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*torch.jit.save.*")
        buffer = io.BytesIO()
        torch.jit.save(scripted, buffer, _extra_files={ARCHIVE_METADATA_FILE: json.dumps(extra)})
    path.write_bytes(without_debug_records(buffer.getvalue()))


def without_debug_records(archive: bytes) -> bytes:
    """The TorchScript zip without its ``*.debug_pkl`` records, which hold the absolute paths of the Python
    sources (so the same checkpoint exported from another folder gave other bytes), with each class's ``Final``
    constants in name order (torch.jit.script writes them in set order, which follows PYTHONHASHSEED: nn.Linear's
    in_features and out_features swapped places between processes) and a serialization id of the content. So one
    checkpoint gives one archive, and one manifest hash, in any process. The records are copied in order,
    uncompressed, with a fixed date."""
    with zipfile.ZipFile(io.BytesIO(archive)) as source:
        records = [(info.filename, source.read(info)) for info in source.infolist()
                   if not info.filename.endswith(".debug_pkl")]  # fmt: skip
    records = [(name, _constants_sorted(content) if "/code/" in name else content) for name, content in records]
    digest = hashlib.sha256()
    for name, content in records:
        if not name.endswith(SERIALIZATION_ID):
            digest.update(name.encode() + b"\0" + content)
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", zipfile.ZIP_STORED) as target:
        for name, content in records:
            if name.endswith(SERIALIZATION_ID):  # the CRC part kept, the random part from the content
                content = content[:20] + b"%020d" % (int(digest.hexdigest(), 16) % 10**20)
            target.writestr(zipfile.ZipInfo(name, date_time=FIXED_ZIP_DATE), content)
    return output.getvalue()


FINAL_CONSTANT = re.compile(rb"^  \w+ : Final\[[^\]]*\] = .*$")  # `  in_features : Final[int] = 57` in a class body


def _constants_sorted(code: bytes) -> bytes:
    """A TorchScript code record with every run of consecutive ``Final`` constant lines sorted (their order does not
    matter to the loader: they are declarations)."""
    lines, out, run = code.split(b"\n"), [], []
    for line in [*lines, None]:
        if line is not None and FINAL_CONSTANT.match(line):
            run.append(line)
            continue
        out += sorted(run)
        run = []
        if line is not None:
            out.append(line)
    return b"\n".join(out)
