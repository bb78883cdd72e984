"""docs/runbook.md: every `kiosk-sim …` command line in it is one the CLI takes."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from kiosk_sim.cli import build_parser

RUNBOOK = Path(__file__).resolve().parents[1] / "docs" / "runbook.md"


def command_lines() -> list[str]:
    """The `kiosk-sim …` lines of the runbook's shell blocks."""
    lines, inside = [], False
    for line in RUNBOOK.read_text().splitlines():
        if line.startswith("```"):
            inside = not inside
        elif inside and line.strip().startswith("kiosk-sim "):
            lines.append(line.strip())
    return lines


def test_the_runbook_names_the_commands_it_describes() -> None:
    verbs = {" ".join(shlex.split(line)[1:3]) for line in command_lines()}
    assert {"vrs serve", "center serve", "kiosk serve", "vrs add-municipality"} <= verbs
    assert "center revoke-kiosk" in verbs


@pytest.mark.parametrize("line", command_lines())
def test_each_runbook_command_parses(line: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = shlex.split(line)[1:]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"the CLI refuses {line!r}: {capsys.readouterr().err}")
    assert callable(args.func)
