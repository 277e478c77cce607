"""The benchmark's plumbing, cheaply: every section runs at tiny sizes and the JSON file holds
every figure with its goal and `met`. Nothing here looks at how fast anything was: speed and
memory are `make bench`'s business, never a test's (a loaded CI machine must not fail tests).
"""

from __future__ import annotations

import json
import math
import smtplib
import subprocess
import sys
from pathlib import Path

import pytest

from mfp_sim.tools.benchmark.figures import GOALS, Figure
from mfp_sim.tools.benchmark.floor import dot_stuff
from mfp_sim.tools.benchmark.runner import SECTIONS
from mfp_sim.tools.browser import browser_problem

MFP_SIM = [str(Path(sys.executable).parent / "mfp-sim")]


@pytest.mark.timeout(300)
def test_smoke_run_writes_every_figure_with_its_goal(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run([*MFP_SIM, "bench", "--smoke", "--json", str(out)],
                          capture_output=True, text=True, timeout=280, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert isinstance(figures, list)
    by_key = {f["key"]: f for f in figures}
    wanted = set(GOALS)
    if browser_problem():  # no Chromium here: the web section says so and measures nothing
        wanted = {k for k in wanted if not k.startswith("web.")}
    assert wanted <= set(by_key), f"figures without a measurement: {wanted - set(by_key)}"
    for f in figures:
        assert {"name", "value", "unit", "goal", "met"} <= set(f), f
        assert isinstance(f["value"], float) and math.isfinite(f["value"]) and f["value"] >= 0, f
        if f["key"] in GOALS:
            goal, _ = GOALS[f["key"]]
            assert f["goal"] == goal.text(f["unit"])
            assert f["met"] is goal.met(f["value"]), f
        else:
            assert f["goal"] is None and f["met"] is None, f
        assert f["name"] in proc.stdout  # the printed table stays
    assert "machine: " in proc.stdout


def test_only_refuses_an_unknown_section_and_names_the_others() -> None:
    proc = subprocess.run([*MFP_SIM, "bench", "--smoke", "--only", "send", "warp"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert "warp" in proc.stderr
    for name in SECTIONS:
        assert name in proc.stderr


def test_met_follows_the_goal_and_moonshot() -> None:
    assert Figure("send.ratio", "r", 0.92, "×").met is True
    assert Figure("send.ratio", "r", 0.92, "×").moonshot_met is False
    assert Figure("send.ratio", "r", 0.85, "×").met is False
    assert Figure("token.first", "t", 30.0, "ms").met is False  # "< 30 ms" is strict
    assert Figure("backlog.flatness", "b", 1.2, "×").met is True  # "≤ 1.2" is not
    assert Figure("send.wall", "w", 12.0, "ms").met is None


def test_floor_payload_is_what_smtplib_sends() -> None:
    message = b"Subject: x\r\n\r\n.leading dot\r\nmiddle\r\n..two\r\nend"
    expected = smtplib._quote_periods(message) + b"\r\n.\r\n"  # as SMTP.data() does for bytes
    assert dot_stuff(message) == expected
