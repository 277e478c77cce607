"""The device web page: admin login, token states, Clear with confirmation, no secrets shown."""

from __future__ import annotations

import asyncio
import re

import pytest
import requests

from mfp_sim.firmware.tokens.machine import TokenState
from mfp_sim.firmware.webpage import DeviceWebPage

from .conftest import ALICE, obtain_token


@pytest.fixture
async def web(device):
    page = DeviceWebPage(device.api)
    await page.start()
    yield page
    await page.stop()


def _session() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    return s


async def _call(fn, *args, **kwargs) -> requests.Response:
    return await asyncio.to_thread(fn, *args, timeout=10, **kwargs)


def _csrf(page: str) -> str:
    match = re.search(r"name='csrf' value='([^']+)'", page)
    assert match, page
    return match.group(1)


async def test_clear_from_the_web_page_after_login_and_confirmation(device, bench, clock, web):
    await obtain_token(device, bench, clock)
    token = device.stores["smtp"]._access_token
    s = _session()
    assert "Administrator login" in (await _call(s.get, web.url + "tokens")).text  # login first
    refused = await _call(s.post, web.url + "login", data={"password": "wrong"})
    assert refused.status_code == 401 and "not correct" in refused.text
    page = await _call(s.post, web.url + "login", data={"password": "admin"})
    assert page.status_code == 200 and "Retrieved" in page.text and ALICE in page.text
    assert token not in page.text and token[:40] not in page.text
    confirm = await _call(s.post, web.url + "tokens/confirm", data={"csrf": _csrf(page.text), "store": "smtp"})
    assert "Delete the token of <b>smtp</b>?" in confirm.text
    assert device.stores["smtp"].state is TokenState.RETRIEVED  # nothing happens before OK
    done = await _call(s.post, web.url + "tokens/clear", data={"csrf": _csrf(confirm.text), "store": "smtp", "ok": "1"})
    assert "was cleared" in done.text and device.stores["smtp"].state is TokenState.NOT_RETRIEVED


async def test_forged_or_bad_forms_change_nothing(device, bench, clock, web):
    await obtain_token(device, bench, clock)
    s = _session()
    page = await _call(s.post, web.url + "login", data={"password": "admin"})
    forged = await _call(s.post, web.url + "tokens/clear", data={"csrf": "guess", "store": "smtp", "ok": "1"})
    assert forged.status_code == 403
    odd = await _call(s.post, web.url + "tokens/confirm", data={"csrf": _csrf(page.text), "store": "<script>"})
    assert "Unknown setting" in odd.text and "<script>" not in odd.text
    stranger = _session()
    anonymous = await _call(stranger.post, web.url + "tokens/clear", data={"store": "smtp", "ok": "1"})
    assert "Administrator login" in anonymous.text
    assert device.stores["smtp"].state is TokenState.RETRIEVED


async def test_sessions_expire_on_the_device_clock(device, clock, web):
    s = _session()
    await _call(s.post, web.url + "login", data={"password": "admin"})
    assert "OAuth 2.0 tokens" in (await _call(s.get, web.url + "tokens")).text
    await clock.advance(601)
    assert "Administrator login" in (await _call(s.get, web.url + "tokens")).text
