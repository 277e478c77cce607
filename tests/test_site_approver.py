"""The site's approver command: placeholders filled inside their word, no shell, exit status
decides, and a malformed template refused before anything runs."""

from __future__ import annotations

import sys

import pytest

from mfp_sim.tools.site_approver import ApprovalRequest, ApproverError, SiteApprover

REQUEST = ApprovalRequest("GH5L-FQ7W", "qa printer@example.com", "https://sso.example.com/device",
                          "smtp")


def test_each_placeholder_is_replaced_inside_its_word_and_stays_one_argument():
    approver = SiteApprover("approve --code={user_code} {account} 'at {verification_uri}' {store}")
    assert approver.command(REQUEST) == [
        "approve", "--code=GH5L-FQ7W", "qa printer@example.com",
        "at https://sso.example.com/device", "smtp"]


def test_the_command_runs_without_a_shell_and_its_exit_status_decides(tmp_path):
    script = tmp_path / "a.py"
    script.write_text("import sys\nprint(sys.argv[1:])\nsys.exit(0 if sys.argv[1] == 'ok' else 4)\n")
    said = SiteApprover(f"{sys.executable} {script} ok '$(touch {tmp_path}/x)' {{account}}").approve(REQUEST)
    assert said == "['ok', '$(touch " + str(tmp_path) + "/x)', 'qa printer@example.com']"
    assert not (tmp_path / "x").exists()
    with pytest.raises(ApproverError, match=r"refused GH5L-FQ7W for qa printer@example.com \(exit status 4\)"):
        SiteApprover(f"{sys.executable} {script} no").approve(REQUEST)


@pytest.mark.parametrize("template, words", [
    ("", "the approver command is empty"),
    ("approve {code}", "unknown placeholder {code}: use {user_code}, {account}"),
    ("approve 'unclosed", "does not parse"),
])
def test_a_bad_template_is_refused_with_what_is_allowed(template, words):
    with pytest.raises(ApproverError, match=words.replace("{", r"\{").replace("}", r"\}")):
        SiteApprover(template)


def test_a_missing_program_says_so():
    with pytest.raises(ApproverError, match="cannot run the approver: 'no-such-approver' not found"):
        SiteApprover("no-such-approver {user_code}").approve(REQUEST)
