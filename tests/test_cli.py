import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from rnnexport.cli.app import main

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
CLI_SECTION = README.split("\n## CLI by example\n", 1)[-1].split("\n## ", 1)[0]
COMMANDS = sorted(main.commands)
LINK = re.compile(r"\]\(([^)\s]+)\)")  # markdown [text](target)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_teaches_with_an_example(command):
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output, f"{command} --help shows no example"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_is_in_the_readmes_cli_section(command):
    assert CLI_SECTION != README, "README.md has no '## CLI by example' section"
    assert re.search(rf"^rnnexport {re.escape(command)}(\s|$)", CLI_SECTION, re.MULTILINE), (
        f"README's CLI section has no example line for `rnnexport {command}`"
    )


def _anchors(markdown: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#+ (.+)$", markdown.read_text(encoding="utf-8"), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


@pytest.mark.parametrize("doc", ["README.md", "docs/history.md"])
def test_every_relative_link_resolves(doc):
    source = REPO / doc
    for target in LINK.findall(source.read_text(encoding="utf-8")):
        if "://" in target:
            continue
        path, _, anchor = target.partition("#")
        linked = (source.parent / path).resolve() if path else source
        assert linked.exists(), f"{doc} links to {target}: {linked} does not exist"
        if anchor:
            assert anchor in _anchors(linked), f"{doc} links to {target}: no such heading in {linked.name}"


def test_version_and_top_level_help():
    assert CliRunner().invoke(main, ["--version"]).output.startswith("rnnexport, version ")
    assert "Typical session" in CliRunner().invoke(main, ["--help"]).output


def _broken_predict(*args, **kwargs):
    raise ValueError("a bug\nwith a second line")


def test_an_unexpected_exception_is_one_line_and_debug_shows_the_traceback(monkeypatch, tiny_model_dir):
    monkeypatch.setattr("rnnexport.classify.predict.predict_top_k", _broken_predict)
    args = ["predict", "Smith", "--model-dir", str(tiny_model_dir)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert result.stderr == ("Error: internal error: ValueError: a bug; rerun with --debug for the traceback\n")
    for debug_args, env in ((["--debug"], {}), ([], {"RNNEXPORT_DEBUG": "1"})):
        result = CliRunner(env=env).invoke(main, [*debug_args, *args])
        assert isinstance(result.exception, ValueError)  # re-raised: Python prints the traceback


def test_a_malicious_pickle_checkpoint_is_one_line(tmp_path):
    import os
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'ran'}",))

    (tmp_path / "evil.pt").write_bytes(pickle.dumps(Evil()))
    result = CliRunner().invoke(main, ["evaluate", "--checkpoint", str(tmp_path / "evil.pt")])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "a pickle that would run code on load" in result.stderr
    assert not (tmp_path / "ran").exists()


def test_the_manifest_pin_by_option_or_environment(tiny_model_dir):
    import hashlib

    digest = hashlib.sha256((tiny_model_dir / "manifest.json").read_bytes()).hexdigest()
    args = ["predict", "Smith", "--model-dir", str(tiny_model_dir)]
    assert CliRunner().invoke(main, [*args, "--expect-manifest-sha256", digest.upper()]).exit_code == 0
    assert CliRunner(env={"RNNEXPORT_MANIFEST_SHA256": digest}).invoke(main, args).exit_code == 0
    result = CliRunner(env={"RNNEXPORT_MANIFEST_SHA256": "f" * 64}).invoke(main, args)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "not the pinned ffffffffffff" in result.stderr


def test_a_pinned_folder_with_a_rewritten_manifest_loads_nothing(model_copy, monkeypatch):
    """An attacker who rewrites an artifact and its manifest hash still fails the pin, before any load."""
    import hashlib

    digest = hashlib.sha256((model_copy / "manifest.json").read_bytes()).hexdigest()
    manifest = (model_copy / "manifest.json").read_text()
    (model_copy / "manifest.json").write_text(manifest.replace('"onnx"', '"onnx" '))
    loaded = []
    monkeypatch.setattr("rnnexport.runtimes.registry.open_runtime", lambda *args, **kwargs: loaded.append(args))
    for command in (["predict", "Smith"], ["classify", "-"], ["verify"]):
        result = CliRunner().invoke(
            main, [*command, "--model-dir", str(model_copy), "--expect-manifest-sha256", digest], input="name\nA\n"
        )
        assert result.exit_code == 1 and "not the pinned" in result.stderr, result.output
    assert loaded == []


def test_options_that_would_be_ignored_are_usage_errors(tiny_model_dir, tmp_path):
    (tmp_path / "in.csv").write_text("name\nSmith\n")
    cases = [
        (["classify", "in.csv", "--workers", "2", "--blocksize", "1MB"], "--blocksize and --workers apply only with "
                                                                         "--engine dask"),
        (["classify", "in.csv", "--scheduler", "threads"], "--scheduler applies only with --engine dask"),
        (["classify", "in.csv", "--runtime", "torch", "--onnx-graph", "cell"], "--onnx-graph applies only with "
                                                                               "--runtime onnx"),
        (["evaluate", "--report", "r.json"], "--report applies only with --cv"),
        (["evaluate", "--recipe", "adamw", "--jobs", "1"], "--recipe and --jobs apply only with --cv"),
        (["evaluate", "--cv", "3", "--checkpoint", "c.pt"], "--checkpoint applies only without --cv"),
        (["evaluate", "--hidden-size", "8"], "--hidden-size applies only with --cv"),
        (["classify", "in.csv", "-o", "o.csv", "--engine", "dask", "--scheduler", "tcp://127.0.0.1:8786", "--workers",
          "3"], "--workers sizes a LocalCluster (or the threads scheduler); with --scheduler tcp://127.0.0.1:8786"),
        (["classify", "in.csv", "-o", "o.csv", "--engine", "dask", "--scheduler", "sync", "--workers", "3"],
         "--workers sizes a LocalCluster"),
    ]  # fmt: skip
    for args, message in cases:
        result = CliRunner().invoke(main, [*args, "--model-dir", str(tiny_model_dir)], catch_exceptions=False)
        assert result.exit_code == 2 and f"Error: {message}" in result.output, (args, result.output)
    assert not (tmp_path / "r.json").exists()
