"""The web page in a real headless Chromium (Debian's chromium + chromium-driver, selenium).

One browser, one bench and one device for the whole module (starting Chromium costs a second
or two), on one virtual clock. The browser trusts the bench CA through its own NSS database,
as a user who imported it would: the device's certificate (issued by the bench CA for the
device's key, as in the demo) and the bench's sign-in page load without a warning.

The tests run in order, as a person would use the page: log in (a wrong password first), change
a setting (a bad value first), Get Token and approve on the bench's page in a second tab while
the first tab turns to Retrieved without a reload, a change made on the console showing at
once, Clear, the Italian page, and the lockout. Screenshots of every page go to
`$MFP_WEB_SCREENSHOTS` when set (`docs/img`: docs/web.md), else to a temporary folder.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from mfp_sim.firmware.device import Device
from mfp_sim.firmware.tokens.machine import TokenState
from mfp_sim.firmware.web import DeviceWebServer, web_server
from mfp_sim.hwsim.clock import VirtualClock
from mfp_sim.tools.browser import Browser, browser_problem, open_browser
from mfp_sim.tools.testbed import Testbed

from .conftest import ALICE, sh, wait_for

PROBLEM = browser_problem()
pytestmark = [
    pytest.mark.skipif(bool(PROBLEM), reason=f"no browser for the web page tests: {PROBLEM}"),
    pytest.mark.asyncio(loop_scope="module"),
]


@dataclass
class Site:
    clock: VirtualClock
    bench: Testbed
    device: Device
    web: DeviceWebServer
    browser: Browser
    shots: Path

    @property
    def driver(self) -> Any:
        return self.browser.driver

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """A blocking selenium step in a thread, so the device keeps serving (bounded)."""
        return await asyncio.wait_for(asyncio.to_thread(fn, *args), 30)

    async def open(self, path: str) -> None:
        await self.run(self.driver.get, self.web.url.rstrip("/") + path)

    async def url(self) -> str:
        return str(await self.run(lambda: self.driver.current_url))

    async def text(self, css: str) -> str:
        return str(await self.run(lambda: self.driver.find_element("css selector", css).text))

    async def type(self, css: str, text: str) -> None:
        def do() -> None:
            field = self.driver.find_element("css selector", css)
            field.clear()
            field.send_keys(text)
        await self.run(do)

    async def click(self, css: str) -> None:
        """Click something that stays on the page (no navigation)."""
        await self.run(lambda: self.driver.find_element("css selector", css).click())

    async def submit(self, css: str) -> None:
        """Click a button or link that loads another page, and wait until that page is there.

        The page's script may be replacing the button's part right now (a device event just
        arrived): a click on the replaced button is tried again.
        """
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.support.ui import WebDriverWait

        def do() -> None:
            for _ in range(5):
                self.driver.execute_script("window.__leaving = 1")
                try:
                    self.driver.find_element("css selector", css).click()
                except StaleElementReferenceException:
                    continue
                WebDriverWait(self.driver, 15, poll_frequency=0.05).until(
                    lambda d: d.execute_script("return window.__leaving === undefined && "
                                               "document.readyState === 'complete'"),
                    f"timed out waiting for the page after clicking {css}")
                return
            raise AssertionError(f"{css} kept being replaced: never clicked")
        await self.run(do)

    async def until(self, condition: Callable[[Any], Any], what: str, timeout: float = 10) -> None:
        from selenium.common.exceptions import (
            NoSuchElementException,
            StaleElementReferenceException,
        )
        from selenium.webdriver.support.ui import WebDriverWait

        # The page's script replaces the parts it refreshes: an element may go stale meanwhile.
        ignored = (NoSuchElementException, StaleElementReferenceException)
        await self.run(lambda: WebDriverWait(
            self.driver, timeout, poll_frequency=0.05, ignored_exceptions=ignored).until(
            condition, f"timed out waiting for {what}"))

    async def shot(self, name: str) -> None:
        """The whole page as PNG (the window stretched to the page's height for the shot)."""
        def do() -> None:
            height = self.driver.execute_script(
                "return Math.max(document.body.scrollHeight, 700)")
            self.driver.set_window_size(1280, min(int(height) + 140, 3000))
            self.driver.save_screenshot(str(self.shots / f"web-{name}.png"))
            self.driver.set_window_size(1280, 1000)
        await self.run(do)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    tmp = tmp_path_factory.mktemp("web-browser")
    shots = Path(os.environ.get("MFP_WEB_SCREENSHOTS") or tmp / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    clock = VirtualClock()
    bench = Testbed(tmp / "bench", clock)
    await bench.start()
    device = bench.make_device(tmp / "device")
    await device.start()
    web = web_server(device)
    web.certificate.install(bench.ca.sign_request(web.certificate.csr()))
    await web.start()
    browser = await asyncio.wait_for(asyncio.to_thread(
        open_browser, [bench.ca.ca_pem], leaf_pems=[web.certificate.cert_pem]), 60)
    try:
        yield Site(clock, bench, device, web, browser, shots)
    finally:
        await asyncio.to_thread(browser.close)
        await web.stop()
        await device.stop()
        await bench.stop()


async def test_login_refuses_a_wrong_password_then_lets_the_administrator_in(site: Site):
    await site.open("/settings/smtp")
    assert "/login" in (await site.url())  # every page behind the login
    await site.type("#password", "guess")
    await site.submit("#login")
    assert "The password is not correct" in await site.text("#login-problem")
    await site.shot("login-refused")
    await site.type("#password", "admin")
    await site.submit("#login")
    assert (await site.url()).endswith("/settings/smtp")  # back where the user wanted to go
    assert await site.text("h1") == "SMTP"


async def test_a_bad_value_is_refused_next_to_its_field_and_a_good_one_saved(site: Site):
    await site.type("#field-sender_name", "Front desk")
    await site.type("#field-port", "70000")
    await site.submit("#save")
    assert "is not allowed: a whole number from 1 to 65535" in await site.text("#error-port")
    assert "Not saved" in await site.text("#form-problem")
    assert await site.run(lambda: site.driver.find_element(
        "css selector", "#field-sender_name").get_attribute("value")) == "Front desk"
    assert site.device.api.get("smtp.sender_name") == "MFP-SIM"  # nothing half-saved
    await site.shot("settings-refused")
    await site.type("#field-port", "587")
    await site.submit("#save")
    assert "Saved." in await site.text(".msg")
    assert site.device.api.get("smtp.sender_name") == "Front desk"


async def test_choosing_a_provider_shows_its_presets_at_once(site: Site):
    from selenium.webdriver.support.ui import Select

    await site.run(lambda: Select(site.driver.find_element("id", "field-provider"))
                   .select_by_value("microsoft"))
    value = await site.run(lambda: site.driver.find_element("id", "field-server")
                           .get_attribute("value"))
    assert value == "smtp.office365.com"
    await site.open("/settings/smtp")  # leave without saving: nothing changed
    assert site.device.api.get("smtp.provider") == "local"


async def test_get_token_approved_in_a_second_tab_shows_retrieved_without_a_reload(site: Site):
    await sh(site.device, f"set smtp.account {ALICE}")
    await site.open("/settings/smtp")
    await site.submit("#get-token")
    assert ALICE in await site.text("#question")
    await site.shot("get-token-confirm")
    await site.submit("#confirm-ok")
    code = await site.text("#user-code")
    assert code == site.device.stores["smtp"].status().prompt.user_code
    assert await site.text("#token-label") == "Waiting for authorization"
    await site.shot("get-token-code")
    await site.run(site.driver.execute_script, "window.__same_page = 42")
    first = await site.run(lambda: site.driver.current_window_handle)
    address = await site.run(lambda: site.driver.find_element("id", "verification-uri")
                             .get_attribute("href"))
    await site.run(site.driver.switch_to.new_window, "tab")
    await site.run(site.driver.get, address)
    assert "Enter code" in await site.run(lambda: site.driver.title)
    await site.type("input[name=user_code]", code)
    await site.type("input[name=username]", ALICE)
    await site.type("input[name=password]", "alice-pass-1")
    await site.shot("bench-sign-in")
    await site.submit("button[value=approve]")
    assert "approved the device" in await site.text("body")
    await site.run(site.driver.close)
    await site.run(site.driver.switch_to.window, first)
    await site.clock.advance(5)  # the device polls on its clock
    await wait_for(lambda: site.device.stores["smtp"].state is TokenState.RETRIEVED)
    await site.until(lambda d: d.find_element("id", "token-label").text == "Retrieved",
                     "Retrieved on the page")
    assert await site.run(site.driver.execute_script, "return window.__same_page") == 42
    assert not await site.run(lambda: site.driver.find_elements("id", "user-code"))
    await site.shot("token-retrieved")


async def test_a_change_on_the_console_shows_at_once_and_clear_asks_first(site: Site):
    await sh(site.device, "token smtp clear")
    await site.until(lambda d: d.find_element("id", "token-label").text == "Not retrieved",
                     "the console's Clear on the page")
    assert await site.run(site.driver.execute_script, "return window.__same_page") == 42
    prompt = await site.device.api.get_token("smtp")  # Get Token pressed on the panel
    await site.until(lambda d: d.find_element("id", "user-code").text == prompt.user_code,
                     "the panel's code on the page")
    site.bench.idp.approve(prompt.user_code, ALICE)
    await site.clock.advance(5)
    await site.until(lambda d: d.find_element("id", "token-label").text == "Retrieved",
                     "Retrieved")
    await site.submit("#clear-token")
    assert "Not retrieved" in await site.text("#question")
    await site.submit("#confirm-cancel")  # Cancel keeps the token
    assert site.device.stores["smtp"].state is TokenState.RETRIEVED
    await site.submit("#clear-token")
    await site.submit("#confirm-ok")
    assert await site.text("#token-label") == "Not retrieved"
    assert site.device.stores["smtp"].state is TokenState.NOT_RETRIEVED


async def test_sign_in_with_google_through_the_page_then_refreshed(site: Site):
    """The bench turns into Google (its device flow refuses the mail scope) and the device's
    `google` provider points at it, as a providers file pointing at a test tenant would."""
    google = replace(site.bench.provider(), name="google", display_name="Google (bench)",
                     sign_in="web_page")
    site.device.providers.add(google)
    site.bench.idp.configure({"profile": "google", "access_token_lifetime": 3600})
    store = site.device.stores["smtp"]
    try:
        await sh(site.device, "set smtp.provider google")
        await site.open("/settings/smtp")
        assert await site.text("#sign-in") == "Sign in with Google (bench)"
        assert not await site.run(lambda: site.driver.find_elements("id", "get-token"))
        await site.shot("sign-in-google")
        await site.submit("#sign-in")
        assert "Google (bench)" in await site.text("#question")
        await site.submit("#confirm-ok")
        await site.until(lambda d: d.current_url.startswith(site.bench.idp.authorize_url),
                         "the provider's sign-in page")
        assert "Sign in" in await site.run(lambda: site.driver.title)
        await site.type("input[name=username]", ALICE)
        await site.type("input[name=password]", "alice-pass-1")
        await site.shot("google-sign-in")
        await site.click("button[value=allow]")
        await site.until(lambda d: d.current_url.startswith(site.web.url + "settings/smtp"),
                         "back on the device's page")
        await site.until(lambda d: d.find_element("id", "token-label").text == "Retrieved",
                         "Retrieved")
        assert "Signed in" in await site.text(".msg")
        assert store.state is TokenState.RETRIEVED
        assert site.bench.stats.token_requests("authorization_code", ALICE) == 1
        await site.shot("sign-in-retrieved")
        before = site.bench.stats.token_requests("refresh_token", ALICE)
        await site.clock.advance(3600)  # refreshed on the device clock like any other token
        await wait_for(lambda: site.bench.stats.token_requests("refresh_token", ALICE) > before,
                       what="the refresh")
        assert store.state is TokenState.RETRIEVED
        # an hour idle ended the web session (10 minutes): the page went to the login
        await site.until(lambda d: d.find_element("id", "password"), "the login page")
        await site.type("#password", "admin")
        await site.submit("#login")
        await site.open("/settings/smtp")
        assert await site.text("#token-label") == "Retrieved"
    finally:
        await sh(site.device, "token smtp clear")
        await sh(site.device, "set smtp.provider local")
        site.bench.idp.configure({"profile": "entra"})


async def test_every_page_for_the_record(site: Site):
    site.device.tray.print_document("R0001", "fax", _png(), "png")
    await site.run(site.driver.get_log, "browser")  # what earlier tests left (refused logins)
    for path, name in (("/status", "status"), ("/jobs", "jobs"), ("/tray", "tray"),
                       ("/settings/device", "device-settings"),
                       ("/settings/pop.ifax", "ifax-server-settings"),
                       ("/settings/pop.emailprint", "email-print"),
                       ("/settings/scan_to_email", "scan-smtp-authentication"),
                       ("/security", "security"), ("/logs", "logs")):
        await site.open(path)
        assert await site.text("h1")
        logged = await site.run(site.driver.get_log, "browser")
        assert logged == [], logged  # no CSP violation, no script error, nothing missing
        await site.shot(name)
    await site.open("/settings/pop.ifax")
    await site.submit("#connection-test")
    assert await site.text("#test-result")
    await site.shot("connection-test")


async def test_the_italian_page(site: Site):
    await sh(site.device, "set device.language it")
    try:
        await site.open("/settings/smtp")
        assert await site.text(".token-buttons #get-token") == "Recupera Token"
        nav = await site.text("nav")
        for words in ("Impostazioni di sistema", "Setup Servizi", "Imp. server", "Stato lavori"):
            assert words in nav
        assert "Server primario" in await site.text("#settings-form")
        await site.shot("settings-it")
    finally:
        await sh(site.device, "set device.language en")


async def test_the_login_locks_after_wrong_passwords(site: Site):
    await site.submit(".logout button")
    await site.until(lambda d: d.find_element("id", "password"), "the login page")
    for seconds in (0, 0, 2, 4, 8):  # each wait as long as the page asked for
        await site.clock.advance(seconds)
        await site.type("#password", "guess")
        await site.submit("#login")
        assert "The password is not correct" in await site.text("#login-problem")
    assert "locked for 5 minutes" in await site.text("#login-problem")
    await site.type("#password", "admin")  # even the right password, until the time is up
    await site.submit("#login")
    assert "locked for 5 more minute(s)" in await site.text("#login-problem")
    await site.shot("login-locked")
    await site.clock.advance(300)
    await site.type("#password", "admin")
    await site.submit("#login")
    assert (await site.url()).endswith("/status")


def _png() -> bytes:
    import io

    from PIL import Image, ImageDraw

    image = Image.new("L", (240, 320), 255)
    draw = ImageDraw.Draw(image)
    draw.rectangle((20, 20, 220, 60), outline=0)
    draw.text((30, 30), "Internet Fax page 1", fill=0)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
