"""The table of mail contexts: a new POP setting is one row, and every face sees it.

This is docs/architecture.md's "How to add a mail context", done once: a device given the
real device's rows plus one more has a settings section, an independent token store, a POP
receiver, console commands and a panel menu page for it, with no other change.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mfp_sim.firmware.contexts import CONTEXTS, Contexts, MailContext
from mfp_sim.firmware.device import Device
from mfp_sim.firmware.errors import CommandError
from mfp_sim.firmware.i18n import N_
from mfp_sim.firmware.menus import Menu, Page, admin_menu
from mfp_sim.firmware.providers import ProviderRegistry
from mfp_sim.firmware.settings import POP_FIELDS, PopSettings, Section
from mfp_sim.firmware.vocabulary import ReceiveKind, Service

from .conftest import ALICE, BOB, obtain_token, sh
from .mail_helpers import setup_pop

#: One more POP setting: a scan box the device prints from, under Printer Settings.
SCAN_BOX = MailContext(
    Section("pop.scanbox", PopSettings, POP_FIELDS), Service.POP, N_("Scan Box (POP3)"),
    (N_("System Settings"), N_("Printer Settings"), N_("Scan Box Settings")),
    receive=ReceiveKind.FAX, labels={"server": N_("POP3 Server")},
)


@pytest.fixture
async def wide(tmp_path: Path, clock, bench):
    registry = ProviderRegistry()
    registry.add(bench.provider())
    device = Device(tmp_path / "wide", clock=clock, providers=registry, ca_pems=[bench.ca.ca_pem],
                    contexts=(*CONTEXTS, SCAN_BOX))
    await device.start()
    yield device
    await device.stop()


async def test_a_new_row_is_a_setting_a_token_store_and_a_receiver(wide, bench, clock):
    stores = await sh(wide, "stores")
    assert stores["pop.scanbox"] == "not_retrieved"
    assert "pop.scanbox" in (await sh(wide, "help token"))["summary"]
    assert "pop.scanbox" in (await sh(wide, "help mail"))["usage"]
    assert (await sh(wide, "set pop.scanbox.check_interval 7"))["pop.scanbox.check_interval"] == "7"

    # Its own token: obtaining it gives nothing to the other POP settings, and back.
    await setup_pop(wide, bench, clock, "pop.scanbox", account=BOB)
    assert (await sh(wide, "stores")) | {"_ok": True} == {
        "smtp": "not_retrieved", "pop.ifax": "not_retrieved", "pop.emailprint": "not_retrieved",
        "pop.scanbox": "retrieved", "_ok": True, "_err": ""}
    await obtain_token(wide, bench, clock, "pop.ifax", ALICE)
    assert (await sh(wide, "token pop.scanbox status"))["account"] == BOB

    # Its receiver polls its own mailbox with its own token; it receives faxes, so a plain
    # message is taken off the server and refused, with the reason.
    bench.mail.deliver(BOB, b"From: a@example.test\r\nSubject: hello\r\n\r\nno fax here\r\n")
    checked = await sh(wide, "mail check pop.scanbox")
    assert checked["_ok"], checked
    assert (checked["received"], checked["refused"], checked["deleted"]) == ("1", "1", "1")


async def test_a_new_row_has_its_menu_page_and_title(wide):
    menu = admin_menu(wide.api.contexts)
    node: Menu | Page = menu
    for label in ("System Settings", "Printer Settings", "Scan Box Settings"):
        assert isinstance(node, Menu)
        node = next(e for e in node.entries if e.label == label)
    assert node == Page("Scan Box Settings", "pop.scanbox")
    printer = [e.label for e in next(e for e in menu.entries[0].entries  # type: ignore[union-attr]
                                      if e.label == "Printer Settings").entries]
    assert printer == ["E-mail Print Settings", "Scan Box Settings"]
    assert wide.api.context("pop.scanbox").title == "Scan Box (POP3)"


def test_rows_must_have_distinct_names():
    with pytest.raises(ValueError, match="distinct"):
        Contexts((*CONTEXTS, CONTEXTS[1]))


def test_unknown_names_are_refused_with_the_table():
    contexts = Contexts()
    with pytest.raises(CommandError, match=re.escape("one of smtp, pop.ifax, pop.emailprint, scan_to_email")):
        contexts.get("imap")
    with pytest.raises(CommandError, match=re.escape("unknown POP setting 'smtp': one of pop.ifax|pop.emailprint")):
        contexts.receiver("smtp")
    assert contexts.get("ifax_send").name == "smtp"
