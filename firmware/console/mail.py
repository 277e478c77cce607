"""Console commands for the mail functions: send, follow jobs, test connections, receive
(`mail check`) and the receive journal (`mail log`).

They speak the console's language (`key=value` lines, then `OK` or `ERR <reason>`) and call
only the command API.
"""

from __future__ import annotations

import shlex

from ..errors import CommandError
from ..mail.jobs import JobInfo
from ..vocabulary import JobState
from .command import Command, Reply, Session, iso, one_line, options

__all__ = ["MAIL_COMMANDS"]


def _pages(text: str | None) -> int:
    if text is None:
        return 1
    try:
        return int(text, 10)
    except ValueError:
        raise CommandError(f"pages={text!r} is not allowed: a whole number from 1 to 999") from None


def _require_to(values: dict[str, str], usage: str) -> str:
    to = values.get("to", "")
    if not to:
        raise CommandError(f"to=<address> is required: {usage}")
    return to


SCAN_USAGE = "scan to=<address> [pages=N] [format=pdf|tiff]"
IFAX_USAGE = "ifax send to=<address> [pages=N]"


async def _scan(session: Session, args: list[str], rest: str) -> Reply:
    values = options(args, {"to": "address", "pages": "1..999", "format": "pdf|tiff"},
                      SCAN_USAGE)
    fmt = values.get("format", "pdf").lower()
    if fmt not in ("pdf", "tiff"):
        raise CommandError(f"format={fmt!r} is not allowed: pdf or tiff")
    job_id = await session.api.scan_to_email(_require_to(values, SCAN_USAGE),
                                           _pages(values.get("pages")), fmt)
    return [f"job={job_id}", "OK"]


async def _ifax(session: Session, args: list[str], rest: str) -> Reply:
    if not args or args[0].lower() != "send":
        raise CommandError(f"usage: {IFAX_USAGE}")
    values = options(args[1:], {"to": "address", "pages": "1..999"}, IFAX_USAGE)
    job_id = await session.api.ifax_send(_require_to(values, IFAX_USAGE),
                                       _pages(values.get("pages")))
    return [f"job={job_id}", "OK"]


def _job_lines(job: JobInfo) -> Reply:
    lines = [f"id={job.id}", f"kind={job.kind}", f"to={job.to}", f"state={job.state.value}",
             f"reason={job.reason}", f"attempts={job.attempts}", f"created={iso(job.created)}",
             f"message_id={job.message_id}", f"pages={job.pages}"]
    if job.state is JobState.QUEUED and job.attempts:
        lines.append(f"next_attempt={iso(job.next_attempt_at)}")
    return lines


async def _job(session: Session, args: list[str], rest: str) -> Reply:
    if len(args) != 1:
        raise CommandError("usage: job <id> (see jobs for the list)")
    return _job_lines(session.api.job(args[0])) + ["OK"]


async def _jobs(session: Session, args: list[str], rest: str) -> Reply:
    if args:
        raise CommandError("usage: jobs (no arguments; job <id> shows one)")
    return [f"{j.id}={j.state.value} kind:{j.kind} to:{j.to} attempts:{j.attempts}"
            for j in session.api.jobs()] + ["OK"]


async def _tray(session: Session, args: list[str], rest: str) -> Reply:
    if args:
        raise CommandError("usage: tray (no arguments)")
    return [f"{item.seq}={item.name} size:{item.size}" for item in session.api.tray()] + ["OK"]


async def _test(session: Session, args: list[str], rest: str) -> Reply:
    if len(args) != 1:
        raise CommandError(session.fill("usage: test {contexts}"))
    report = await session.api.test_connection(args[0])
    lines = [f"ok={'yes' if report.ok else 'no'}", f"step={report.step}",
             f"message={report.message}"]
    if report.detail:
        lines.append(f"detail={report.detail}")
    lines += [f"passed={p}" for p in report.passed]
    return lines + (["OK"] if report.ok else [f"ERR {report.step}: {report.message}"])


MAIL_USAGE = "mail check {receivers} | mail log [{receivers}] [n]"


async def _mail(session: Session, args: list[str], rest: str) -> Reply:
    what = args[0].lower() if args else ""
    if what == "log":
        return _mail_log(session, args[1:])
    if what != "check" or len(args) != 2:
        raise CommandError(session.fill(f"usage: {MAIL_USAGE}"))
    result = await session.api.check_mail(args[1])
    lines = [f"on_server={result.on_server}", f"received={result.received}",
             f"spooled={result.spooled}", f"printed={result.printed}",
             f"duplicates={result.duplicates}", f"refused={result.refused}",
             f"deleted={result.deleted}", f"vanished={result.vanished}",
             f"pending={result.pending}", f"left={result.left}"]
    lines += [f"file={name}" for name in result.files]
    if not result.ok:
        return lines + [f"step={result.step}", f"reason={result.reason}",
                        f"ERR {result.step}: {result.reason}"]
    return lines + ["OK"]


def _mail_log(session: Session, args: list[str]) -> Reply:
    """`mail log [<pop setting>] [n]`: one line per outcome, newest last."""
    store: str | None = None
    count = 20
    for word in args:
        if word.isdigit():
            count = int(word)
        elif store is None and not word.lstrip("-").isdigit():
            store = word
        else:
            raise CommandError(session.fill(f"usage: {MAIL_USAGE} (n: 1 to 200)"))
    entries = session.api.mail_log(store, count)
    return [f"{e.seq}={iso(e.time)} {e.source} {e.outcome.value} from={_q(e.sender)} "
            f"subject={_q(e.subject)} reason={_q(e.reason)}" for e in entries] + ["OK"]


def _q(text: str) -> str:
    """A value a script splits back with `shlex` (one line, quoted when it must be)."""
    return shlex.quote(one_line(text))


MAIL_COMMANDS: tuple[Command, ...] = (
    Command("scan", SCAN_USAGE, "Scan to E-mail: scan pages and queue them; prints job=<id>", _scan),
    Command("ifax", IFAX_USAGE, "Internet Fax: scan pages and queue the fax; prints job=<id>", _ifax),
    Command("job", "job <id>", "one send job: state, reason, attempts", _job),
    Command("jobs", "jobs", "every send job, oldest first", _jobs),
    Command("test", "test {contexts}",
            "connection test: connect, TLS, sign in; the first failing step", _test),
    Command("mail", MAIL_USAGE,
            "poll a POP mailbox now; or the last receive outcomes, with their reasons", _mail),
    Command("tray", "tray", "what the printer has output, oldest first", _tray),
)
