import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from rnnexport.cli import main

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
