"""The panel's import graph: no circle, and the direction of each kind of module.

Read from the source like `test_architecture.py` (imports inside functions and under
`TYPE_CHECKING` count), restricted to the panel, so the panel's shape is checked on its own.
"""

from __future__ import annotations

from .test_architecture import GRAPH, MODULES, _is_package_map, _still_cyclic

PANEL = {name for name in MODULES if name.split(".")[0] == "panel"}


def _edges() -> dict[str, set[str]]:
    return {m: {t for t in GRAPH[m] & PANEL if not _is_package_map(m, t)} for m in PANEL}


def _kind(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 else module


def test_the_panel_has_no_import_circle():
    assert _still_cyclic(_edges()) == []


def test_widgets_import_no_screen_and_screens_no_other_page():
    edges = _edges()
    wrong = []
    for module, targets in edges.items():
        for target in targets:
            if _kind(module) == "widgets" and _kind(target) in ("screens", "panel.app", "panel.navigation"):
                wrong.append(f"{module} -> {target}")
            # A screen may use the frame, never another page.
            if (_kind(module) == "screens" and _kind(target) == "screens"
                    and target != "panel.screens.frame"):
                wrong.append(f"{module} -> {target}")
            if target in ("panel.app", "panel.navigation") and module not in ("panel", "panel.app"):
                wrong.append(f"{module} -> {target}")
    assert wrong == []


def test_the_bottom_of_the_panel_imports_nothing_above_it():
    edges = _edges()
    bottom = {"panel.base", "panel.requests", "panel.notices"}
    assert {m: sorted(edges[m] - bottom) for m in bottom if edges[m] - bottom} == {}
