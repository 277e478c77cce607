"""Scenario files: mistakes in the file are reported with the line, before anything runs."""

from __future__ import annotations

import pytest

from mfp_sim.tools.scenario import ScenarioError, parse


@pytest.mark.parametrize("text, words", [
    ("state=retrieved\n", ":1: an expectation must follow"),
    ("> clock\n! frobnicate x\n", ":2: unknown bench action"),
    ("> clock\n! approve ONLYCODE\n", ":2: unknown bench action"),
    ("> clock\nkind=~([\n", ":2: bad regular expression"),
    ("> clock\njust words\n", ":2: expected 'key=value'"),
    ("# only a comment\n", "no steps"),
])
def test_bad_scenarios_name_the_line(text, words):
    with pytest.raises(ScenarioError, match=words.replace("(", r"\(").replace("[", r"\[")):
        parse(text, "s.scn")


def test_a_good_scenario_parses_into_steps():
    scenario = parse("> token smtp get\nuser_code=~^[A-Z-]+$\n! approve {user_code} a@b.c\n> clock\nOK\n")
    assert [s.kind for s in scenario.steps] == ["command", "action", "command"]
    assert scenario.steps[0].expects == [(2, "user_code=~^[A-Z-]+$")]
