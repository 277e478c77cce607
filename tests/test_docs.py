"""Docs that must stay true to the code."""

from __future__ import annotations

from pathlib import Path

from mfp_sim.firmware.console import COMMANDS
from mfp_sim.firmware.tokens.machine import mermaid

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_architecture_diagram_is_the_machine_table():
    assert mermaid().strip() in (DOCS / "architecture.md").read_text()


def test_every_console_command_is_documented():
    text = (DOCS / "shell.md").read_text()
    for command in COMMANDS:
        assert f"`{command.name}" in text, command.name
