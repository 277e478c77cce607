"""Receive outcomes reach the console (issue 10): a typed `Received` event when a message is
stored, and `mail log` listing what became of the last messages, with their reasons."""

from __future__ import annotations

import shlex

from mfp_sim.firmware.events import EVENT_KINDS, Printed, Received, Refused

from .conftest import BOB
from .mail_helpers import setup_pop
from .test_mail_receive import fax_message, print_message


def log_lines(reply: list[str]) -> list[dict[str, str]]:
    """`mail log` lines as fields: time, source, outcome, then from/subject/reason."""
    assert reply[-1] == "OK", reply
    found = []
    for line in reply[:-1]:
        seq, _, rest = line.partition("=")
        words = shlex.split(rest)
        fields = dict(w.split("=", 1) for w in words[3:])
        found.append({"seq": seq, "time": words[0], "source": words[1], "outcome": words[2],
                      **fields})
    return found


async def test_received_is_published_when_stored_then_printed(device, bench, clock):
    await setup_pop(device, bench, clock, "pop.ifax")
    bench.mail.deliver(BOB, fax_message(1, pages=2))
    sub = device.api.subscribe(Received, Printed)
    assert (await device.api.check_mail("pop.ifax")).printed == 1
    received, printed = sub.get_nowait(), sub.get_nowait()
    assert isinstance(received, Received) and isinstance(printed, Printed)
    assert (received.source, received.id, received.receive) == ("pop.ifax", printed.id, "fax")
    assert received.subject == "fax 1" and "alice@example.test" in received.sender
    assert received.size > 1000 and received.seq < printed.seq
    assert EVENT_KINDS["received"] is Received
    assert received.line().startswith("event=received source=pop.ifax id=fax")


async def test_mail_log_tells_each_outcome_and_its_reason(device, bench, clock):
    await setup_pop(device, bench, clock, "pop.ifax")
    bench.mail.deliver(BOB, fax_message(1))
    bench.mail.deliver(BOB, print_message(2))  # a PNG is not a fax
    bench.mail.deliver(BOB, fax_message(1))  # the same Message-ID again
    refused = device.api.subscribe(Refused)
    reply = await device.shell.execute("mail check pop.ifax")
    assert reply[-1] == "OK" and "refused=1" in reply and "duplicates=1" in reply
    log = log_lines(await device.shell.execute("mail log"))
    outcomes = [(e["outcome"], e["subject"]) for e in log]
    # Reading (the duplicate is known at once, the others once stored for good), then printing.
    assert outcomes[:3] == [("duplicate", "fax 1"), ("spooled", "fax 1"),
                            ("spooled", "print 2")], outcomes
    assert sorted(outcomes[3:]) == [("printed", "fax 1"), ("refused", "print 2")]
    [no_fax] = [e for e in log if e["outcome"] == "refused"]
    assert no_fax["reason"] == "not an Internet Fax: no TIFF image (image/png)"
    assert no_fax["reason"] == refused.get_nowait().reason  # the event's reason, on the console
    assert all(e["source"] == "pop.ifax" and e["time"].endswith("Z") for e in log)
    assert [int(e["seq"]) for e in log] == sorted(int(e["seq"]) for e in log)  # newest last
    assert len(log_lines(await device.shell.execute("mail log pop.ifax 2"))) == 2
    assert log_lines(await device.shell.execute("mail log 2")) == log[-2:]
    assert log_lines(await device.shell.execute("mail log pop.emailprint")) == []


async def test_mail_log_refuses_what_it_does_not_understand(device):
    for line, words in [("mail log 0", "from 1 to 200"), ("mail log 999", "from 1 to 200"),
                        ("mail log pop.nothing", "unknown POP setting"),
                        ("mail log pop.ifax pop.ifax", "usage: mail check"),
                        ("mail", "usage: mail check pop.ifax|pop.emailprint | mail log")]:
        reply = await device.shell.execute(line)
        assert reply[-1].startswith("ERR") and words in reply[-1], (line, reply)
