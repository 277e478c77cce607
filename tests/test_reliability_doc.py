"""docs/reliability.md names, for each promise, the test that keeps it: those tests exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_test_the_reliability_page_names_exists():
    text = (ROOT / "docs" / "reliability.md").read_text()
    defined = {m for path in (ROOT / "tests").glob("test_*.py")
               for m in re.findall(r"^async def (test_\w+)|^def (test_\w+)",
                                   path.read_text(), re.MULTILINE) for m in m if m}
    named = set(re.findall(r"::(test_\w+)", text)) | set(re.findall(r"`(test_\w+)[`\[]", text))
    assert named and named <= defined, sorted(named - defined)
    files = set(re.findall(r"`(test_\w+\.py)", text))
    assert files and all((ROOT / "tests" / f).exists() for f in files), files
