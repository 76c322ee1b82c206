import json
import os
import subprocess
import sys
import zipfile

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnexport.cli.app import main
from rnnexport.model.manifest import sha256_of
from rnnexport.text.fold import fold
from rnnexport.verification.parity import ATOL, RTOL
from tests.helpers import flip_a_byte, rehash_in_manifest, tamper_onnx_weight

ONNX_CONTRACT = r"""
import json, sys
import numpy as np, onnx, onnxruntime as ort
model_dir = sys.argv[1]
out = {}
for name in ("char_rnn.onnx", "char_rnn_cell.onnx"):
    proto = onnx.load(f"{model_dir}/{name}")
    onnx.checker.check_model(proto, full_check=True)
    session = ort.InferenceSession(f"{model_dir}/{name}", providers=["CPUExecutionProvider"])
    shapes = {}
    if name == "char_rnn.onnx":
        for T in (1, 40):
            for B in (1, 1000):
                indices = np.random.default_rng(T * B).integers(0, 57, size=(T, B)).astype(np.int64)
                lengths = np.random.default_rng(B).integers(1, T + 1, size=B).astype(np.int64)
                (log_probs,) = session.run(None, {"indices": indices, "lengths": lengths})
                shapes[f"{T}x{B}"] = list(log_probs.shape)
    else:
        for B in (1, 1000):
            x = np.zeros((B, 57), np.float32); x[:, 3] = 1
            log_probs, h_next = session.run(None, {"x": x, "h": np.zeros((B, 128), np.float32)})
            shapes[str(B)] = [list(log_probs.shape), list(h_next.shape)]
    out[name] = {
        "ir_version": proto.ir_version,
        "inputs": [(i.name, [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim],
                    i.type.tensor_type.elem_type) for i in proto.graph.input],
        "outputs": [(o.name, [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim])
                    for o in proto.graph.output],
        "metadata": session.get_modelmeta().custom_metadata_map,
        "shapes": shapes,
        "external": any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer),
    }
out["torch_imported"] = "torch" in sys.modules
print(json.dumps(out))
"""

# TorchScript is deprecated upstream (torch.export succeeds it); these tests load char_rnn.pt as a consumer would.
JIT_LOAD_DEPRECATED = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")


@pytest.fixture(scope="module")
def onnx_contract(tiny_model_dir):
    result = subprocess.run([sys.executable, "-c", ONNX_CONTRACT, str(tiny_model_dir)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_onnx_contract_needs_no_torch(onnx_contract):
    assert onnx_contract["torch_imported"] is False


def test_sequence_graph_contract(onnx_contract):
    sequence = onnx_contract["char_rnn.onnx"]
    assert sequence["inputs"] == [["indices", ["T", "B"], 7], ["lengths", ["B"], 7]]
    assert sequence["outputs"] == [["log_probs", ["B", 18]]]
    assert sequence["shapes"] == {"1x1": [1, 18], "1x1000": [1000, 18], "40x1": [1, 18], "40x1000": [1000, 18]}


def test_cell_graph_contract(onnx_contract):
    cell = onnx_contract["char_rnn_cell.onnx"]
    assert [(name, shape) for name, shape, _ in cell["inputs"]] == [("x", ["batch", 57]), ("h", ["batch", 128])]
    assert [name for name, _ in cell["outputs"]] == ["log_probs", "h_next"]
    assert cell["shapes"]["1000"] == [[1000, 18], [1000, 128]]


@pytest.mark.parametrize("file_name", ["char_rnn.onnx", "char_rnn_cell.onnx"])
def test_onnx_files_are_self_contained_old_ir_with_metadata(onnx_contract, tiny_model_dir, file_name):
    entry = onnx_contract[file_name]
    assert entry["ir_version"] <= 10
    assert entry["external"] is False
    assert not list(tiny_model_dir.glob("*.onnx.data"))
    metadata = entry["metadata"]
    assert {"alphabet", "labels", "hidden_size", "rnnexport_version"} <= set(metadata)
    assert len(json.loads(metadata["labels"])) == 18 and metadata["hidden_size"] == "128"


def test_torchscript_archive_is_scripted_with_metadata(tiny_model_dir):
    import torch

    from rnnexport.runtimes.torch_runtimes import TorchScriptRuntime

    with zipfile.ZipFile(tiny_model_dir / "char_rnn.pt") as archive:
        metadata_name = next(n for n in archive.namelist() if n.endswith("extra/metadata.json"))
        metadata = json.loads(archive.read(metadata_name))
        code = "".join(archive.read(n).decode() for n in archive.namelist() if n.endswith(".py"))
    assert len(metadata["labels"]) == 18 and metadata["hidden_size"] == 128
    assert "for" in code and "predict_names" in code  # the loop is scripted, not unrolled by tracing
    module = TorchScriptRuntime(tiny_model_dir).module
    for steps, batch in [(1, 1), (40, 3), (5, 1000)]:
        indices = torch.randint(0, 57, (steps, batch))
        lengths = torch.randint(1, steps + 1, (batch,))
        assert module(indices, lengths).shape == (batch, 18)
    by_name = module.predict_names(["Abc", "", "Zz"])
    assert torch.isnan(by_name[1]).all() and not torch.isnan(by_name[0]).any()
    indices = torch.tensor([[0], [1], [2]])
    expected = module(torch.tensor([[26], [1], [2]]), torch.tensor([3]))
    torch.testing.assert_close(by_name[0:1], expected)
    assert module(indices, torch.tensor([3])).shape == (1, 18)


def test_manifest_describes_every_artifact(tiny_model_dir):
    manifest = json.loads((tiny_model_dir / "manifest.json").read_text())
    for file_name, entry in manifest["artifacts"].items():
        assert entry["sha256"] == sha256_of(tiny_model_dir / file_name)
        assert entry["size_bytes"] == (tiny_model_dir / file_name).stat().st_size
    assert manifest["artifacts"]["char_rnn.onnx"]["opset"] == 17
    assert manifest["artifacts"]["char_rnn.onnx"]["inputs"][0] == {
        "name": "indices",
        "dtype": "int64",
        "shape": ["T", "B"],
    }
    assert {"torch", "onnx", "onnxruntime"} == set(manifest["versions"])
    assert manifest["checkpoint_sha256"] == sha256_of(tiny_model_dir / "checkpoint.pt")
    assert manifest["parity"]["passed"] is True and len(manifest["labels"]) == 18


@pytest.mark.parametrize("runtime", ["torchscript", "export", "onnx-cell", "onnx"])
def test_parity_report_per_runtime(tiny_model_dir, runtime):
    parity = json.loads((tiny_model_dir / "parity.json").read_text())
    entry = parity["runtimes"][runtime]
    assert entry["worst_ratio"] <= 1 and entry["top1_agreement"] == 1.0 and entry["passed"]
    assert (parity["atol"], parity["rtol"]) == (ATOL, RTOL)
    assert set(entry["by_batch_size"]) == {"1", "7", "1024"}
    assert max(size["worst_ratio"] for size in entry["by_batch_size"].values()) == entry["worst_ratio"]
    assert len(entry["worst_names"]) == 5 and entry["worst"]["ratio"] == entry["worst_ratio"]
    assert sum(band["values"] for band in entry["by_band"].values()) == entry["values"]
    assert parity["onnx_cell_vs_torchscript_hidden_states"]["worst_ratio"] <= 1


def test_verify_command_passes_on_good_artifacts(model_copy):
    result = CliRunner().invoke(main, ["verify", "--model-dir", str(model_copy), "--runtime", "onnx"])
    assert result.exit_code == 0, result.output
    assert "onnx" in result.output and "pass" in result.output


def test_verify_fails_loudly_on_tampered_weights(model_copy):
    tamper_onnx_weight(model_copy)
    before = (model_copy / "parity.json").read_bytes()
    report = model_copy.parent / "report.json"
    result = CliRunner().invoke(main, ["verify", "--model-dir", str(model_copy), "--report", str(report)])
    assert result.exit_code == 1
    assert "FAIL" in result.output and "parity failed for: onnx:" in result.output
    assert json.loads(report.read_text())["runtimes"]["onnx"]["passed"] is False
    assert (model_copy / "parity.json").read_bytes() == before  # verify never writes the model folder


RUNTIME_OF = {"char_rnn.onnx": "onnx", "char_rnn_cell.onnx": "onnx-cell", "char_rnn.pt": "torchscript",
              "char_rnn.pt2": "export"}  # fmt: skip


@pytest.mark.parametrize("file_name", ["char_rnn.onnx", "char_rnn_cell.onnx", "char_rnn.pt", "char_rnn.pt2"])
def test_wrong_hash_is_refused(model_copy, file_name):
    flip_a_byte(model_copy / file_name)
    runtime = RUNTIME_OF[file_name]
    result = CliRunner().invoke(main, ["verify", "--model-dir", str(model_copy), "--runtime", runtime])
    assert result.exit_code == 1
    assert "does not match manifest.json" in result.output and "--no-verify-hash" in result.output


@pytest.mark.parametrize("file_name", ["char_rnn.onnx", "char_rnn.pt", "char_rnn.pt2"])
def test_truncated_artifact_gives_a_clear_error(model_copy, file_name):
    path = model_copy / file_name
    path.write_bytes(path.read_bytes()[:500])
    rehash_in_manifest(model_copy, file_name)
    runtime = RUNTIME_OF[file_name]
    result = CliRunner().invoke(main, ["verify", "--model-dir", str(model_copy), "--runtime", runtime])
    assert result.exit_code == 1
    assert "corrupt or truncated" in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_export_prints_a_short_summary_and_nothing_else(tiny_model_dir, tmp_path):
    names_csv = tmp_path / "names.csv"
    names_csv.write_text("name\nAbc\nZyx\nO'Neill\n")
    result = subprocess.run(
        [sys.executable, "-m", "rnnexport", "export", "--checkpoint", str(tiny_model_dir / "checkpoint.pt"),
         "--out", str(tmp_path / "out"), "--names", str(names_csv)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    # the summary, the rule, a header, a row per runtime (5 per name, 4 prefix-shared), bands, the hidden states
    assert result.stdout.startswith("exported ") and len(result.stdout.splitlines()) == 14
    files = ["char_rnn.onnx", "char_rnn.pt", "char_rnn.pt2", "char_rnn_cell.onnx", "char_rnn_head.onnx",
             "char_rnn_step.onnx", "checkpoint.pt", "fold_table.json", "manifest.json", "parity.json"]  # fmt: skip
    out = tmp_path / "out"
    (generation,) = [p.name for p in out.iterdir() if p.name.startswith(".rnnexport-")]
    assert sorted(p.name for p in out.iterdir()) == sorted([".rnnexport", generation, *files])
    # each file is a link through the pointer into the one generation (io.generations)
    assert os.readlink(out / ".rnnexport") == generation and sorted(os.listdir(out / generation)) == files
    assert all(os.readlink(out / name) == f".rnnexport/{name}" and (out / name).is_file() for name in files)


@pytest.mark.slow
def test_export_shows_its_progress_on_a_terminal(tiny_model_dir, tmp_path):
    # issue 23: export was silent for a minute or more (61 s at load 1, 187 s at load 6); piped, it still prints
    # nothing on stderr (the test above).
    from tests.helpers import run_in_terminal

    names_csv = tmp_path / "names.csv"
    names_csv.write_text("name\nAbc\nZyx\n")
    status, stdout, stderr = run_in_terminal(
        [sys.executable, "-m", "rnnexport", "export", "--checkpoint", str(tiny_model_dir / "checkpoint.pt"),
         "--out", str(tmp_path / "out"), "--names", str(names_csv)]
    )  # fmt: skip
    assert status == 0 and stdout.startswith("exported "), stderr
    assert "6/6" in stderr and "wrote fold_table.json" in stderr  # the artifacts, then the verification
    assert "29/29" in stderr and "onnx-cell hidden states" in stderr


@pytest.fixture(scope="module")
def fold_table_map(tiny_model_dir):
    content = json.loads((tiny_model_dir / "fold_table.json").read_text())
    return {int(code, 16): folded for code, folded in content["table"].items()}


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=20))
def test_fold_table_reproduces_python_folding(fold_table_map, text):
    assert "".join(fold_table_map.get(ord(ch), "") for ch in text) == fold(text)


@pytest.mark.slow
def test_committed_artifacts_match_manifest_and_parity(committed_model_dir, tmp_path):
    manifest = json.loads((committed_model_dir / "manifest.json").read_text())
    for file_name, entry in manifest["artifacts"].items():
        assert sha256_of(committed_model_dir / file_name) == entry["sha256"], file_name
    report = tmp_path / "parity.json"
    args = ["verify", "--model-dir", str(committed_model_dir), "--runtime", "all", "--report", str(report)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    parity = json.loads(report.read_text())
    assert all(entry["passed"] and entry["worst_ratio"] <= 1 for entry in parity["runtimes"].values())
    assert (parity["atol"], parity["rtol"]) == (ATOL, RTOL)


def test_export_is_byte_reproducible(tiny_model_dir, tmp_path):
    """The same checkpoint, exported twice into different folders, gives identical bytes in every file (each
    folder's generation has a name of its own: io.generations)."""
    from rnnexport.export.artifacts import export_artifacts

    names = ["Abc", "Zyx", "Nguyen"]
    for folder in ("first", "second"):
        export_artifacts(tiny_model_dir / "checkpoint.pt", tmp_path / folder, names=names)
    files = sorted(p.name for p in (tmp_path / "first").iterdir() if p.is_file())
    assert files == sorted(p.name for p in (tmp_path / "second").iterdir() if p.is_file())
    assert "manifest.json" in files
    for file_name in files:
        assert (tmp_path / "first" / file_name).read_bytes() == (tmp_path / "second" / file_name).read_bytes(), (
            file_name
        )
    parity = (tmp_path / "first" / "parity.json").read_text()
    assert str(tmp_path) not in parity and '"seconds"' not in parity


EXPORT_AFTER_DRAWS = """
import sys
from pathlib import Path
import torch
from rnnexport.export.artifacts import export_artifacts
torch.rand(int(sys.argv[3]))  # whatever else the process did with torch's generator before exporting
export_artifacts(Path(sys.argv[1]), Path(sys.argv[2]), names=["Abc", "Zyx"])
"""


@pytest.mark.slow
def test_export_is_byte_reproducible_across_processes(tiny_model_dir, tmp_path):
    """Two processes exporting one checkpoint write the same bytes: torch.jit.script wrote nn.Linear's Final
    constants in an order that followed PYTHONHASHSEED, so char_rnn.pt, and the manifest's hash of it, changed
    from one export to the next (an --expect-manifest-sha256 pin broke on a re-export of the same model)."""
    for folder, draws, hash_seed in (("first", "0", "1"), ("second", "7", "2")):  # seeds 1 and 2: in_features first
        command = [str(tiny_model_dir / "checkpoint.pt"), str(tmp_path / folder), draws]  # or out_features first
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        subprocess.run([sys.executable, "-c", EXPORT_AFTER_DRAWS, *command], check=True, capture_output=True, env=env)
    for name in ("char_rnn.pt", "char_rnn.pt2", "char_rnn.onnx", "manifest.json"):
        assert (tmp_path / "first" / name).read_bytes() == (tmp_path / "second" / name).read_bytes(), name


@JIT_LOAD_DEPRECATED
@pytest.mark.parametrize(
    ("lengths", "message"),
    [([3, 0], "1..T = 1..3"), ([4, 1], "1..T = 1..3"), ([-1, 2], "1..T"), ([3], "1 entries for a batch of 2")],
)
def test_torchscript_forward_refuses_bad_lengths(tiny_model_dir, lengths, message):
    import torch

    module = torch.jit.load(str(tiny_model_dir / "char_rnn.pt"))
    with pytest.raises(torch.jit.Error, match=message):
        module(torch.zeros(3, 2, dtype=torch.long), torch.tensor(lengths))
    with pytest.raises(torch.jit.Error, match="int64"):
        module(torch.zeros(3, 2, dtype=torch.int32), torch.tensor([3, 3]))


@JIT_LOAD_DEPRECATED
def test_torchscript_predict_names_refuses_unfolded_names_and_says_how_to_fold(tiny_model_dir):
    import torch

    from rnnexport.text.fold import fold

    module = torch.jit.load(str(tiny_model_dir / "char_rnn.pt"))
    with pytest.raises(torch.jit.Error, match=r"Dvořák.*outside the alphabet.*rnnexport\.text\.fold.*fold_table"):
        module.predict_names(["Smith", "Dvořák"])
    assert module.predict_names([fold("Dvořák")]).shape == (1, 18)
