"""The device's words on the panel: `firmware.words`, shared with the web page (one table)."""

from __future__ import annotations

from mfp_sim.firmware.words import (
    BOOL_FIELDS,
    HINTS,
    TOKEN_LABELS,
    choices_of,
    context_title,
    field_label,
)

__all__ = ["TOKEN_LABELS", "field_label", "choices_of", "BOOL_FIELDS", "context_title", "HINTS"]
