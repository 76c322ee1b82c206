"""``rnnexport predict``: the top-k labels of a few names given as text, with the folded form the model saw."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from ..answers.rule import BELOW_MIN_PROBABILITY, STATUSES, AnswerRule, decide
from ..runtimes.registry import open_runtime
from ..text.encode import encode_ragged, folded_strings
from ..text.scripts import describe_scripts, script_name
from .answer_columns import model_answer_rule
from .log_probs import predict_log_probs
from .plan import check_top_k
from .predictions import top_k_columns

PREDICT_BATCH_SIZE = 4096  # names per model call of ``predict`` (a handful of names: one call)
PREDICT_TOP_K = 3  # labels ``predict`` shows by default


@dataclass(frozen=True)
class Prediction:
    """One name of ``predict``: as given, as folded for the model, and its top-k (label, probability) pairs,
    best first (None when it folds to no letter); ``script``: the name of a script whose Latin spelling the fold
    can only guess that it is written in (text.scripts), else None; with an answer rule, its ``status``
    (answers.rule.STATUSES) and its prediction ``set`` (labels in the model's order; None without --coverage)."""

    name: str
    folded: str
    top: list[tuple[str, float]] | None
    script: str | None = None
    status: str | None = None
    set: list[str] | None = None
    rule: AnswerRule | None = None

    def describe(self) -> str:
        """``predict``'s line: the name, the folded form the model saw when folding changed it (and the script
        when that form is a guess), the top labels ("Łukasz -> Lukasz: Polish 0.378, ..."), then what the answer
        rule decided."""
        if self.top is None:
            return f"{self.name}: no prediction (no letter of the alphabet)"
        shown = self.name if self.folded == self.name else f"{self.name} -> {self.folded}"
        guess = f" ({self.script} script: a guessed spelling)" if self.script else ""
        line = f"{shown}{guess}: " + ", ".join(f"{label} {probability:.3f}" for label, probability in self.top)
        if self.status == BELOW_MIN_PROBABILITY:
            line += f"; no answer (top probability below {self.rule.min_probability:g})"
        if self.set is not None:
            line += (
                f"; set at {self.rule.coverage:.2f} ({self.rule.set_method.replace('_', '-')}): {', '.join(self.set)}"
            )
        return line


def guessed_note(predictions: list[Prediction]) -> str | None:
    """The line ``predict`` adds when names are in scripts whose Latin spelling the fold can only guess (how many,
    which scripts, where the limits are written down), else None."""
    counts: dict[str, int] = {}
    for prediction in predictions:
        if prediction.script and prediction.top is not None:
            counts[prediction.script] = counts.get(prediction.script, 0) + 1
    if not counts:
        return None
    return (f"{sum(counts.values())} of {len(predictions)} names in scripts whose Latin spelling is a guess "
            f"({describe_scripts(counts)}): the model saw that guess; see docs/fold.md")  # fmt: skip


def predict_top_k(names: list[str], model_dir: Path, runtime: str = "onnx", top_k: int | None = None,
                  answers: AnswerRule | None = None) -> list[Prediction]:  # fmt: skip
    """Each name's folded form and top-k labels (None: 3, or every label of a model with fewer), ranked as
    classify's label/probability columns; with ``answers``, what it decides (as classify's answer columns).

    Raises InputError when ``top_k`` exceeds the model's labels, OptionError for a --coverage the model has no
    thresholds for; ArtifactError/CheckpointError for the model.
    """
    model = open_runtime(runtime, model_dir)
    top_k = min(PREDICT_TOP_K, len(model.labels)) if top_k is None else top_k
    check_top_k(top_k, model.labels)
    answers = model_answer_rule(answers, model_dir, model.labels)
    encoded = encode_ragged(list(names), model.alphabet)
    log_probs = predict_log_probs(model, encoded, len(model.labels), PREDICT_BATCH_SIZE)
    columns = list(top_k_columns(log_probs, model.labels, top_k).values())
    folded = folded_strings(encoded.padded(), model.alphabet)
    decided = decide(log_probs, answers) if answers is not None else None
    predictions = []
    for i, name in enumerate(names):
        pairs = [
            (labels[i], float(probabilities[i]))
            for labels, probabilities in zip(columns[0::2], columns[1::2], strict=True)
        ]
        script = script_name(int(encoded.guessed[i])) if encoded.guessed is not None and encoded.guessed[i] else None
        prediction = Prediction(name, folded[i], pairs if columns[0][i] else None, script)
        if decided is not None:
            members = decided.set_labels(i, model.labels) if decided.sets is not None else None
            prediction = replace(prediction, status=STATUSES[decided.status[i]], set=members, rule=answers)
        predictions.append(prediction)
    return predictions
