"""rnnexport.export.torch_export: char_rnn.pt2 (torch.export, the loop as one while_loop) and char_rnn_aoti.pt2
(AOTInductor), their runtimes, and the refusal of a package compiled for another torch or CPU."""

import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from rnnexport.cli.app import main
from rnnexport.errors import ArtifactError
from rnnexport.model.aoti_target import AotiTarget, check_aoti_target, machine_cpu_flags
from rnnexport.model.manifest import AOTI_FILE, TORCH_EXPORT_FILE
from rnnexport.runtimes.registry import open_runtime
from rnnexport.text.encode import encode_ragged
from rnnexport.verification.verify import name_like_names
from tests.helpers import aoti_export, assert_parity, reference_log_probs, rehash_in_manifest, rewrite_aoti_metadata

# torch.export.load with rnnexport unimportable: the archive must need nothing of ours.
LOAD_WITHOUT_RNNEXPORT = r"""
import json, sys
sys.modules["rnnexport"] = None  # any import of rnnexport now fails
import torch
extra = {"metadata.json": ""}
program = torch.export.load(sys.argv[1], extra_files=extra)
module = program.module()
shapes = {}
for steps, batch in ((1, 1), (2, 1), (40, 3), (5, 1000)):
    indices = torch.randint(0, 57, (steps, batch))
    lengths = torch.randint(1, steps + 1, (batch,))
    shapes[f"{steps}x{batch}"] = list(module(indices, lengths).shape)
refused = {}
for case, (indices, lengths) in {"length 0": ([[1, 2]], [1, 0]), "beyond T": ([[1, 2]], [2, 1]),
                                 "index 57": ([[57]], [1]), "wrong size": ([[1, 2]], [1])}.items():
    try:
        module(torch.tensor(indices), torch.tensor(lengths))
        refused[case] = None
    except Exception as error:
        refused[case] = str(error).splitlines()[0]
inputs = [spec.arg.name for spec in program.graph_signature.input_specs if spec.kind.name == "USER_INPUT"]
loops = sum(node.target is torch.ops.higher_order.while_loop for node in program.graph.nodes)
print(json.dumps({"metadata": json.loads(extra["metadata.json"]), "shapes": shapes, "refused": refused,
                  "inputs": inputs, "while_loops": loops}))
"""


@pytest.fixture(scope="module")
def loaded_without_rnnexport(tiny_model_dir):
    path = tiny_model_dir / TORCH_EXPORT_FILE
    result = subprocess.run([sys.executable, "-c", LOAD_WITHOUT_RNNEXPORT, str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_pt2_loads_with_torch_export_alone_dynamic_in_length_and_batch(loaded_without_rnnexport):
    assert loaded_without_rnnexport["inputs"] == ["indices", "lengths"]
    assert loaded_without_rnnexport["while_loops"] == 1  # one loop node, not T copies of the step
    assert loaded_without_rnnexport["shapes"] == {"1x1": [1, 18], "2x1": [1, 18], "40x3": [3, 18],
                                                  "5x1000": [1000, 18]}  # fmt: skip


def test_pt2_refuses_inputs_outside_its_contract(loaded_without_rnnexport):
    refused = loaded_without_rnnexport["refused"]
    assert "every length must lie in 1..T" in refused["length 0"]
    assert "every length must lie in 1..T" in refused["beyond T"]
    assert "indices must lie in the alphabet" in refused["index 57"]
    assert refused["wrong size"] is not None


def test_pt2_carries_the_models_metadata(loaded_without_rnnexport, tiny_model_dir):
    manifest = json.loads((tiny_model_dir / "manifest.json").read_text())
    metadata = loaded_without_rnnexport["metadata"]
    assert (metadata["alphabet"], metadata["labels"], metadata["fold"]) == (
        manifest["alphabet"], manifest["labels"], manifest["fold"],
    )  # fmt: skip
    entry = manifest["artifacts"][TORCH_EXPORT_FILE]
    assert entry["format"] == "torch.export" and set(entry["programs"]) == {"model", "prefix_step", "prefix_head"}


def test_export_runtime_and_its_prefix_sharing_pass_the_parity_rule(tiny_model_dir):
    parity = json.loads((tiny_model_dir / "parity.json").read_text())
    for name in ("export", "export prefix-shared"):
        assert parity["runtimes"][name]["passed"] and parity["runtimes"][name]["top1_agreement"] == 1.0, name


def test_export_runtime_on_long_names(tiny_model_dir):
    names = name_like_names(300, seed=3, lengths=(1, 64))
    encoded = encode_ragged(names).padded()
    expected = reference_log_probs(tiny_model_dir, encoded.indices, encoded.lengths)
    runtime = open_runtime("export", tiny_model_dir)
    assert_parity(expected, runtime.log_probs(encoded.indices, encoded.lengths), names, "export")


def test_export_runtime_is_cpu_only(tiny_model_dir):
    from rnnexport.errors import RnnExportError

    with pytest.raises(RnnExportError, match="runs on the CPU"):
        open_runtime("export", tiny_model_dir, device="cuda")


# The target check itself, without compiling anything.
TARGET = AotiTarget("2.13.0", "x86_64", "avx512", ("avx512f", "fma"))


@pytest.mark.parametrize(
    ("torch_version", "machine", "flags", "message"),
    [
        ("2.14.1+cpu", "x86_64", {"avx512f", "fma"}, "but this is torch 2.14.1; rebuild it"),
        ("2.13.0", "aarch64", {"avx512f", "fma"}, "but this machine is aarch64; rebuild it"),
        ("2.13.0", "x86_64", {"avx2", "fma"}, "but this CPU lacks avx512f; rebuild it"),
    ],
)
def test_a_mismatched_target_is_one_line(torch_version, machine, flags, message):
    with pytest.raises(ArtifactError, match=message) as error:
        check_aoti_target(TARGET, "m/char_rnn_aoti.pt2", torch_version, machine, flags)
    assert str(error.value).startswith("m/char_rnn_aoti.pt2 was compiled by torch 2.13.0 for x86_64 (avx512)")
    assert "\n" not in str(error.value) and "`rnnexport export --aoti`" in str(error.value)


def test_the_matching_target_passes():
    check_aoti_target(TARGET, "p", "2.13.0+cpu", "x86_64", {"avx512f", "fma", "sse2"})
    assert machine_cpu_flags() is None or len(machine_cpu_flags()) > 0


@pytest.fixture(scope="module")
def aoti_dir(tiny_model_dir):
    return aoti_export(tiny_model_dir)


@pytest.mark.slow
def test_aoti_package_records_its_target_and_passes_the_parity_rule(aoti_dir):
    import torch

    manifest = json.loads((aoti_dir / "manifest.json").read_text())
    compiled_for = manifest["artifacts"][AOTI_FILE]["compiled_for"]
    assert compiled_for["torch_version"] == torch.__version__.split("+")[0]
    assert compiled_for["machine"] and compiled_for["cpu_isa"]
    assert set(compiled_for["cpu_flags"].split()) <= (machine_cpu_flags() or set())
    assert (
        manifest["parity"]["runtimes"]["aoti"]["passed"]
        and manifest["parity"]["runtimes"]["aoti"]["top1_agreement"] == 1
    )
    names = name_like_names(300, seed=5, lengths=(1, 64))
    encoded = encode_ragged(names).padded()
    expected = reference_log_probs(aoti_dir, encoded.indices, encoded.lengths)
    runtime = open_runtime("aoti", aoti_dir)
    assert_parity(expected, runtime.log_probs(encoded.indices, encoded.lengths), names, "aoti")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"rnnexport_torch_version": "2.12.0"}, "compiled by torch 2.12.0 for .*, but this is torch 2.13"),
        ({"rnnexport_cpu_flags": "fma an_instruction_set_of_the_future"}, "this CPU lacks an_instruction_set_of_the"),
    ],
)
def test_a_package_for_another_torch_or_cpu_is_refused_in_one_line(aoti_dir, tmp_path, changes, message):
    import shutil

    copy = shutil.copytree(aoti_dir, tmp_path / "model")
    rewrite_aoti_metadata(copy / AOTI_FILE, **changes)
    rehash_in_manifest(copy, AOTI_FILE)
    with pytest.raises(ArtifactError, match=message):
        open_runtime("aoti", copy)
    result = CliRunner().invoke(main, ["classify", "-", "--runtime", "aoti", "--model-dir", str(copy)], input="Smith\n")
    assert result.exit_code == 1 and result.output.count("\n") == 1 and "Traceback" not in result.output
    assert "rebuild it on this machine with `rnnexport export --aoti`" in result.output


@pytest.mark.slow
def test_an_export_without_aoti_removes_the_earlier_package(aoti_dir, tmp_path):
    import shutil

    from rnnexport.export.artifacts import export_artifacts

    copy = shutil.copytree(aoti_dir, tmp_path / "model")
    export_artifacts(copy / "checkpoint.pt", copy, names=["Abc", "Zyx"])
    assert not (copy / AOTI_FILE).exists()
    assert AOTI_FILE not in json.loads((copy / "manifest.json").read_text())["artifacts"]


def test_aoti_runtime_says_how_to_build_a_missing_package(tiny_model_dir):
    with pytest.raises(ArtifactError, match=f"{AOTI_FILE} not found; build it on this machine with .*--aoti"):
        open_runtime("aoti", tiny_model_dir)


def test_classify_check_runs_the_export_runtime(tiny_model_dir, tmp_path):
    names = tmp_path / "names.csv"
    names.write_text("name\nSmith\nNguyen\nO'Neill\n")
    result = CliRunner().invoke(
        main, ["classify", str(names), "--runtime", "export", "--check", "--model-dir", str(tiny_model_dir),
               "-o", str(tmp_path / "out.csv")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "runtime export" in result.output and "ok" in result.output
    assert len(np.loadtxt(tmp_path / "out.csv", dtype=str, delimiter=",", skiprows=1, usecols=0)) == 3
