"""The JUnit XML report: what CI systems (Jenkins, GitLab, GitHub Actions' test reporters) read.

One `<testsuite>` per scenario file, one `<testcase>` per section (`## title`), or one for a file
without sections; `classname` is `scenario.<file name>`, so CI groups cases by file. A failure
carries the file's line and what was expected in `message`, and the command with the device's
whole reply in its text; the lines the runner printed for the case are its `<system-out>`.
The shape is the one pytest writes (`--junit-xml`, family xunit2) and Ant's schema allows.
"""

from __future__ import annotations

import datetime
import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

from .runner import CaseResult

__all__ = ["junit_xml", "write_junit"]

#: Characters XML 1.0 cannot carry at all (an approver script's colour codes, say).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _x(text: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _suite(name: str, cases: list[CaseResult], timestamp: str, host: str) -> ET.Element:
    counts = {k: sum(1 for c in cases if c.status == k) for k in ("failed", "error", "skipped")}
    suite = ET.Element("testsuite", {
        "name": name, "tests": str(len(cases)), "failures": str(counts["failed"]),
        "errors": str(counts["error"]), "skipped": str(counts["skipped"]),
        "time": f"{sum(c.seconds for c in cases):.3f}", "timestamp": timestamp,
        "hostname": host})
    for case in cases:
        element = ET.SubElement(suite, "testcase", {
            "classname": f"scenario.{Path(case.file).stem}", "name": _x(case.name),
            "file": case.file, "line": str(case.line), "time": f"{case.seconds:.3f}"})
        if case.status in ("failed", "error"):
            tag = "failure" if case.status == "failed" else "error"
            child = ET.SubElement(element, tag, {"message": _x(case.message),
                                                  "type": "scenario." + tag})
            child.text = _x(case.detail or case.message)
        elif case.status == "skipped":
            ET.SubElement(element, "skipped", {"message": _x(case.message)})
        if case.output:
            ET.SubElement(element, "system-out").text = _x("\n".join(case.output) + "\n")
    return suite


def junit_xml(results: Iterable[tuple[str, list[CaseResult]]], name: str = "mfp-sim scenario") -> bytes:
    """The report for `(file, its cases)` pairs, as UTF-8 bytes."""
    timestamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    host = socket.gethostname()
    root = ET.Element("testsuites", {"name": name})
    total = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0, "time": 0.0}
    for path, cases in results:
        suite = _suite(Path(path).stem, cases, timestamp, host)
        root.append(suite)
        for key in ("tests", "failures", "errors", "skipped"):
            total[key] += int(suite.get(key, "0"))
        total["time"] += float(suite.get("time", "0"))
    for key, value in total.items():
        root.set(key, f"{value:.3f}" if key == "time" else str(value))
    ET.indent(root)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def write_junit(path: str | Path, results: Iterable[tuple[str, list[CaseResult]]]) -> None:
    """Write the report whole (a temporary file, then a rename: CI never reads half of it)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(junit_xml(results))
    tmp.replace(target)
