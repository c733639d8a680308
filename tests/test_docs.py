"""The README's command synopsis and the CLI agree: every command and option is in both."""

from __future__ import annotations

import re

import click
import pytest

from indexer.cli import cli

from .conftest import ROOT


def synopsis() -> dict[str, set[str]]:
    """Options per command in the README's ``indexer [--index DIR] COMMAND ...`` block."""
    text = (ROOT / "README.md").read_text()
    block = text.split("## Command line", 1)[1].split("```", 2)[1]
    commands: dict[str, set[str]] = {}
    current = None
    for line in block.splitlines():
        found = re.match(r"indexer (?:\[--index [A-Z_|]+\] )?(\w+)", line.strip())
        if found:
            current = found.group(1)
            commands[current] = set()
        if current:
            commands[current] |= set(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", line)) - {"--index"}
    return commands


def cli_options(command: click.Command) -> list[set[str]]:
    """Each option's names (``{"-o", "--output"}``), help excluded."""
    return [set(param.opts) for param in command.params if isinstance(param, click.Option) and param.name != "help"]


def test_every_command_is_in_the_readme():
    assert set(synopsis()) == set(cli.commands)


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_option_is_in_the_readme_and_every_readme_option_exists(name):
    documented = synopsis()[name]
    options = cli_options(cli.commands[name])
    assert [sorted(names) for names in options if not names & documented] == [], "options missing from the README"
    known = set().union(*options) if options else set()
    assert documented - known == set(), "README options the command does not have"


def test_every_command_and_option_has_help():
    for name, command in cli.commands.items():
        assert command.help, name
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{name} {param.opts}"


def test_the_readme_layout_names_every_module():
    layout = (ROOT / "README.md").read_text().split("## Layout", 1)[1].split("\n## ", 1)[0]
    package = ROOT / "indexer"
    names = [p.name for p in package.iterdir() if p.suffix == ".py" and p.stem not in ("__init__", "__main__")]
    names += [f"{p.name}/" for p in package.iterdir() if p.is_dir() and (p / "__init__.py").exists()]
    for sub in ("sources", "asr", "index"):
        names += [p.name for p in (package / sub).iterdir() if p.suffix == ".py" and p.stem != "__init__"]
    assert [name for name in names if f"`{name}`" not in layout] == []
