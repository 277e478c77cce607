"""Scenario files: mistakes in the file are reported with the line, before anything runs."""

from __future__ import annotations

import re

import pytest

from mfp_sim.tools.hil_console import ConsoleReply
from mfp_sim.tools.scenario import ScenarioError, parse
from mfp_sim.tools.scenario.expect import check_reply


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


@pytest.mark.parametrize("text, words", [
    ("## \n> clock\n", ":1: a section line needs a title"),
    ("## one\n## two\n> clock\n", ":1: section 'one' has no steps"),
    ("> clock\n## last\n", ":2: section 'last' has no steps"),
    ("! within soon\n> clock\n", ":1: within: 'soon' is not a number of seconds"),
    ("! within 5\n! reset\n", ":1: '! within' must be followed by a '> command' line"),
    ("> clock\n! within 5\n", ":2: '! within' must be followed"),
    ("> clock\n! fault throttled count\n", ":2: fault: 'count' is not NAME=VALUE"),
    ("> clock\n! approve nowhere\n", "STORE: one of smtp, pop.ifax, pop.emailprint"),
    ("> clock\n! wait-approval smtp never\n", ":2: wait-approval: 'never' is not a number"),
    ("> clock\n! default 1st x\n", ":2: default: '1st' is not a variable name"),
    ("> clock\n! reset now\n", ":2: unknown bench action '! reset now': use reset"),
    ("> clock\n~\n", ":2: '~' needs a regular expression"),
    ("> clock\n~ ([\n", ":2: bad regular expression"),
])
def test_new_lines_are_checked_before_anything_runs(text, words):
    with pytest.raises(ScenarioError, match=re.escape(words)):
        parse(text, "s.scn")


def test_sections_within_and_actions_parse():
    scenario = parse("! reset\n## Get\n> token smtp get\n! approve smtp\n## Send\n! within 20\n"
                     "> job {job}\nstate=sent\n~ ^reason=250\n! fault throttled phases=a,b count=1\n",
                     "dir/x.scn")
    assert [(s.title, s.line_no) for s in scenario.sections] == [("setup", 1), ("Get", 2),
                                                                 ("Send", 5)]
    assert [(s.kind, s.section) for s in scenario.steps] == [
        ("action", 0), ("command", 1), ("action", 1), ("command", 2), ("action", 2)]
    assert scenario.steps[3].within == 20.0 and scenario.steps[1].within is None
    assert scenario.steps[3].expects == [(8, "state=sent"), (9, "~ ^reason=250")]
    assert scenario.bench_lines() == [(10, "fault")]
    assert parse("> clock\n", "dir/x.scn").sections[0].title == "x"


def reply(*lines: str, ok: bool = True, error: str = "") -> ConsoleReply:
    return ConsoleReply("cmd", list(lines), ok, error,
                        dict(x.split("=", 1) for x in lines if "=" in x))


def test_expectations_on_repeated_keys_any_line_and_variables():
    got = reply("passed=connected", "passed=signed in as a+b@x.test", "7=2027 pop.ifax refused x")
    ok = [(1, "passed=connected"), (2, "passed=~signed in as {who}$"), (3, "~ refused")]
    assert check_reply(got, ok, "f", {"who": "a+b@x.test"}) == []
    # a variable in a regular expression is matched literally: '+' and '.' are not operators
    assert check_reply(got, [(2, "passed=~as {who}$")], "f", {"who": "ab@xxtest"}) != []
    assert check_reply(got, [(4, "~ accepted")], "f", {}) == [
        "f:4: no line of the reply matches 'accepted'"]
    assert check_reply(reply(ok=False, error="smtp.port: no"), [(5, "ERR smtp.port")], "f", {}) == []
    assert check_reply(reply("state=waiting"), [], "f", {}) == []
    with pytest.raises(ScenarioError, match=r"f:6: \{nobody\} is not known yet"):
        check_reply(got, [(6, "passed={nobody}")], "f", {})
