"""The catalogs and the panel's QR code: every text of the panel and of the web page is
translated, in the manual's words."""

from __future__ import annotations

import gettext
import io
import math
from pathlib import Path

import segno
from babel.messages.extract import extract_from_dir, extract_from_file
from babel.messages.pofile import read_po

from mfp_sim.firmware.i18n import Catalog, compile_catalog, po_path
from mfp_sim.panel.widgets.qr import qr_text

ROOT = Path(__file__).resolve().parent.parent
#: Where the device's words are marked: the panel, and the firmware's tables (the contexts).
SOURCES = (ROOT / "panel", ROOT / "firmware")
#: Single files outside them whose texts the panel shows: the demo's start-up notes.
FILES = (ROOT / "tools" / "demo.py",)
#: The web page's templates (Jinja2: `{{ _("...") }}`), read with Jinja2's Babel extractor.
TEMPLATES = ROOT / "firmware" / "web" / "templates"

#: Words of the Italian manual page (seed 003) the panel must use as they are.
MANUAL_WORDS = {
    "Not retrieved": "Non recuperato",
    "Waiting for authorization": "In attesa di autorizzazione",
    "Retrieved": "Recuperato",
    "Invalid": "Non valido",
    "Get Token": "Recupera Token",
    "Clear": "Cancellare",
    "Settings (administrator)": "Impostazioni (amministratore)",
    "System Settings": "Impostazioni di sistema",
    "Network Settings": "Impostazioni di Rete",
    "Services Setup": "Setup Servizi",
    "Image Send Settings": "Impostazioni Invio Immagine",
    "Internet Fax Settings": "Impostazioni Internet Fax",
    "Server Settings": "Imp. server",
    "Primary Server": "Server primario",
    "Port Number": "Numero Porta",
    "Timeout": "Timeout",
    "Sender Name": "Nome Mittente",
    "Sender Address": "Indirizzo Mittente",
    "Enable SSL/TLS": "Abilitare SSL/TLS",
    "Authentication Method": "Metodo di autenticazione",
    "Check Interval": "Controlla intervallo",
    "POP3 Server": "Server POP3",
}


def panel_messages() -> set[str]:
    messages: set[str] = set()
    for folder in SOURCES:
        found = extract_from_dir(str(folder), method_map=[("**.py", "python")],
                                 keywords={"_": None, "N_": None})
        messages |= {message for _, _, message, _, _ in found if isinstance(message, str)}
    for path in FILES:
        found = extract_from_file("python", str(path), keywords={"_": None, "N_": None})
        messages |= {message for _, message, _, _ in found if isinstance(message, str)}
    found = extract_from_dir(str(TEMPLATES), method_map=[("**.html", "jinja2.ext:babel_extract")],
                             keywords={"_": None})
    templates = {message for _, _, message, _, _ in found if isinstance(message, str)}
    assert len(templates) > 40, "the templates' texts were not found"
    return messages | templates


def test_every_panel_text_has_an_italian_translation():
    with po_path("it").open("rb") as f:
        catalog = read_po(f, locale="it")
    translated = {m.id: m.string for m in catalog if m.id and m.string and not m.fuzzy}
    messages = panel_messages()
    assert len(messages) > 80
    missing = sorted(messages - set(translated))
    assert missing == [], f"add these to {po_path('it')}"
    unused = sorted(set(translated) - messages)
    assert unused == [], "the catalog has texts the panel no longer uses"


def test_italian_uses_the_manual_words():
    italian = Catalog("it")
    for english, words in MANUAL_WORDS.items():
        assert italian.gettext(english) == words


def test_compiled_catalog_is_what_gettext_reads():
    translations = gettext.GNUTranslations(io.BytesIO(compile_catalog("it")))
    assert translations.gettext("Get Token") == "Recupera Token"
    assert Catalog("en").gettext("Get Token") == "Get Token"
    assert Catalog("xx").language == "en"  # an unknown language falls back to English


def test_qr_code_is_the_address_in_half_blocks():
    address = "https://127.0.0.1:8443/bench/device?user_code=BDFH-KMNP"
    text = qr_text(address, border=2)
    lines = text.plain.split("\n")
    size = segno.make(address, error="l", micro=False).symbol_size(scale=1, border=2)[0]
    assert len(lines) == math.ceil(size / 2)
    assert {len(line) for line in lines} == {size}
    assert set("".join(lines)) <= {" ", "▀", "▄", "█"}
    assert lines[0] == " " * size  # the quiet zone is light
