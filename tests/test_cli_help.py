"""`mfp-sim --help` and each command's `--help`: every option explained, examples at the end."""

from __future__ import annotations

import argparse

import pytest

from mfp_sim.tools.cli import parser


def commands() -> dict[str, argparse.ArgumentParser]:
    top = parser()
    [sub] = [a for a in top._actions if isinstance(a, argparse._SubParsersAction)]
    return {"": top, **sub.choices}


@pytest.mark.parametrize("name", list(commands()))
def test_every_option_has_a_line_of_help(name):
    command = commands()[name]
    silent = [a.dest for a in command._actions if not a.help or a.help == argparse.SUPPRESS]
    assert silent == []


@pytest.mark.parametrize("name", list(commands()))
def test_help_ends_with_examples(name, capsys):
    argv = [name, "--help"] if name else ["--help"]
    with pytest.raises(SystemExit) as exit_:
        parser().parse_args(argv)
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    examples = text[text.index("\nexamples:\n"):]
    assert examples.count("\n  mfp-sim ") >= 2, examples
    assert max(len(line) for line in text.splitlines()) <= 80
