"""`make bench`: the device's web page in a real headless Chromium.

Two figures, on the machine it runs on (median of several rounds, never asserted in tests):

- **page load, login → token page**: a fresh browser session opens the SMTP page, is sent
  to the login, types the password and submits; the clock stops when the SMTP page (form and
  token area) has loaded (`document.readyState == "complete"`). Measured from Python, so it
  includes the WebDriver round trips a person would not have; the browser's own navigation
  timing of the token page alone is given in the note.
- **event → page update**: the device's token changes (Get Token and Clear, alternately,
  through the API, as the panel would); the clock starts when the device publishes the event
  (its own listener, `time.time()`) and stops when the page's token label shows the new state
  (a MutationObserver in the page notes `performance.timeOrigin + performance.now()`). It
  covers the event bus, the server-sent event, the page's script fetching the token area and
  the browser drawing it.

`make bench` runs it as its section `web` (`tools/benchmark/web.py`, which takes `key`, name,
value, unit and note and holds the figures to the goals in its own table). Alone:
`python -m mfp_sim.tools.bench_web [--quick]`. The device, its web server and the bench run in
one process here: what is timed is the browser and the device's web server.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mfp_sim.firmware.events import TokenChanged
from mfp_sim.hwsim.clock import VirtualClock

from .browser import Browser, BrowserUnavailable, open_browser
from .device_web import start_device_web
from .testbed import Testbed

__all__ = ["WebFigure", "bench_web", "main"]

ACCOUNT = "alice@example.test"
#: Installed in the page: notes when the token label changes, and to what.
_OBSERVER = """
window.__shown = [];
const target = document.getElementById('token').parentNode;
new MutationObserver(() => {
  const label = document.getElementById('token-label');
  if (label) { window.__shown.push([label.textContent, performance.timeOrigin + performance.now()]); }
}).observe(target, {childList: true, subtree: true, characterData: true});
"""


@dataclass(frozen=True)
class WebFigure:
    name: str
    value: float
    unit: str
    goal: str
    met: bool | None
    note: str = ""
    key: str = ""  # the benchmark's stable figure key


def _login_to_token_page(browser: Browser, url: str) -> tuple[float, float]:
    """One round: (wall ms login → token page loaded, the token page's own navigation ms)."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser.driver
    driver.delete_all_cookies()
    t0 = time.perf_counter()
    driver.get(url + "settings/smtp")  # → the login page
    driver.find_element("id", "password").send_keys("admin")
    driver.execute_script("window.__leaving = 1")
    driver.find_element("id", "login").click()
    WebDriverWait(driver, 15, poll_frequency=0.005).until(
        lambda d: d.execute_script("return window.__leaving === undefined && "
                                   "document.readyState === 'complete' && "
                                   "!!document.getElementById('token-label')"))
    wall = (time.perf_counter() - t0) * 1000
    navigation = float(driver.execute_script(
        "const n = performance.getEntriesByType('navigation')[0];"
        "return n.loadEventEnd - n.startTime;"))
    return wall, navigation


async def _measure(rounds: int) -> list[WebFigure]:
    clock = VirtualClock()
    with tempfile.TemporaryDirectory() as tmp:
        async with Testbed(Path(tmp) / "bench", clock) as bench:
            device = bench.make_device(Path(tmp) / "device")
            await device.start()
            from mfp_sim.firmware.web import WebConfig

            web = await start_device_web(device, WebConfig(), issue_from=bench.ca)
            await device.api.update("smtp", {"provider": "local", "account": ACCOUNT})
            browser = await asyncio.to_thread(open_browser, [bench.ca.ca_pem],
                                              leaf_pems=[web.certificate.cert_pem])
            try:
                loads = [await asyncio.to_thread(_login_to_token_page, browser, web.url)
                         for _ in range(rounds + 2)][2:]  # two rounds warm up TLS and caches
                updates = await _event_to_page(device, browser, rounds)
            finally:
                await asyncio.to_thread(browser.close)
                await web.stop()
                await device.stop()
    wall = statistics.median(w for w, _ in loads)
    nav = statistics.median(n for _, n in loads)
    update = statistics.median(updates)
    return [
        WebFigure("web page: login → token page loaded (headless Chromium, via WebDriver)", wall,
                  "ms", "< 1000 ms", wall < 1000,
                  f"median of {len(loads)}; the token page's own navigation {nav:.0f} ms "
                  f"({browser.trust} trust)", key="web.login"),
        WebFigure("web page: token event → label updated in the page (SSE + fetch)", update,
                  "ms", "< 200 ms", update < 200, f"median of {len(updates)}, min {min(updates):.1f}",
                  key="web.token_shown"),
    ]


async def _event_to_page(device: Any, browser: Browser, rounds: int) -> list[float]:
    published: list[tuple[str, float]] = []
    stop = device.api.listen(
        lambda e: published.append((e.state.value, time.time() * 1000)), TokenChanged)
    driver = browser.driver
    labels = {"waiting": "Waiting for authorization", "not_retrieved": "Not retrieved"}
    out: list[float] = []
    try:
        await asyncio.to_thread(driver.execute_script, _OBSERVER)
        for i in range(rounds + 2):
            published.clear()
            if i % 2 == 0:
                await device.api.get_token("smtp")
            else:
                await device.api.clear_token("smtp")
            state, at = published[-1]
            shown = await _wait_shown(driver, labels[state])
            if i >= 2:
                out.append(shown - at)
    finally:
        stop()
    return out


async def _wait_shown(driver: Any, label: str, timeout: float = 10.0) -> float:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        shown = await asyncio.to_thread(driver.execute_script,
                                        "const s = window.__shown; window.__shown = []; return s;")
        for text, at in shown:
            if text == label:
                return float(at)
        await asyncio.sleep(0.01)
    raise TimeoutError(f"the page never showed {label!r}")


async def bench_web(quick: bool = False) -> list[WebFigure]:
    """The figures, or one saying why none could be measured (no browser here)."""
    try:
        return await _measure(5 if quick else 15)
    except BrowserUnavailable as exc:
        return [WebFigure("web page in a browser", 0.0, "ms", "—", None, f"not measured: {exc}")]


def main(argv: list[str] | None = None) -> None:
    quick = "--quick" in (argv if argv is not None else sys.argv[1:])
    for f in asyncio.run(bench_web(quick)):
        met = "—" if f.met is None else ("yes" if f.met else "NO")
        print(f"{f.name}: {f.value:.1f} {f.unit} (goal {f.goal}, met {met}; {f.note})")


if __name__ == "__main__":
    main()
