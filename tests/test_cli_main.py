"""The `audit` app (audit.cli.main registers every command group): every command is there, with
help and an example."""
from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from audit.cli import app

CORE_COMMANDS = {"run", "batch", "estimate", "validate", "new"}
COMMANDS = sorted(typer.main.get_command(app).commands)  # every registered command, present and future


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner, *args):
    return runner.invoke(app, [str(a) for a in args], prog_name="audit")


# --- help ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", COMMANDS)
def test_command_help_shows_an_example(runner, command):
    res = invoke(runner, command, "--help")
    assert res.exit_code == 0
    assert "Example:" in res.stdout and f"audit {command}" in res.stdout.split("Example:", 1)[1]


def test_core_commands_are_registered():
    assert CORE_COMMANDS <= set(COMMANDS)


def test_top_level_help_lists_every_command(runner):
    res = invoke(runner, "--help")
    assert res.exit_code == 0
    for command in COMMANDS:
        assert command in res.stdout
    assert "audit new" in res.stdout  # how to start


def test_top_level_help_shows_an_example(runner):
    assert "Example" in invoke(runner, "--help").stdout
