"""The answer columns of classify (``--min-probability``, ``--coverage``: answers/rule.py): the rule completed with
the model's prediction-set thresholds (manifest.json), and the CSV fields it adds after the top-k
(``prediction_set``, ``set_size``, ``status``) as bytes, without a Python loop per row: each distinct (set, status)
of a chunk is written once and gathered. An abstained row's ``language`` is left empty by csv_output/arrow_output."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..answers.conformal import table_from_manifest
from ..answers.rule import SET_SEPARATOR, STATUSES, AnswerRule, Answers, with_table
from ..errors import OptionError
from ..model.manifest import MANIFEST_NAME, read_manifest
from .csv_output import csv_field


def model_answer_rule(rule: AnswerRule | None, model_dir: Path | None, labels: list[str]) -> AnswerRule | None:
    """``rule`` with its coverage level's thresholds from ``model_dir``'s manifest.json (unchanged without a
    coverage). OptionError when a coverage is asked without a model folder or of a model without thresholds;
    ArtifactError for a malformed manifest."""
    if rule is None or rule.coverage is None:
        return rule
    if model_dir is None:
        raise OptionError("--coverage reads its thresholds from the model folder's manifest.json: give the folder")
    source = str(Path(model_dir) / MANIFEST_NAME)
    return with_table(rule, table_from_manifest(read_manifest(model_dir), labels, source), source)


def set_texts(sets: np.ndarray, labels: list[str]) -> list[str]:
    """Each row's set as text: its labels in the model's label order, joined by SET_SEPARATOR."""
    return [SET_SEPARATOR.join(labels[i] for i in np.flatnonzero(row)) for row in sets]


def csv_answer_fields(answers: Answers, labels: list[str], rule: AnswerRule, delimiter: str
                      ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Each row's ``<d>prediction_set<d>set_size`` (with a coverage) then ``<d>status``, as UTF-8: the rows' bytes
    concatenated (uint8) and their lengths (int64 [N]). A row with no letter has an empty set and size."""
    rows = len(answers.status)
    if not rows:
        return np.zeros(0, dtype=np.uint8), np.zeros(0, dtype=np.int64)
    packed = np.packbits(answers.sets, axis=1) if answers.sets is not None else np.zeros((rows, 0), dtype=np.uint8)
    keys = np.concatenate([packed, answers.status.astype(np.uint8)[:, None]], axis=1)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    texts = []
    for row in first:
        status = STATUSES[answers.status[row]]
        fields = []
        if answers.sets is not None:
            members = set_texts(answers.sets[row : row + 1], labels)[0]
            size = str(int(answers.sets[row].sum())) if status != STATUSES[2] else ""
            fields += [csv_field(members, delimiter), size]
        texts.append("".join(delimiter + field for field in [*fields, status]).encode("utf-8"))
    return gather(texts, inverse.reshape(-1))


def gather(texts: list[bytes], index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The byte strings ``texts[index[i]]`` concatenated (uint8) and their lengths (int64 [len(index)])."""
    table = np.frombuffer(b"".join(texts), dtype=np.uint8)
    sizes = np.array([len(text) for text in texts], dtype=np.int64)
    offsets = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    lengths = sizes[index]
    starts = np.repeat(offsets[index] - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
    return table[starts + np.arange(int(lengths.sum()))], lengths


def join_rows(first: tuple[np.ndarray, np.ndarray], second: tuple[np.ndarray, np.ndarray]
              ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Two per-row byte sequences (bytes, lengths [N] each) joined row by row: row i's first bytes, then its
    second."""
    (data_a, lengths_a), (data_b, lengths_b) = first, second
    segments = np.column_stack((lengths_a, lengths_b)).ravel()
    is_second = np.repeat(np.tile([False, True], len(lengths_a)), segments)
    joined = np.empty(len(is_second), dtype=np.uint8)
    joined[~is_second] = data_a
    joined[is_second] = data_b
    return joined, lengths_a + lengths_b
