"""Prefix-shared evaluation: tries against a plain Python trie, and per-name parity with eager PyTorch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnexport.bench.synthetic import ngram_names
from rnnexport.export.artifacts import export_artifacts
from rnnexport.export.manifest import artifact_metadata
from rnnexport.export.onnx_step import build_head_model, build_step_model
from rnnexport.model.checkpoint import load_checkpoint
from rnnexport.runtimes.prefix import MIN_ROWS, build_schedule, distinct_names, run_schedule
from rnnexport.runtimes.registry import DEFAULT_RUNTIMES, open_reference, open_runtime
from rnnexport.text.alphabet import ALPHABET
from rnnexport.text.encode import RaggedNames, encode_ragged
from rnnexport.verification.verify import dataset_names, generated_names, run_batched

from .conftest import _real_names_dir
from .helpers import assert_parity

BLOCK_SIZES = (1, 7, 8192)


def ragged(names: list[list[int]]) -> RaggedNames:
    letters = np.array([letter for name in names for letter in name], dtype=np.int64)
    lengths = np.array([len(name) for name in names], dtype=np.int64)
    return RaggedNames(letters=letters, lengths=lengths, lost=np.zeros(len(names), dtype=np.int64))


def reference_blocks(names: list[list[int]], block_size: int) -> list[list[tuple[int, ...]]]:
    """The sorted distinct names cut into blocks, by plain Python."""
    distinct = sorted({tuple(name) for name in names if name})
    return [distinct[start : start + block_size] for start in range(0, len(distinct), block_size)]


def schedule_prefixes(levels) -> list[list[tuple[int, ...]]]:
    """Each level's node prefixes, rebuilt from parents and letters (padding rows dropped)."""
    prefixes: list[list[tuple[int, ...]]] = [[()]]
    for level in levels:
        above = prefixes[-1]
        nodes = [above[parent] + (letter,) for parent, letter in zip(level.parent, level.letter, strict=True)]
        assert nodes[level.n_nodes :] == [nodes[level.n_nodes - 1]] * (len(nodes) - level.n_nodes)  # padding
        assert len(nodes) == max(level.n_nodes, MIN_ROWS)
        prefixes.append(nodes[: level.n_nodes])
    return prefixes[1:]


def check_schedule(names: list[list[int]], block_size: int) -> None:
    schedule = build_schedule(ragged(names), block_size)
    expected_blocks = reference_blocks(names, block_size)
    assert len(schedule.blocks) == len(expected_blocks)
    distinct = [tuple(name) for block in expected_blocks for name in block]
    for block, expected in zip(schedule.blocks, expected_blocks, strict=True):
        assert list(distinct[block.first : block.first + block.n_names]) == expected
        prefixes = schedule_prefixes(block.levels)
        # Level t holds each distinct prefix of length t of the block's names once, in sorted order.
        for depth, level_prefixes in enumerate(prefixes, start=1):
            assert level_prefixes == sorted({name[:depth] for name in expected if len(name) >= depth})
        assert len(prefixes) == max(map(len, expected))
        read = {}
        for level, level_prefixes in zip(block.levels, prefixes, strict=True):
            for node, name in zip(level.end_node, level.end_name, strict=True):
                read[int(name)] = level_prefixes[node]
        assert read == dict(enumerate(expected))  # every name read once, at its own last node
    for row, name in enumerate(names):
        inverse = schedule.distinct.inverse[row]
        assert (distinct[inverse] == tuple(name)) if name else inverse == -1


@settings(max_examples=300, deadline=None)
@given(
    alphabet_size=st.integers(1, 4),
    data=st.data(),
    block_size=st.integers(1, 9),
)
def test_tries_match_a_python_trie(alphabet_size, data, block_size):
    letter = st.integers(0, alphabet_size - 1).map(lambda i: [0, 5, 31, 56][i])
    names = data.draw(st.lists(st.lists(letter, max_size=14), max_size=40))
    check_schedule(names, block_size)


@pytest.mark.parametrize("block_size", [1, 3, 8192])
def test_long_names_share_prefixes_across_key_words(block_size):
    """Names past one key word (10 letters) and past the sort key (60) still sort, dedup and share exactly."""
    rng = np.random.default_rng(1)
    stems = [list(rng.integers(0, 3, size=n)) for n in (9, 10, 11, 59, 60, 61, 75)]
    names = [stem + list(rng.integers(0, 3, size=rng.integers(0, 4))) for stem in stems for _ in range(6)]
    names += [*names[:10], [], stems[3][:10], stems[6][:61]]
    check_schedule([[int(letter) for letter in name] for name in names], block_size)


def test_dedup_is_exact_and_keeps_every_row():
    encoded = encode_ragged(["Abe", "", "Abel", "Abe", "abe", "   ", "Abel", "A"])
    distinct = distinct_names(encoded)
    # Sorted by letter index (lower case first): 'abe' < 'A' < 'Abe' < 'Abel'.
    assert distinct.inverse.tolist() == [2, -1, 3, 2, 0, -1, 3, 1]
    assert distinct.lcp.tolist() == [0, 0, 1, 3]


def test_prefix_sharing_takes_fewer_steps_on_the_data_set(real_names_dir):
    names, _ = dataset_names(real_names_dir)
    encoded = encode_ragged(names)
    schedule = build_schedule(encoded, block_size=len(names))
    # 17,422 distinct names: 128,331 letters, 59,701 distinct prefixes (the issue measured ~2.15x).
    assert encoded.lengths.sum() / schedule.n_nodes > 2.0


# ---------------------------------------------------------------- parity with eager PyTorch


def heavy_sharing_names(count: int = 3000, seed: int = 0) -> list[str]:
    """Names built from few stems and a 3-letter alphabet: deep shared prefixes, many duplicates. At most 19
    letters, the data set's longest: past that, float32 can drift beyond the parity rule on every runtime and on the
    per-name path too (a property of the model, not of sharing; the trie tests cover longer names)."""
    rng = np.random.default_rng(seed)
    stems = ["", "Mac", "Kowal", "Nakamu", "Van ", "Abcdefgh"]
    tails = ["".join(rng.choice(list("abn"), size=rng.integers(0, 12))) for _ in range(count // 3)]
    names = [stems[rng.integers(len(stems))] + tails[rng.integers(len(tails))] for _ in range(count)]
    return [*names, "", "A", "A" * 19, "A" * 18 + "b"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """The committed checkpoint exported afresh (step/head graphs, TorchScript prefix methods) and verified."""
    checkpoint = Path(__file__).resolve().parents[1] / "exported" / "checkpoint.pt"
    if not checkpoint.is_file():
        pytest.skip("exported/checkpoint.pt is absent (run `make train`)")
    folder = tmp_path_factory.mktemp("prefix-model")
    export_artifacts(checkpoint, folder, names=data_set_or_generated()[::8])
    return folder


@pytest.fixture(scope="module")
def runtimes(model_dir) -> dict:
    return {name: open_runtime(name, model_dir, threads=2) for name in DEFAULT_RUNTIMES}


def test_a_chunk_where_no_name_has_a_letter_gets_no_prediction():
    encoded = encode_ragged(["", "123", "\U0001f600", "   "])
    log_probs = run_schedule(build_schedule(encoded), lambda block: np.zeros((block.n_names, 18), np.float32), 18)
    assert log_probs.shape == (4, 18) and np.isnan(log_probs).all()


def data_set_or_generated() -> list[str]:
    """The data set's names; without it, random names of <= 12 letters (the model was trained on <= 19 letters,
    and random 40-letter strings can drift past the parity rule in float32 on every runtime, per name too)."""
    folder = _real_names_dir()
    return dataset_names(folder)[0] if folder else [name for name in generated_names(6000) if len(name) <= 12]


def bench_like_names(kind: str, count: int = 4000) -> list[str]:
    """Small versions of the bench's workloads: W1 samples the data set with repeats, W2 all distinct n-grams."""
    names = data_set_or_generated()
    if kind == "W1":
        return [names[i] for i in np.random.default_rng(0).integers(len(names), size=count)]
    return ngram_names(names, count, seed=1)


NAME_SOURCES = {
    "data set": data_set_or_generated,
    "heavy sharing": heavy_sharing_names,
    "W1-like": lambda: bench_like_names("W1"),
    "W2-like": lambda: bench_like_names("W2"),
}


@pytest.fixture(scope="module")
def reference(model_dir):
    """float64 eager log_probs of each source's names with a letter (the per-name forward, batches of 1024)."""
    runtime = open_reference(model_dir)
    results = {}
    for source, names in NAME_SOURCES.items():
        encoded = encode_ragged(names())
        results[source] = run_batched(runtime, encoded.select(np.flatnonzero(encoded.lengths > 0)), 1024)
    return results


@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["torch", "torchscript", "onnx"])
@pytest.mark.parametrize("source", list(NAME_SOURCES))
def test_prefix_shared_log_probs_match_the_float64_reference(runtimes, reference, runtime, source):
    encoded = encode_ragged(NAME_SOURCES[source]())
    valid = encoded.lengths > 0
    engine = runtimes[runtime].prefix_engine()
    for block_size in BLOCK_SIZES:
        log_probs = run_schedule(build_schedule(encoded, block_size), engine.block_log_probs, 18, 2)
        assert np.isnan(log_probs[~valid]).all()
        names = [name for name, has_letter in zip(NAME_SOURCES[source](), valid, strict=True) if has_letter]
        assert_parity(reference[source], log_probs[valid], names, f"{runtime} prefix-shared, block {block_size}")


def test_the_reference_runtime_and_the_cell_have_no_prefix_engine(model_dir):
    """onnx-cell runs the cell graph name by name: prefix sharing would run the step and head graphs instead."""
    assert open_reference(model_dir).prefix_engine() is None
    assert open_runtime("onnx-cell", model_dir).prefix_engine() is None


# ---------------------------------------------------------------- the step graph's contract


def test_step_and_head_graphs_declare_their_contract(model_dir):
    checkpoint = load_checkpoint(model_dir / "checkpoint.pt")
    weights = {name: tensor.numpy() for name, tensor in checkpoint["state_dict"].items()}
    metadata = artifact_metadata(checkpoint)
    step, head = build_step_model(weights, metadata), build_head_model(weights, metadata)

    def signature(values):
        return [(v.name, [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]) for v in values]

    assert signature(step.graph.input) == [("hidden", ["parents", 128]), ("parent", ["nodes"]), ("letter", ["nodes"])]
    assert signature(step.graph.output) == [("hidden_next", ["nodes", 128])]
    assert signature(head.graph.input) == [("hidden", ["batch", 128])]
    assert signature(head.graph.output) == [("log_probs", ["batch", 18])]
    for model in (step, head):
        assert (model.ir_version, model.opset_import[0].version) == (8, 17)
        props = {prop.key: prop.value for prop in model.metadata_props}
        assert props == metadata and props["alphabet"] == ALPHABET


def test_the_onnx_path_never_imports_torch():
    code = (
        "import sys, rnnexport.runtimes.prefix, rnnexport.runtimes.prefix_onnx, rnnexport.bench.synthetic, "
        "rnnexport.classify.pipeline, rnnexport.classify.local_engine, rnnexport.classify.arrow_stages, "
        "rnnexport.classify.arrow_inputs; "
        "sys.exit('torch' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# ---------------------------------------------------------------- the W2 generator


def test_ngram_names_are_distinct_plausible_and_seeded():
    seed_names = data_set_or_generated()
    names = ngram_names(seed_names, 5000, seed=3)
    assert len(names) == len(set(names)) == 5000
    assert all(name and set(name) <= set(ALPHABET) for name in names)
    assert names == ngram_names(seed_names, 5000, seed=3)
    share = np.bincount([len(name) for name in names], minlength=41)[:41] / len(names)
    expected = np.bincount([len(name) for name in seed_names], minlength=41)[:41] / len(seed_names)
    assert 0.5 * np.abs(share - expected).sum() < 0.1  # total variation distance of the length distributions


# ---------------------------------------------------------------- classify's default path


@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["onnx", "torchscript"])
def test_classify_shares_prefixes_by_default_and_agrees_with_the_per_name_path(model_dir, tmp_path, runtime):
    """The installed CLI on a W4-like file (6 columns, CRLF, quoted commas, the name 3rd): --check passes with
    prefix sharing, and each run's --check holds every row to the parity rule."""
    from rnnexport.bench.classify import workload_csv

    names = [*bench_like_names("W1", 3000), "", "12", "Abcdefghijklmnopqrs"]
    source, column = workload_csv("W4", names, 6000, tmp_path)
    executable = Path(sys.executable).parent / "rnnexport"
    outputs = {}
    for flag in ("--prefix-sharing", "--no-prefix-sharing"):
        outputs[flag] = tmp_path / f"out{flag}.csv"
        args = [str(executable), "classify", str(source), "-o", str(outputs[flag]), "--runtime", runtime,
                "--model-dir", str(model_dir), "--column", column, "--check", "--quiet", flag]  # fmt: skip
        result = subprocess.run(args, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        assert "ok" in result.stderr.splitlines()[-1]
    shared, per_name = (pd.read_csv(outputs[flag], keep_default_na=False) for flag in outputs)
    assert shared["language"].tolist() == per_name["language"].tolist()
    assert shared.drop(columns="probability").equals(per_name.drop(columns="probability"))
    probabilities = [pd.to_numeric(frame["probability"], errors="coerce") for frame in (shared, per_name)]
    without_letter = encode_ragged(pd.read_csv(source, keep_default_na=False)[column]).lengths == 0
    # Each run passed --check: its every row within the parity rule of float64 (the "ok" above).
    assert without_letter.any() and (probabilities[0].isna() == without_letter).all()


def test_the_onnx_runtime_shares_prefixes_without_importing_torch(model_dir):
    code = (
        "import sys; from rnnexport.runtimes.registry import open_runtime; "
        "from rnnexport.classify.options import ClassifyOptions; "
        "from rnnexport.classify.log_probs import predict_chunk_log_probs; "
        "from rnnexport.text.encode import encode_ragged; "
        f"runtime = open_runtime('onnx', {str(model_dir)!r}); "
        "log_probs = predict_chunk_log_probs(runtime, encode_ragged(['Abe', 'Abel', '']), ClassifyOptions()); "
        "assert runtime.prefix_engine() is not None and log_probs.shape == (3, 18); sys.exit('torch' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
