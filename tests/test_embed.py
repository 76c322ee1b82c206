"""The C++ (LibTorch) and Node.js (onnxruntime-node) consumers in examples/ agree with eager PyTorch.

Builds examples/cpp (CMake, Release) and installs examples/node (npm ci) once per module, then feeds each
consumer the same 2,000 lines: real or generated names, accented names, empty, emoji-only, digits-only and
ill-formed UTF-8 lines. Model directories: $RNNEXPORT_EMBED_MODEL_DIR, else the repository's exported/; and a
model trained on generated data with 3 labels and a lowercase-only alphabet (conftest.three_label_model_dir), so
the consumers are shown to take labels, alphabet and sizes from the artifacts.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from rnnexport.classify.plan import check_top_k
from rnnexport.errors import OptionError
from tests.helpers import (
    answer_rule_of,
    aoti_export,
    assert_decisions_within_rule,
    assert_top_k_within_rule,
    reference_rows,
    rehash_in_manifest,
    rewrite_aoti_metadata,
    with_prediction_sets,
)

pytestmark = [pytest.mark.embed, pytest.mark.slow]  # builds C++ and Node consumers: > 10 s

REPO = Path(__file__).resolve().parents[1]
CPP_DIR = REPO / "examples" / "cpp"
CPP_BUILD = CPP_DIR / "build"
NODE_DIR = REPO / "examples" / "node"
N_LINES = 2000
TIMEOUT_S = 600

# Lines that must survive folding (or fold to nothing) the same way in every consumer; as UTF-8 bytes.
SPECIAL_LINES = [
    "Dvořák",
    "Müller",
    "O'Néill",
    "Nguyễn",
    "José",
    "Šťastný",
    "",
    "",
    "😀😀",
    "12345",
    "0",
    "   ",  # spaces are letters of the alphabet
    "Ł",  # folds to nothing (no decomposition)
    "Ærøskøbing",
    "Smith\r",  # CRLF line: the \r is stripped
    "\r",
    "🎉Ng🎉",
]
SPECIAL_BYTES = [
    b"Mu\xffller\xc3",  # ill-formed UTF-8: the bad bytes are dropped
    b"\xe2\x82A",  # truncated sequence, then a letter
    b"\xed\xa0\x80",  # an encoded surrogate: nothing
]


def _model_dir() -> Path:
    override = os.environ.get("RNNEXPORT_EMBED_MODEL_DIR")
    model_dir = Path(override).resolve() if override else REPO / "exported"  # consumers run in other folders
    if not (model_dir / "manifest.json").is_file():
        pytest.skip(
            f"no exported model at {model_dir} (no manifest.json): run `rnnexport export` "
            "or set RNNEXPORT_EMBED_MODEL_DIR to a model directory"
        )
    return model_dir


def _require_tools(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not found on PATH; cannot build/run this consumer")


def _run(command: list[str], cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, timeout=TIMEOUT_S, check=False)


def _check(result: subprocess.CompletedProcess, what: str) -> None:
    if result.returncode != 0:
        pytest.fail(
            f"{what} failed (exit {result.returncode}):\n"
            f"{result.stdout.decode(errors='replace')[-4000:]}\n{result.stderr.decode(errors='replace')[-4000:]}"
        )


@pytest.fixture(scope="module", params=["exported", "three-labels-lowercase"])
def model_dir(request) -> Path:
    if request.param == "three-labels-lowercase":
        return request.getfixturevalue("three_label_model_dir")
    return _model_dir()


@pytest.fixture(scope="module")
def cpp_binary() -> Path:
    _require_tools("cmake")
    if shutil.which("c++") is None and shutil.which("g++") is None:
        pytest.skip("no C++ compiler (c++/g++) on PATH; cannot build examples/cpp")
    import torch

    configure = [
        "cmake",
        "-S",
        str(CPP_DIR),
        "-B",
        str(CPP_BUILD),
        "-DCMAKE_BUILD_TYPE=Release",
        f"-DCMAKE_PREFIX_PATH={torch.utils.cmake_prefix_path}",
    ]
    _check(_run(configure, REPO), "cmake configure of examples/cpp")
    _check(_run(["cmake", "--build", str(CPP_BUILD), "-j2"], REPO), "cmake build of examples/cpp")
    _check(_run([str(CPP_BUILD / "support_selftest")], REPO), "examples/cpp support self-test")
    return CPP_BUILD / "classify_names"


def npm_ci(directory: Path) -> None:
    """Install a Node example's locked dependencies (skips unless node and npm are on PATH)."""
    _require_tools("node", "npm")
    env = {**os.environ, "ONNXRUNTIME_NODE_INSTALL": "skip"}  # the CPU binaries ship inside the package
    command = ["npm", "ci", "--no-audit", "--no-fund", "--prefer-offline"]
    _check(_run(command, directory, env), f"npm ci in {directory.relative_to(REPO)}")


@pytest.fixture(scope="module")
def node_script() -> Path:
    npm_ci(NODE_DIR)
    return NODE_DIR / "classify_names.js"


def assert_top_k_matches_python(names: list[str], entries: list[dict], model_dir: Path) -> None:
    """A JS consumer's answers (``{"folded", "top": [{"label", "probability"}]}`` per name) against Python's fold
    and the float64 reference, by the parity rule (tests.helpers.assert_top_k_within_rule); a name with no letter
    gets an empty ``top``."""
    from rnnexport.text.fold import fold

    labels, reference = reference_rows(model_dir, names)
    for name, entry, expected in zip(names, entries, reference, strict=True):
        assert entry["folded"] == fold(name), name
        shown = [(item["label"], item["probability"]) for item in entry["top"]]
        if expected is None:
            assert shown == [], f"{name!r} has no letter, yet {shown}"
        else:
            assert_top_k_within_rule(shown, expected, labels, repr(name))


CONSUMERS = {
    "cpp": lambda cpp_binary, node_script: [str(cpp_binary)],
    "node": lambda cpp_binary, node_script: ["node", str(node_script)],
    "node-cell": lambda cpp_binary, node_script: ["node", str(node_script), "--cell"],
}


@pytest.fixture
def consumer(request) -> list[str]:
    """The command line of one consumer (builds or installs it on first use)."""
    name = request.param
    cpp = request.getfixturevalue("cpp_binary") if name == "cpp" else None
    node = request.getfixturevalue("node_script") if name.startswith("node") else None
    return CONSUMERS[name](cpp, node)


def _sample_names(count: int) -> list[str]:
    from rnnexport.verification.verify import default_names

    names, _ = default_names()  # the data set's names, else generated name-like names
    rng = np.random.default_rng(0)
    picked = rng.choice(len(names), size=min(count, len(names)), replace=False)
    return [names[i] for i in sorted(picked)]


@pytest.fixture(scope="module")
def input_lines() -> list[bytes]:
    """N_LINES lines of UTF-8 input (without their newline), special lines spread through the sample."""
    special = [line.encode("utf-8") for line in SPECIAL_LINES] + SPECIAL_BYTES
    sample = [name.encode("utf-8") for name in _sample_names(N_LINES - len(special))]
    assert len(sample) + len(special) == N_LINES
    lines = list(sample)
    step = len(lines) // len(special)
    for i, line in enumerate(special):
        lines.insert(i * (step + 1), line)
    return lines


@pytest.fixture(scope="module")
def reference(model_dir, input_lines):
    """Echoed names, and per name the float64 reference log-probs [L] (None for a name that folds to nothing)."""
    echoed = [line[:-1] if line.endswith(b"\r") else line for line in input_lines]
    labels, rows = reference_rows(model_dir, [line.decode("utf-8", errors="ignore") for line in echoed])
    return {"echoed": echoed, "rows": rows, "labels": labels}


def _classify(command: list[str], model_dir: Path, lines: list[bytes], *flags: str) -> list[list[bytes]]:
    stdin = b"\n".join(lines) + b"\n"
    result = subprocess.run(
        [*command, str(model_dir), *flags], input=stdin, capture_output=True, timeout=TIMEOUT_S, check=False
    )
    _check(result, " ".join([*command, *flags]))
    out = result.stdout
    assert out.endswith(b"\n"), "output should end with a newline"
    return [row.split(b"\t") for row in out[:-1].split(b"\n")]


def _assert_matches(rows: list[list[bytes]], reference: dict, k: int) -> None:
    """Each output line: the name echoed, then k (label, probability) pairs held to the parity rule against the
    float64 reference (empty fields for a name that folds to nothing)."""
    assert len(rows) == len(reference["echoed"]), "one output line per input line"
    for i, (fields, name, expected) in enumerate(zip(rows, reference["echoed"], reference["rows"], strict=True)):
        assert fields[0] == name, f"line {i}: name echoed as {fields[0]!r}, expected {name!r}"
        assert len(fields) == 1 + 2 * k, f"line {i} ({name!r}): {len(fields)} fields, expected {1 + 2 * k}"
        if expected is None:
            assert all(field == b"" for field in fields[1:]), f"line {i} ({name!r}) folds to nothing: {fields}"
            continue
        printed = [(fields[1 + 2 * j].decode(), float(fields[2 + 2 * j])) for j in range(k)]
        assert_top_k_within_rule(printed, expected, reference["labels"], f"line {i} ({name!r})")


@pytest.mark.parametrize("consumer", ["cpp", "node", "node-cell"], indirect=True)
def test_top1_matches_python(consumer, model_dir, input_lines, reference):
    rows = _classify(consumer, model_dir, input_lines)
    _assert_matches(rows, reference, k=1)


@pytest.mark.parametrize("consumer", ["cpp", "node", "node-cell"], indirect=True)
def test_top3_small_batches_match_python(consumer, model_dir, input_lines, reference):
    # batch size 7 mixes lengths inside each batch and leaves a short last batch
    rows = _classify(consumer, model_dir, input_lines, "--top-k", "3", "--batch-size", "7")
    _assert_matches(rows, reference, k=3)


@pytest.mark.parametrize("consumer", ["cpp", "node"], indirect=True)
def test_batch_size_one(consumer, model_dir, input_lines, reference):
    lines = input_lines[:200]
    subset = {"echoed": reference["echoed"][:200], "rows": reference["rows"][:200], "labels": reference["labels"]}
    _assert_matches(_classify(consumer, model_dir, lines, "--batch-size", "1"), subset, k=1)


@pytest.fixture(scope="module")
def answers_model_dir(tmp_path_factory) -> Path:
    """The model under test with the prediction-set thresholds `rnnexport export` writes (tests.helpers)."""
    return with_prediction_sets(_model_dir(), tmp_path_factory.mktemp("answers") / "model")


@pytest.fixture(scope="module")
def every_name() -> list[str]:
    """Every distinct name of the data set (generated names without it), then names with no letter."""
    from rnnexport.verification.verify import default_names

    names, _ = default_names()
    return [*names, "😀😀", "", "12345", "   ", "Ł"]


# Each consumer's answer options: (flags, Python's AnswerRule options, the fields after the name).
ANSWER_RUNS = {
    "abstain-and-per-label-sets": (["--min-probability", "0.5", "--coverage", "0.9", "--top-k", "2"], (0.5, 0.9, None)),
    "marginal-sets": (["--coverage", "0.8", "--set-method", "marginal"], (None, 0.8, "marginal")),
    "abstain-only": (["--min-probability", "0.7"], (0.7, None, None)),
}


def assert_answers_match_python(rows: list[list[bytes]], names: list[str], model_dir: Path, flags, options) -> dict:
    """A filter's lines: the top-k held to the parity rule (an abstained name's first language empty), then the set
    (with --coverage) and the status, whose decisions may differ from the float64 reference's only within the
    rule's bound of a threshold (tests.helpers.assert_decisions_within_rule). Returns its report."""
    labels, reference = reference_rows(model_dir, names)
    k = int(flags[flags.index("--top-k") + 1]) if "--top-k" in flags else 1
    has_set = options[1] is not None
    assert all(len(fields) == 1 + 2 * k + has_set + 1 for fields in rows), "name, k pairs, [set], status"
    statuses = [fields[-1].decode() for fields in rows]
    sets = [fields[-2].decode().split("|") if fields[-2] else [] for fields in rows] if has_set else None
    for fields, status, expected, name in zip(rows, statuses, reference, names, strict=True):
        if expected is None:
            continue
        shown = [(fields[1 + 2 * j].decode(), float(fields[2 + 2 * j])) for j in range(k)]
        assert (shown[0][0] == "") == (status == "below_min_probability"), (name, fields)
        top = labels[int(expected.argmax())]
        assert_top_k_within_rule([(shown[0][0] or top, shown[0][1]), *shown[1:]], expected, labels, repr(name))
    rule = answer_rule_of(model_dir, labels, *options)
    return assert_decisions_within_rule(reference, statuses, sets, rule, labels, " ".join(flags))


@pytest.mark.parametrize("run", list(ANSWER_RUNS))
@pytest.mark.parametrize("consumer", ["cpp", "node", "node-cell"], indirect=True)
def test_answers_match_python_on_every_data_set_name(consumer, answers_model_dir, every_name, run):
    """Abstention and prediction sets, thresholds read from manifest.json, on every name of the data set: each
    decision is float64 PyTorch's, but where its log-prob lies within the parity rule's bound of the threshold."""
    flags, options = ANSWER_RUNS[run]
    lines = [name.encode("utf-8") for name in every_name]
    rows = _classify(consumer, answers_model_dir, lines, *flags)
    assert [fields[0] for fields in rows] == lines
    report = assert_answers_match_python(rows, every_name, answers_model_dir, flags, options)
    assert report["status_differences"] + report["set_differences"] <= 5, report  # at a threshold: rare


@pytest.mark.parametrize("consumer", ["cpp", "node"], indirect=True)
@pytest.mark.parametrize(
    "flags, message",
    [
        (["--coverage", "0.955"], "--coverage"),
        (["--coverage", "1"], "--coverage"),
        (["--min-probability", "0"], "--min-probability"),
        (["--min-probability", "x"], "--min-probability"),
        (["--set-method", "marginal"], "give --coverage too"),
        (["--coverage", "0.9", "--set-method", "mondrian"], "--set-method"),
    ],
)
def test_bad_answer_options_are_usage_errors(consumer, answers_model_dir, flags, message):
    result = subprocess.run([*consumer, str(answers_model_dir), *flags], input=b"Smith\n", capture_output=True,
                            timeout=TIMEOUT_S)  # fmt: skip
    assert result.returncode == 2 and result.stdout == b""
    assert message in result.stderr.decode(errors="replace")


@pytest.mark.parametrize("consumer", ["cpp", "node"], indirect=True)
def test_coverage_of_a_model_without_thresholds_says_how_to_get_them(consumer, answers_model_dir, tmp_path):
    model = Path(shutil.copytree(answers_model_dir, tmp_path / "model"))
    manifest = json.loads((model / "manifest.json").read_text())
    del manifest["prediction_sets"]
    (model / "manifest.json").write_text(json.dumps(manifest))
    result = subprocess.run([*consumer, str(model), "--coverage", "0.9"], input=b"Smith\n", capture_output=True,
                            timeout=TIMEOUT_S)  # fmt: skip
    assert result.returncode == 1 and result.stdout == b""
    assert "no prediction_sets" in result.stderr.decode() and "re-export" in result.stderr.decode()
    ok = subprocess.run([*consumer, str(model), "--min-probability", "0.5"], input=b"Smith\n", capture_output=True,
                        timeout=TIMEOUT_S)  # fmt: skip
    assert ok.returncode == 0 and ok.stdout.endswith((b"\tok\n", b"\tbelow_min_probability\n"))


@pytest.mark.parametrize("consumer", ["cpp", "node", "node-cell"], indirect=True)
def test_empty_input_prints_nothing(consumer, model_dir):
    result = subprocess.run([*consumer, str(model_dir)], input=b"", capture_output=True, timeout=TIMEOUT_S)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert result.stdout == b""


def _flip_a_byte(model_dir: Path, target: Path, file_name: str) -> Path:
    shutil.copytree(model_dir, target)
    path = target / file_name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return target


@pytest.mark.parametrize(
    ("consumer", "model_file"),
    [("cpp", "char_rnn.pt"), ("node", "char_rnn.onnx"), ("node-cell", "char_rnn_cell.onnx")],
    indirect=["consumer"],
)
def test_hash_mismatch_is_refused(consumer, model_file, model_dir, tmp_path):
    corrupt = _flip_a_byte(model_dir, tmp_path / "model", model_file)
    result = subprocess.run([*consumer, str(corrupt)], input=b"Smith\n", capture_output=True, timeout=TIMEOUT_S)
    message = result.stderr.decode(errors="replace")
    assert result.returncode != 0
    assert result.stdout == b""
    assert "hash" in message.lower() and model_file in message, message


@pytest.mark.parametrize("consumer", ["cpp", "node"], indirect=True)
def test_missing_model_dir_is_refused(consumer, tmp_path):
    missing = tmp_path / "nothing-here"
    result = subprocess.run([*consumer, str(missing)], input=b"Smith\n", capture_output=True, timeout=TIMEOUT_S)
    assert result.returncode != 0
    assert str(missing) in result.stderr.decode(errors="replace")


@pytest.mark.parametrize("consumer", ["cpp", "node"], indirect=True)
@pytest.mark.parametrize("top_k", ["0", " 3", "3x", "99"])
def test_bad_top_k_is_a_usage_error(consumer, top_k):
    """0, a padded or trailing-garbage number, and more than the model's labels (not clamped: refused with the
    number to use, in `rnnexport predict --top-k 99`'s words)."""
    result = subprocess.run(
        [*consumer, str(_model_dir()), "--top-k", top_k], input=b"Smith\n", capture_output=True, timeout=TIMEOUT_S
    )
    assert result.returncode == 2, result.stdout
    assert result.stdout == b""
    assert "--top-k" in result.stderr.decode(errors="replace")
    if top_k == "99":
        with pytest.raises(OptionError) as python:
            check_top_k(99, json.loads((_model_dir() / "manifest.json").read_text())["labels"])
        assert str(python.value) in result.stderr.decode(errors="replace")


def _one_error_line(result: subprocess.CompletedProcess, program: str) -> str:
    """The stderr of a failed run, checked to be one `program: error: ...` line (no stack, no traceback)."""
    message = result.stderr.decode(errors="replace")
    assert result.returncode == 1, message
    assert message.startswith(f"{program}: error: ") and message.count("\n") == 1, message
    return message


PROGRAMS = {"cpp": "classify_names", "node": "classify_names.js", "node-cell": "classify_names.js"}


@pytest.mark.parametrize("consumer", ["cpp", "node"], indirect=True)
def test_a_full_disk_is_one_error_line(consumer, request):
    with open("/dev/full", "wb") as full:
        result = subprocess.run(
            [*consumer, str(_model_dir())], input=b"Smith\nJones\n", stdout=full, stderr=subprocess.PIPE, timeout=60
        )
    assert "cannot write the output" in _one_error_line(result, PROGRAMS[request.node.callspec.params["consumer"]])


@pytest.mark.parametrize("consumer", ["cpp", "node"], indirect=True)
def test_a_reader_that_goes_away_ends_the_filter_quietly(consumer):
    """`... | head -1`: exit 141 (128 + SIGPIPE, as a shell shows a SIGPIPE death), nothing on stderr."""
    process = subprocess.Popen(
        [*consumer, str(_model_dir())], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        process.stdin.write(b"Smith\n" * 2000)
        process.stdin.flush()
        assert process.stdout.readline().startswith(b"Smith\t")
        process.stdout.close()  # the reader is gone; more output follows
        process.stdin.write(b"Smith\n" * 100_000)
        process.stdin.close()
    except BrokenPipeError:
        pass  # the filter has already ended
    assert process.wait(timeout=120) in (141, -signal.SIGPIPE)
    assert process.stderr.read() == b""


def test_cpp_closed_stdout_is_an_error(cpp_binary):
    result = subprocess.run(
        [str(cpp_binary), str(_model_dir())],
        input=b"Smith\n",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: os.close(1),  # `classify_names MODEL_DIR >&-`
        timeout=60,
    )
    assert "cannot write the output" in _one_error_line(result, "classify_names")


@pytest.mark.parametrize("consumer", ["cpp", "node"], indirect=True)
def test_stdin_that_is_a_directory_is_refused(consumer, tmp_path, request):
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        result = subprocess.run([*consumer, str(_model_dir())], stdin=fd, capture_output=True, timeout=60)
    finally:
        os.close(fd)
    assert result.stdout == b""
    assert "directory" in _one_error_line(result, PROGRAMS[request.node.callspec.params["consumer"]])


@pytest.mark.parametrize("consumer", ["cpp", "node"], indirect=True)
@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("null", "is not a fold table"),
        ({"table": {"0041": 5}}, 'bad entry "0041": 5'),
        ({"table": {"0041": "\u00e9"}}, "0041"),
    ],
)
def test_a_bad_fold_table_is_one_line_naming_file_and_entry(consumer, tmp_path, table, message, request):
    copy = Path(shutil.copytree(_model_dir(), tmp_path / "model"))
    content = json.loads((copy / "fold_table.json").read_text(encoding="utf-8"))
    if isinstance(table, dict):
        content["table"] = {**content["table"], **table["table"]}
    (copy / "fold_table.json").write_text(json.dumps(content) if isinstance(table, dict) else table, encoding="utf-8")
    result = subprocess.run(
        [*consumer, str(copy), "--no-verify-hash"], input=b"Smith\n", capture_output=True, timeout=60
    )
    error = _one_error_line(result, PROGRAMS[request.node.callspec.params["consumer"]])
    assert str(copy / "fold_table.json") in error and message in error, error


def test_cpp_long_line_does_not_pad_the_batch(cpp_binary, tmp_path):
    model_dir = _model_dir()
    """One 20,000-letter line among 255 short names: the long name runs on its own (padding the batch to it
    took 2.75 GB), so the program fits in 1.5 GB of address space, and every line matches eager PyTorch."""
    long_name = b"a" * 20_000
    lines = [long_name, *(b"Smith" for _ in range(255))]
    result = subprocess.run(
        [str(cpp_binary), str(model_dir)],
        input=b"\n".join(lines) + b"\n",
        capture_output=True,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (1500 * 2**20, 1500 * 2**20)),
        timeout=120,
    )
    _check(result, "classify_names on a 20,000-letter line and 255 short ones")
    rows = [row.split(b"\t") for row in result.stdout.splitlines()]
    assert [row[0] for row in rows] == lines
    labels, expected = reference_rows(model_dir, [line.decode() for line in lines[:2]])
    for row, reference in zip(rows[:2], expected, strict=True):
        assert_top_k_within_rule([(row[1].decode(), float(row[2]))], reference, labels, row[0][:20].decode())
    assert all(row[1:] == rows[1][1:] for row in rows[1:])


def test_cpp_model_call_failure_is_one_line(cpp_binary):
    """A 10-million-letter name needs 5 GB of input projections; under a 3 GB address-space limit the model
    call fails, and the TorchScript traceback is reduced to its last line."""
    result = subprocess.run(
        [str(cpp_binary), str(_model_dir())],
        input=b"a" * 10_000_000 + b"\n",
        capture_output=True,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (3000 * 2**20, 3000 * 2**20)),
        timeout=120,
    )
    error = _one_error_line(result, "classify_names")
    assert "the model call failed on 1 name(s) of up to 10000000 letters" in error and "allocate" in error, error


READ_LINES_SCRIPT = """
import { Readable } from 'node:stream';
import { readLines } from './classify_names.js';
const chunk = Buffer.alloc(65536, 0x61);
const chunks = [...Array(400).fill(chunk), Buffer.from('a\\nSmith\\nJo'), Buffer.from('nes')];
let copied = 0;
const concat = Buffer.concat;
Buffer.concat = (list, ...rest) => {
  const joined = concat.call(Buffer, list, ...rest);
  copied += joined.length;
  return joined;
};
const lines = [];
await readLines(Readable.from(chunks), { add: async (line) => lines.push(line.length), flush: async () => {} });
process.stdout.write(JSON.stringify({ lines, copied }));
"""


def test_node_filter_reads_a_long_line_in_linear_time():
    """A 25 MiB line in 400 chunks is joined once (bytes copied ~ its length), not once per chunk (~ 400 / 2 x
    its length, which made a 40 MiB line take 12 s); lines across chunk boundaries are still whole."""
    _require_tools("node")
    result = _run(["node", "--input-type=module", "-e", READ_LINES_SCRIPT], NODE_DIR)
    _check(result, "node readLines")
    outcome = json.loads(result.stdout)
    long_line = 400 * 65536 + 1
    assert outcome["lines"] == [long_line, 5, 5]
    assert outcome["copied"] <= 2 * long_line, outcome


# The fold shared by every JS consumer (examples/node/names.js), checked on its own: no model, no npm.
FOLD_SCRIPT = """
import fs from 'node:fs';
import { Folder } from './names.js';
const text = fs.readFileSync(process.argv[1], 'utf8');
const folder = Folder.fromJson(text, JSON.parse(text).alphabet, process.argv[1]);
const lines = JSON.parse(fs.readFileSync(0, 'utf8'));
const utf8 = new TextEncoder();
const out = lines.map((line) => [folder.fold(line), folder.foldUtf8(utf8.encode(line))]);
process.stdout.write(JSON.stringify(out));
"""


def _script_of(code_point: int) -> str:
    """The first word of a code point's Unicode name (LATIN, CYRILLIC, CJK, HANGUL, ...): its script, roughly."""
    return unicodedata.name(chr(code_point), "UNNAMED").split()[0]


ABSENT_SAMPLE = 300
ASTRAL_LINES = ["\U0001d400\U0001d41a", "\U00020000", "\U0001f600", "\U0010ffff", "\U000e0041"]


def _fold_sample(table: dict[str, str], max_code_point: int) -> list[str]:
    """One code point of every 16-code-point row the table touches (so every Unicode block and script in it),
    two more per script (the first word of the character's name), code points the table leaves out from every
    plane, then runs of 8 of those joined into one line. Shared by the C++ and the Node fold tests."""
    rng = np.random.default_rng(0)
    code_points = sorted(int(key, 16) for key in table)
    groups: dict[object, list[int]] = {}
    for code_point in code_points:
        groups.setdefault(code_point >> 4, []).append(code_point)
        groups.setdefault(_script_of(code_point), []).append(code_point)
    picked = {
        int(rng.choice(members)) for key, members in groups.items() for _ in range(1 if isinstance(key, int) else 2)
    }
    present = set(code_points)
    candidates = rng.integers(0x80, 0x110000, size=4 * ABSENT_SAMPLE)
    absent = [int(c) for c in candidates if int(c) not in present and not 0xD800 <= c <= 0xDFFF][:ABSENT_SAMPLE]
    singles = [chr(c) for c in sorted(picked) + absent]
    joined = ["".join(singles[i : i + 8]) for i in range(0, len(singles), 8)]
    assert max(picked) <= max_code_point
    return singles + joined + ASTRAL_LINES


def test_node_fold_matches_python_per_script(model_dir):
    """examples/node/names.js folds like rnnexport.text.fold on code points of every script in fold_table.json,
    from JS strings (the page, the service) and from UTF-8 bytes (the filter)."""
    _require_tools("node")
    from rnnexport.text.fold import fold

    table_path = model_dir / "fold_table.json"
    content = json.loads(table_path.read_text(encoding="utf-8"))
    keys, alphabet = sorted(int(key, 16) for key in content["table"]), content["alphabet"]
    lines = _fold_sample(content["table"], int(content["max_code_point"], 16))
    lines += [line.rstrip("\r") for line in SPECIAL_LINES]
    result = subprocess.run(
        ["node", "--input-type=module", "-e", FOLD_SCRIPT, str(table_path)],
        input=json.dumps(lines).encode(),
        cwd=NODE_DIR,
        capture_output=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    _check(result, "node fold of the per-script sample")
    folded = json.loads(result.stdout)
    assert len(folded) == len(lines)
    scripts = {_script_of(ord(line)) for line in lines if len(line) == 1 and ord(line) in set(keys)}
    assert len(scripts) >= len({_script_of(cp) for cp in keys}), "every script of the table is sampled"
    mismatches = [
        (line, [f"U+{ord(c):04X}" for c in line], fold(line, alphabet), js)
        for line, js in zip(lines, folded, strict=True)
        if js != [fold(line, alphabet), fold(line, alphabet)]
    ]
    assert not mismatches, f"{len(mismatches)} of {len(lines)} lines fold differently, e.g. {mismatches[:5]}"


ENCODE_SCRIPT = """
import { encodeBatch } from './names.js';
const outcome = (names) => {
  try {
    const { indices, lengths, steps, batch } = encodeBatch(names, 57);
    return { indices: Array.from(indices, Number), lengths: Array.from(lengths, Number), steps, batch };
  } catch (error) {
    return { error: `${error.constructor.name}: ${error.message}` };
  }
};
process.stdout.write(JSON.stringify([[[0, 1, 2], [3]], [[1], []], [], [[57]], [[-1]]].map(outcome)));
"""


def test_node_encode_batch_is_time_major_and_refuses_what_the_model_must_not_see():
    _require_tools("node")
    result = _run(["node", "--input-type=module", "-e", ENCODE_SCRIPT], NODE_DIR)
    _check(result, "node encodeBatch")
    good, empty_name, empty_batch, too_high, negative = json.loads(result.stdout)
    assert good == {"indices": [0, 3, 1, 0, 2, 0], "lengths": [3, 1], "steps": 3, "batch": 2}  # [T, B], 0 padding
    assert empty_name["error"].startswith("InputError: name 1 of the batch has no letter")
    assert empty_batch["error"] == "InputError: a batch needs at least one name"
    assert "outside [0, 57)" in too_high["error"] and "outside [0, 57)" in negative["error"]


# The C++ fold against Python's (the fold contract of issue 12): fold(name) is the concatenation, over the name's
# code points, of fold_table.json's value for each (absent: nothing), whatever the table holds.


@pytest.fixture(scope="module")
def fold_binary(cpp_binary) -> Path:
    """examples/cpp's fold_names: the FoldTable classify_names uses, without LibTorch (built with it)."""
    return cpp_binary.parent / "fold_names"


def _fold_with(binary: Path, model_dir: Path, lines: list[bytes]) -> list[bytes]:
    result = subprocess.run(
        [str(binary), str(model_dir)], input=b"\n".join(lines) + b"\n", capture_output=True, timeout=TIMEOUT_S
    )
    _check(result, "fold_names")
    return result.stdout.split(b"\n")[:-1]


def test_cpp_fold_matches_python_on_every_script(fold_binary, model_dir):
    from rnnexport.text.fold import fold

    content = json.loads((model_dir / "fold_table.json").read_text(encoding="utf-8"))
    texts = _fold_sample(content["table"], int(content["max_code_point"], 16))
    lines = [text.encode("utf-8") for text in texts + SPECIAL_LINES] + SPECIAL_BYTES
    folded = _fold_with(fold_binary, model_dir, lines)
    assert len(folded) == len(lines), "one output line per input line"
    alphabet = content["alphabet"]
    expected = [fold(line.decode("utf-8", errors="ignore").removesuffix("\r"), alphabet).encode() for line in lines]
    wrong = [(line, got, want) for line, got, want in zip(lines, folded, expected, strict=True) if got != want]
    assert not wrong, f"{len(wrong)} of {len(lines)} lines fold differently in C++, e.g. {wrong[:5]}"


def test_cpp_follows_a_general_fold_table(cpp_binary, fold_binary, model_dir, tmp_path):
    """Multi-letter values and astral code points, as the new table will have, through fold_names and
    classify_names (probabilities of the contract-folded names from eager PyTorch)."""
    general = Path(shutil.copytree(model_dir, tmp_path / "model"))
    content = json.loads((general / "fold_table.json").read_text(encoding="utf-8"))
    extra = {"00DF": "ss", "674E": "Li", "FF2D": "M", "1D400": "A", "1F600": "Smile", "10FFFF": "Z"}
    alphabet = content["alphabet"]  # a lowercase-only model's table holds lowercase values
    extra = {key: value if set(value) <= set(alphabet) else value.lower() for key, value in extra.items()}
    content["table"] = {**content["table"], **extra}
    content["max_code_point"] = "10FFFF"
    (general / "fold_table.json").write_text(json.dumps(content), encoding="utf-8")
    rehash_in_manifest(general, "fold_table.json")
    names = ["Stra\u00dfe", "\u674e", "\uff2d\u00fcller", "\U0001d400\U0001f600", "x\U0010ffff", "\U0001f601"]
    table = content["table"]
    folded = ["".join(table.get(f"{ord(c):04X}", "") for c in name) for name in names]
    lines = [name.encode("utf-8") for name in names]
    assert _fold_with(fold_binary, general, lines) == [text.encode() for text in folded]
    labels, rows = reference_rows(general, folded)
    reference = {"echoed": lines, "rows": rows, "labels": labels}
    _assert_matches(_classify([str(cpp_binary)], general, lines, "--top-k", "2"), reference, k=2)


# classify_names_aoti: the same program over char_rnn_aoti.pt2 (AOTIModelPackageLoader). The package is compiled
# for this CPU and torch, so it is not committed: each model's checkpoint is exported with --aoti into build/aoti/
# once (tests.helpers.aoti_export, cached like the consumer environments).
AOTI_BENCH = REPO / "build" / "embed-aoti-bench.json"
AOTI_RATIO_LIMIT = 1.5  # the AOTInductor consumer's model time per name at most 1.5x the TorchScript consumer's


@pytest.fixture(scope="module")
def cpp_aoti_binary(cpp_binary) -> Path:
    return cpp_binary.parent / "classify_names_aoti"  # built with classify_names


@pytest.fixture(scope="module")
def aoti_model_dir(model_dir) -> Path:
    return aoti_export(model_dir)


def test_aoti_top1_matches_python(cpp_aoti_binary, aoti_model_dir, input_lines, reference):
    _assert_matches(_classify([str(cpp_aoti_binary)], aoti_model_dir, input_lines), reference, k=1)


def test_aoti_top3_small_batches_and_batch_size_one_match_python(cpp_aoti_binary, aoti_model_dir, input_lines,
                                                                 reference):  # fmt: skip
    rows = _classify([str(cpp_aoti_binary)], aoti_model_dir, input_lines, "--top-k", "3", "--batch-size", "7")
    _assert_matches(rows, reference, k=3)
    subset = {"echoed": reference["echoed"][:200], "rows": reference["rows"][:200], "labels": reference["labels"]}
    rows = _classify([str(cpp_aoti_binary)], aoti_model_dir, input_lines[:200], "--batch-size", "1")
    _assert_matches(rows, subset, k=1)


def test_aoti_empty_input_and_a_flipped_byte(cpp_aoti_binary, aoti_model_dir, tmp_path):
    result = subprocess.run([str(cpp_aoti_binary), str(aoti_model_dir)], input=b"", capture_output=True, timeout=60)
    assert result.returncode == 0 and result.stdout == b"", result.stderr
    corrupt = _flip_a_byte(aoti_model_dir, tmp_path / "model", "char_rnn_aoti.pt2")
    result = subprocess.run([str(cpp_aoti_binary), str(corrupt)], input=b"Smith\n", capture_output=True, timeout=60)
    message = _one_error_line(result, "classify_names_aoti")
    assert "hash" in message.lower() and "char_rnn_aoti.pt2" in message, message


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"rnnexport_torch_version": "2.12.0"}, "compiled by torch 2.12.0 for "),
        ({"rnnexport_machine": "riscv64"}, "but this machine is "),
        ({"rnnexport_cpu_flags": "fma an_instruction_set_of_the_future"}, "this CPU lacks an_instruction_set_of_the"),
    ],
)
def test_aoti_package_for_another_torch_or_cpu_is_one_line(cpp_aoti_binary, aoti_model_dir, tmp_path, changes,
                                                           message):  # fmt: skip
    """Checked from the package's metadata before its code is loaded (a mismatched .so would fail to load or stop
    on an illegal instruction)."""
    copy = Path(shutil.copytree(aoti_model_dir, tmp_path / "model"))
    rewrite_aoti_metadata(copy / "char_rnn_aoti.pt2", **changes)
    rehash_in_manifest(copy, "char_rnn_aoti.pt2")
    result = subprocess.run([str(cpp_aoti_binary), str(copy)], input=b"Smith\n", capture_output=True, timeout=60)
    error = _one_error_line(result, "classify_names_aoti")
    assert message in error and "rebuild it on this machine with `rnnexport export --aoti`" in error, error
    assert result.stdout == b""


def _bench(binary: Path, model_dir: Path, stdin: bytes) -> tuple[list[list[bytes]], dict[str, float]]:
    result = subprocess.run([str(binary), str(model_dir), "--bench", "--batch-size", "256"], input=stdin,
                            capture_output=True, timeout=TIMEOUT_S)  # fmt: skip
    _check(result, f"{binary.name} --bench")
    fields = dict(item.split("=") for item in result.stderr.decode().split(":", 1)[1].split())
    return [row.split(b"\t") for row in result.stdout[:-1].split(b"\n")], {k: float(v) for k, v in fields.items()}


def test_aoti_and_torchscript_on_every_data_set_name_side_by_side(cpp_binary, cpp_aoti_binary, real_names_dir):
    """Every distinct data-set name through both C++ consumers (batch 256, 3 interleaved runs each): both hold to
    the parity rule with 100% top-1, and the AOTInductor consumer's model time per name is within 1.5x of the
    TorchScript consumer's (medians; written to build/embed-aoti-bench.json)."""
    from rnnexport.verification.verify import dataset_names

    model_dir = _model_dir()
    aoti_dir = aoti_export(model_dir)
    names, _ = dataset_names(real_names_dir)
    lines = [name.encode() for name in names]
    labels, rows = reference_rows(model_dir, names)
    reference = {"echoed": lines, "rows": rows, "labels": labels}
    runs = {"torchscript": [], "aoti": []}
    for _ in range(3):
        for label, binary, folder in (("torchscript", cpp_binary, model_dir), ("aoti", cpp_aoti_binary, aoti_dir)):
            output, timings = _bench(binary, folder, b"\n".join(lines) + b"\n")
            _assert_matches(output, reference, k=1)
            runs[label].append(timings)
    summary = {
        label: {key: float(np.median([run[key] for run in timings])) for key in ("us_per_name", "steady_us_per_name",
                                                                                "load_ms", "first_call_ms")}
        for label, timings in runs.items()
    }  # fmt: skip
    summary["names"] = len(names)
    summary["ratio_us_per_name"] = summary["aoti"]["us_per_name"] / summary["torchscript"]["us_per_name"]
    AOTI_BENCH.parent.mkdir(parents=True, exist_ok=True)
    AOTI_BENCH.write_text(json.dumps(summary, indent=1) + "\n")
    print(f"\nC++ consumers on {len(names)} data-set names, batch 256 (medians of 3): {json.dumps(summary)}")
    assert summary["ratio_us_per_name"] <= AOTI_RATIO_LIMIT, summary
