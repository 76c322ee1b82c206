"""The classify pipeline (issue 21): chunks through the stages on several threads, a run-wide log-prob cache by
name, each distinct name's fields formatted once. Whatever runs where, the output is the bytes of one chunk at a
time, and the first fault in the input is the one reported."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnexport.classify.csv_output import prediction_fields, shared_prediction_fields
from rnnexport.classify.log_probs import chunk_predictions
from rnnexport.classify.name_cache import LogProbCache
from rnnexport.cli.app import main
from rnnexport.runtimes.distinct import distinct_names, subset
from rnnexport.runtimes.prefix import scatter_rows
from rnnexport.runtimes.registry import open_runtime
from rnnexport.text.encode import RaggedNames, encode_ragged

LABELS = ["Arabic", "Chinese", "Czech", "Dutch"]


def ragged(names: list[list[int]]) -> RaggedNames:
    lengths = np.array([len(name) for name in names], dtype=np.int64)
    letters = np.array([letter for name in names for letter in name], dtype=np.int64)
    return RaggedNames(letters=letters, lengths=lengths, lost=np.zeros(len(names), dtype=np.int64))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.integers(0, 56), max_size=70), max_size=60), st.data())
def test_a_subset_of_sorted_names_is_sorted_with_its_own_lcps(names, data):
    """The names a cache did not hold keep their order, and each one's LCP with the kept one before it (0 across
    the group of very long names), as if they alone had been deduplicated."""
    distinct = distinct_names(ragged(names))
    keep = np.array(data.draw(st.lists(st.booleans(), min_size=len(distinct.lcp), max_size=len(distinct.lcp))),
                    dtype=bool)  # fmt: skip
    kept = subset(distinct, keep)
    chosen = np.flatnonzero(keep)
    texts = [kept.names.letters[start : start + n].tolist() for start, n in
             zip(kept.names.starts, kept.names.lengths, strict=True)]  # fmt: skip
    assert texts == [distinct.names.letters[s : s + n].tolist() for s, n in
                     zip(distinct.names.starts[chosen], distinct.names.lengths[chosen], strict=True)]  # fmt: skip
    for i in range(1, len(texts)):
        before, name = texts[i - 1], texts[i]
        common = next((j for j in range(min(len(before), len(name))) if before[j] != name[j]),
                      min(len(before), len(name)))  # fmt: skip
        group_start = i in set(kept.group_starts.tolist())
        assert kept.lcp[i] == (0 if group_start else common)
    groups = [int(np.searchsorted(chosen, start)) for start in distinct.group_starts]
    assert kept.group_starts.tolist() == sorted({g for g in groups if g < len(chosen)})


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 30), st.integers(1, 200), st.integers(1, 4), st.sampled_from([",", ";", "\t"]), st.data())
def test_fields_formatted_once_per_name_are_the_per_row_bytes(distinct, rows, k, delimiter, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    log_probs = np.log(rng.dirichlet(np.ones(len(LABELS)), size=distinct)).astype(np.float32)
    inverse = rng.integers(-1, distinct, size=rows)
    shared = shared_prediction_fields(log_probs, inverse, LABELS, min(k, len(LABELS)), delimiter)
    per_row = prediction_fields(scatter_rows(log_probs, inverse), LABELS, min(k, len(LABELS)), None, delimiter)
    assert shared[0].tobytes() == per_row[0].tobytes()
    np.testing.assert_array_equal(shared[1], per_row[1])


def test_the_cache_gives_what_the_model_gives_and_turns_itself_off(tiny_model_dir):
    runtime = open_runtime("onnx", tiny_model_dir)
    cache = LogProbCache(len(runtime.alphabet), len(runtime.labels))
    first = encode_ragged(["Smith", "Kim", "Abandonato", "", "Nowak"], runtime.alphabet)
    second = encode_ragged(["Kim", "Smith", "Li", "Smith", "Abcdefghijklmnop"], runtime.alphabet)
    chunk_predictions(runtime, first, 512, cache=cache)
    cached = chunk_predictions(runtime, second, 512, cache=cache).rows()
    np.testing.assert_array_equal(cached, chunk_predictions(runtime, second, 512).rows())
    assert cache.hits == 2 and cache.lookups == 4 + 3  # names of over 10 letters are never looked up
    unseen = encode_ragged([f"Name{chr(97 + i)}{chr(97 + j)}" for i in range(26) for j in range(26)], runtime.alphabet)
    chunk_predictions(runtime, unseen, 512, cache=cache)
    assert not cache.enabled  # no name of that chunk was cached: the run stops looking


def test_any_chunking_and_the_cache_give_the_same_bytes(tiny_model_dir, tmp_path):
    """Names repeated across chunks come from the cache in every chunk after the first; chunks run two at a
    time: the output is the single-chunk output, byte for byte, with --top-k 1 and 3."""
    rng = np.random.default_rng(4)
    pool = ["Smith", "Kim", "Nowak", "Łukasz", "", "O'Neill", "Abandonato", "Li", "Weiß", "12", "Nguyễn"]
    names = [pool[i] for i in rng.integers(len(pool), size=3000)] + [f"Unique{i}" for i in range(200)]
    path = tmp_path / "names.csv"
    path.write_text("id,name\n" + "".join(f"{i},{name}\n" for i, name in enumerate(names)))
    for top_k in ("1", "3"):
        outputs = []
        for chunk_rows in ("100000", "97", "5"):
            args = ["classify", str(path), "--model-dir", str(tiny_model_dir), "--chunk-rows", chunk_rows]
            result = CliRunner().invoke(main, [*args, "--top-k", top_k, "--quiet"])
            assert result.exit_code == 0, result.output
            outputs.append(result.stdout_bytes)
        assert outputs[1] == outputs[0] and outputs[2] == outputs[0]


@pytest.mark.parametrize("chunk_rows", ["2", "50"])
def test_the_first_fault_in_the_input_is_reported_whatever_runs_first(tiny_model_dir, tmp_path, chunk_rows):
    """A record wider than the header early on and an unclosed quote at the end: chunks run ahead of the one at
    fault, and the reader reaches the end first, but the error is the earliest line's."""
    rows = "".join(f"{i},Smith\n" for i in range(200))
    path = tmp_path / "bad.csv"
    path.write_text("id,name\n1,Kim\n2,Li,extra\n" + rows + '3,"never closed\n')
    result = CliRunner().invoke(main, ["classify", str(path), "--model-dir", str(tiny_model_dir), "--chunk-rows",
                                       chunk_rows])  # fmt: skip
    assert result.exit_code == 1 and "line 3 has 3 fields, the header has 2" in result.output


def test_a_utf8_fault_says_mixed_encodings_only_after_utf8_letters(tiny_model_dir, tmp_path):
    """Chunks are checked for UTF-8 in input order: a later chunk's letters do not make an earlier fault a
    mixed-encodings one."""
    path = tmp_path / "latin.csv"
    path.write_bytes(b"name\nSmith\nM\xfcller\n" + b"Kim\n" * 50 + "Łukasz\n".encode() * 50)
    result = CliRunner().invoke(main, ["classify", str(path), "--model-dir", str(tiny_model_dir), "--chunk-rows", "2"])
    assert result.exit_code == 1 and "line 3 is not valid utf-8; pass --encoding with the encoding" in result.output
