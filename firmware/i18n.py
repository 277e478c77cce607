"""The device's languages, through gettext catalogs: the words its panel and web page show.

The source of each translation is a `.po` file under `firmware/locale/<lang>/LC_MESSAGES/`, kept
by hand (the Italian one uses the words of the Sharp manual page). The `.mo` that gettext reads
is not kept in git: it is compiled here with Babel the first time a language is asked for, and
again whenever the `.po` is newer, so a clean checkout, an edited `.po` and an installed wheel
all behave the same. When the package folder is read-only the compiled catalog stays in memory.

Catalogs are per face (`Catalog`), not a process-wide `gettext.install()`: several devices,
each with its own language, can live in one process.
"""

from __future__ import annotations

import gettext
import io
import logging
import os
import tempfile
from functools import cache
from pathlib import Path

__all__ = ["Catalog", "DOMAIN", "LANGUAGES", "LOCALE_DIR", "N_", "compile_catalog", "po_path"]

log = logging.getLogger(__name__)

DOMAIN = "mfp-sim"
LOCALE_DIR = Path(__file__).parent / "locale"
#: The languages of the `device.language` setting; English is the source language.
LANGUAGES: tuple[str, ...] = ("en", "it")


def N_(message: str) -> str:
    """Mark a message for translation where it is defined (tables); translate it where shown."""
    return message


def po_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def compile_catalog(language: str) -> bytes:
    """The `.mo` bytes for `language`, compiled from its `.po` with Babel (fuzzy entries left out).

    Babel is imported here, not at the top: a headless device that never shows Italian text
    (the console speaks English) does not pay for it at start-up.
    """
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po_path(language).open("rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def _is_stale(mo: Path, po: Path) -> bool:
    try:
        return mo.stat().st_mtime < po.stat().st_mtime
    except FileNotFoundError:
        return True


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".mo-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a catalog is for everyone to read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@cache
def _translations(language: str) -> gettext.NullTranslations:
    if language == "en":
        return gettext.NullTranslations()
    po = po_path(language)
    if not po.exists():
        log.warning("no catalog for panel language %r (%s): English is shown", language, po)
        return gettext.NullTranslations()
    mo = po.with_suffix(".mo")
    if _is_stale(mo, po):
        data = compile_catalog(language)
        try:
            _write_atomically(mo, data)
        except OSError as exc:
            log.info("cannot write %s (%s): the catalog stays in memory", mo, exc.strerror)
        return gettext.GNUTranslations(io.BytesIO(data))
    with mo.open("rb") as f:
        return gettext.GNUTranslations(f)


class Catalog:
    """One face's language: `gettext(msgid)` gives the text to show."""

    def __init__(self, language: str = "en") -> None:
        self.language = language if language in LANGUAGES else "en"
        self._t = _translations(self.language)

    def gettext(self, message: str) -> str:
        return self._t.gettext(message)
