"""The report of a fleet run: DIR/report.json (every number) and DIR/report.html (the page a
person reads at a glance: plots as PNG, embedded, and the tables under them).

The figures are drawn with matplotlib (Agg, no display needed) from the merged series; the
page is a Jinja2 template (templates/report.html). Both come with the `fleet` extra
(``pip install 'mfp-sim[fleet]'``); nothing else in mfp-sim imports them.

Counts come from two sides and the page shows both: what the devices saw (the shards'
network and the devices' events) and what the bench's servers counted (``/control/stats``).
Where both count the same thing they must agree. (msal would answer a retry from its own
Retry-After cache, a throttled answer the bench never sent; the token store keeps no such
entry in the cache it hands msal, firmware/tokens/http.py, so the answers agree too.)
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from pathlib import Path
from typing import Any

from .coordinator import FleetRun, bench_summary
from .errors import FleetSetupError
from .metrics import Histogram, flatten_counts
from .network import THROTTLED, throttled
from .plots import draw_all

__all__ = ["write_report", "summarise", "compare"]

#: Device-side outcomes of a call that never reached the server.
NOT_SENT = ("unreachable", "no_answer")


def _requests(final: dict[str, Any], kind: str) -> int:
    """HTTP requests of a kind that reached a server (not those refused by a cut network)."""
    outcomes = final.get("idp_requests", {}).get(kind, {})
    return sum(v for k, v in outcomes.items() if k not in NOT_SENT)


def compare(final: dict[str, Any], bench: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Rows of (what, devices' count, bench's count, equal?)."""
    if bench is None:
        return []
    summary = bench_summary(bench)
    sent = final.get("idp_requests", {})
    ok = sum(v.get("ok", 0) for k, v in sent.items() if k not in ("discovery", "device_authorization"))
    throttled_dev = sum(throttled(v) for v in sent.values())
    answers = sum(v.get("temporarily_unavailable", 0)
                  for v in final.get("token_calls", {}).values())
    throttled_bench = summary["token"]["by_outcome"].get("fault:throttled", 0) + summary[
        "device_authorization"]["by_outcome"].get("fault:throttled", 0)
    mail = final.get("mail_sessions", {})
    rows = [
        ("device authorization requests", _requests(final, "device_authorization"),
         summary["device_authorization"]["total"], True),
        ("device-code token requests", _requests(final, "device_poll"),
         summary["token"]["by_grant_type"].get("device_code", 0), True),
        ("refresh-token requests", _requests(final, "refresh"),
         summary["token"]["by_grant_type"].get("refresh_token", 0), True),
        ("token requests answered with a token", ok, summary["token"]["by_outcome"].get("ok", 0),
         True),
        ("SMTP sessions", mail.get("smtp", 0), summary["smtp"]["sessions"], True),
        ("POP3 sessions", mail.get("pop3", 0), summary["pop3"]["sessions"], True),
        ("throttled requests (429 temporarily_unavailable)", throttled_dev, throttled_bench, True),
        ("throttled answers the devices got", answers, throttled_bench, True),
    ]
    return [{"what": w, "devices": d, "bench": b, "must_match": m, "equal": d == b}
            for w, d, b, m in rows]


def summarise(run: FleetRun) -> dict[str, Any]:
    """The headline numbers (the page's first table; report.json's "summary")."""
    final = run.series[-1] if run.series else {}
    states = Counter(d["state"] for d in run.devices)
    not_well = [d for d in run.devices if d["state"] not in ("retrieved",)]
    # Stuck: has power, yet a token is neither Retrieved nor Invalid, or is Retrieved but ran
    # out and was not renewed. Invalid is an end the device reached on its own (the provider
    # said the grant is gone: a revocation); a person's Get Token is the way on.
    stuck = [d["n"] for d in run.devices if d["on"] and (
        any(s not in ("retrieved", "invalid") for s in d["tokens"].values())
        or d.get("expired_tokens", 0))]
    hist = {k: Histogram.from_json(v) for k, v in final.get("hist", {}).items()}
    lag = Histogram()
    for shard in final.get("shards", []):
        lag = lag.plus(Histogram.from_json(shard.get("lag")))
    jobs = Counter(final.get("jobs", {}))
    return {
        "devices": run.plan["devices"],
        "final_states": dict(states),
        "not_retrieved_devices": [{"n": d["n"], "state": d["state"], "tokens": d["tokens"]}
                                  for d in not_well[:50]],
        "not_retrieved_count": len(not_well),
        "stuck": len(stuck),
        "stuck_devices": stuck[:50],
        "bringup_s": run.figures.get("bringup_s"),
        "bringup_wall_s": run.figures.get("bringup_wall_s"),
        "wall_s": run.figures.get("wall_s"),
        "tokens": final.get("tokens", {}),
        "jobs": dict(jobs),
        "messages": final.get("messages", {}),
        "approvals": final.get("approvals", {}),
        "token_calls": final.get("token_calls", {}),
        "idp_requests": final.get("idp_requests", {}),
        "provider_codes": final.get("provider_codes", {}),
        "alerts": final.get("alerts", {}),
        "alert_codes": final.get("alert_codes", {}),
        "mail_sessions": final.get("mail_sessions", {}),
        "mail_connect_failed": final.get("mail_connect_failed", {}),
        "latency": {k: h.summary() for k, h in hist.items()},
        "lag": lag.summary(),
        "retries_after_refusal": final.get("retries_after_refusal", 0),
        "pending_jobs": sum(d.get("pending_jobs", 0) for d in run.devices),
    }


def _shard_rows(run: FleetRun) -> list[dict[str, Any]]:
    """CPU, memory, loop lag per shard over the whole run."""
    if not run.series:
        return []
    first, last = run.series[0].get("shards", []), run.series[-1].get("shards", [])
    rows = []
    for i, shard in enumerate(last):
        start = first[i] if i < len(first) else {}
        wall = max(1e-9, shard.get("wall", 0) - start.get("wall", 0))
        lag = Histogram.from_json(shard.get("lag"))
        rows.append({"shard": shard.get("shard", i),
                     "node": run.nodes[i] if i < len(run.nodes) else "",
                     "cpu_percent": 100 * (shard.get("cpu_s", 0) - start.get("cpu_s", 0)) / wall,
                     "rss_mb": shard.get("rss", 0) / 2**20,
                     "lag_p99_ms": (lag.percentile(99) or 0) * 1000,
                     "lag_max_ms": shard.get("lag_max", 0) * 1000,
                     "threads": shard.get("threads"), "fds": shard.get("fds"),
                     "nvram_mb": shard.get("nvram_bytes", 0) / 2**20,
                     "settle_timeouts": shard.get("settle_timeouts", 0),
                     **_admission(shard.get("admit", {}))})
    return rows


def _admission(admit: dict[str, Any]) -> dict[str, Any]:
    """The shard's admission (tools/fleet/admission.py): its limit, how much work was
    admitted, how much waited at most, and the longest wait (host seconds)."""
    return {"admit_limit": admit.get("limit"), "admitted": admit.get("admitted", 0),
            "most_waiting": admit.get("most_waiting", 0),
            "wait_max_s": admit.get("wait_max", 0.0)}


def _errors(final: dict[str, Any], bench: dict[str, Any] | None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for kind, outcomes in sorted(final.get("token_calls", {}).items()):
        for outcome, count in sorted(outcomes.items()):
            if outcome not in ("ok", "authorization_pending"):
                rows.append({"side": "devices", "where": f"identity provider: {kind}",
                             "kind": outcome, "code": "", "count": count})
    for key, count in sorted(final.get("provider_codes", {}).items()):
        outcome, _, code = key.partition(":")
        rows.append({"side": "devices", "where": "identity provider", "kind": outcome,
                     "code": code, "count": count})
    for key, count in sorted(final.get("alert_codes", {}).items()):
        step, _, code = key.partition(" ")
        rows.append({"side": "devices", "where": f"mail ({step})", "kind": "refused",
                     "code": code, "count": count})
    for key, count in sorted(final.get("alerts", {}).items()):
        rows.append({"side": "devices", "where": "alert", "kind": key, "code": "", "count": count})
    if bench is not None:
        summary = bench_summary(bench)
        for outcome, count in sorted(summary["token"]["by_outcome"].items()):
            if outcome not in ("ok", "authorization_pending"):
                rows.append({"side": "bench", "where": "token endpoint", "kind": outcome,
                             "code": "", "count": count})
        for proto in ("smtp", "pop3"):
            for reason, count in sorted(summary[proto]["auth_reasons"].items()):
                if reason != "ok":
                    rows.append({"side": "bench", "where": f"{proto} AUTH", "kind": reason,
                                 "code": "", "count": count})
    return rows


def windows(run: FleetRun) -> list[dict[str, Any]]:
    """Each event with what happened while it lasted: loop lag per shard, requests, sessions
    (between the last sample before it and the first one after it)."""
    rows = []
    for event in run.events:
        if "wall_from" not in event:
            continue  # never happened (the run ended first)
        before = [s for s in run.series if s["wall"] <= event["wall_from"]]
        until = event.get("wall_until", run.series[-1]["wall"] if run.series else 0)
        after = [s for s in run.series if s["wall"] >= until]
        if not before or not after:
            continue
        a, b = before[-1], after[0]
        lags = []
        for old, new in zip(a.get("shards", []), b.get("shards", []), strict=False):
            lag = Histogram.from_json(new.get("lag")).minus(Histogram.from_json(old.get("lag")))
            lags.append((lag.percentile(99) or 0) * 1000)
        counts = flatten_counts(b)
        counts.subtract(flatten_counts(a))
        rows.append({"event": event["text"], "kind": event["kind"], "from": event["t"],
                     "until": event["until"], "wall_s": b["wall"] - a["wall"],
                     "lag_p99_ms": lags,
                     "idp_requests": sum(v for k, v in counts.items()
                                         if k.startswith("idp_requests.")),
                     "throttled": sum(v for k, v in counts.items()
                                      if k.startswith("idp_requests.")
                                      and k.rpartition(".")[2] in THROTTLED),
                     "mail_sessions": sum(v for k, v in counts.items()
                                          if k.startswith("mail_sessions.")),
                     "states_after": b.get("device_states", {})})
    return rows


def write_report(run: FleetRun, folder: Path) -> Path:
    """Write report.json, the PNGs and report.html into `folder`; returns the page's path."""
    try:
        import jinja2
    except ImportError:
        raise FleetSetupError("the report needs Jinja2 and matplotlib: "
                              "pip install 'mfp-sim[fleet]'") from None
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    final = run.series[-1] if run.series else {}
    summary = summarise(run)
    comparison = compare(final, run.bench_stats)
    data = {"plan": run.plan, "summary": summary, "comparison": comparison,
            "errors": _errors(final, run.bench_stats), "shards": _shard_rows(run),
            "events": run.events, "windows": windows(run), "figures": run.figures,
            "nodes": run.nodes,
            "bench_stats": run.bench_stats, "series": run.series,
            "bench_series": run.bench_series, "devices": run.devices}
    (folder / "report.json").write_text(json.dumps(data, indent=1, default=str) + "\n",
                                        encoding="utf-8")
    images = draw_all(run, folder)
    embedded = {name: base64.b64encode(path.read_bytes()).decode("ascii")
                for name, path in images.items()}
    env = jinja2.Environment(loader=jinja2.PackageLoader("mfp_sim.tools.fleet", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["num"] = _num
    page = env.get_template("report.html").render(
        **data, images=embedded, flat=flatten_counts, throttling=_throttling(final, run))
    path = folder / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def _throttling(final: dict[str, Any], run: FleetRun) -> dict[str, Any]:
    backoff = Histogram.from_json(final.get("hist", {}).get("backoff"))
    calls = final.get("token_calls", {})
    sent = final.get("idp_requests", {})
    return {"answers": sum(v.get("temporarily_unavailable", 0) for v in calls.values()),
            "requests": sum(throttled(v) for v in sent.values()),
            "slow_down": sum(v.get("slow_down", 0) for v in calls.values()),
            "retries": final.get("retries_after_refusal", 0),
            "backoff": backoff.summary(),
            "faults_fired": (bench_summary(run.bench_stats)["faults_fired"]
                             if run.bench_stats else {})}


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
