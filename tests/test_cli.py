from pathlib import Path

import pytest
from click.testing import CliRunner

from rnnexport.cli import main

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
COMMANDS = sorted(main.commands)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_teaches_with_an_example(command):
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output, f"{command} --help shows no example"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_is_in_the_readme(command):
    assert f"rnnexport {command}" in README


def test_version_and_top_level_help():
    assert CliRunner().invoke(main, ["--version"]).output.startswith("rnnexport, version ")
    assert "Typical session" in CliRunner().invoke(main, ["--help"]).output
