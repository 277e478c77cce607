"""A real headless Chromium for the web page's tests and benchmark (Debian's chromium and
chromium-driver, driven by selenium), trusting the bench CA the way a user who imported it
would.

Trust: the CA goes into the browser's own NSS database (`certutil`, from libnss3-tools) under
a fresh home folder, so Chromium checks the device's certificate as it would on a desktop that
imported the bench CA: no `--ignore-certificate-errors`. Without certutil, Chromium is told to
accept the listed certificates' keys only (`--ignore-certificate-errors-spki-list`), and
`Browser.trust` says so.

Each browser gets a fresh profile (`--user-data-dir`) and home; nothing is shared with the
user's own browser, and everything goes when `close()` is called.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = ["Browser", "BrowserUnavailable", "browser_problem", "open_browser"]

#: The flags every test and benchmark browser runs with: headless, no sandbox (containers run
#: as root), no GPU, nothing fetched in the background, no first-run screens.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-dev-shm-usage", "--window-size=1280,1000", "--lang=en-US")


class BrowserUnavailable(Exception):
    """Chromium or its driver is missing, or would not start: the reason, in words."""


def _which(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def browser_problem() -> str:
    """Why a browser cannot run here ("" when it can): for a clear skip reason."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    if _which("chromium", "chromium-browser") is None:
        return "Debian's chromium is not installed (make browser-deps, as root)"
    if _which("chromedriver") is None:
        return "Debian's chromium-driver is not installed (make browser-deps, as root)"
    return ""


def _spki(pem: bytes) -> str:
    cert = x509.load_pem_x509_certificate(pem)
    der = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


@dataclass
class Browser:
    driver: Any  # selenium.webdriver.Chrome
    trust: str  # how the bench CA is trusted: "nss" or "spki-list"
    folder: Path

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def _nss(home: Path, ca_pems: Iterable[bytes]) -> bool:
    certutil = _which("certutil")
    if certutil is None:
        return False
    db = home / ".pki" / "nssdb"
    db.mkdir(parents=True)
    run = [certutil, "-d", f"sql:{db}"]
    subprocess.run([*run, "-N", "--empty-password"], check=True, capture_output=True, timeout=30)
    for i, pem in enumerate(ca_pems):
        path = home / f"ca-{i}.pem"
        path.write_bytes(pem)
        subprocess.run([*run, "-A", "-t", "C,,", "-n", f"mfp-sim bench CA {i}", "-i", str(path)],
                       check=True, capture_output=True, timeout=30)
    return True


def open_browser(ca_pems: Iterable[bytes], *, leaf_pems: Iterable[bytes] = ()) -> Browser:
    """A headless Chromium trusting `ca_pems`; `leaf_pems` are the server certificates to
    accept when the CA cannot be imported (no certutil)."""
    problem = browser_problem()
    if problem:
        raise BrowserUnavailable(problem)
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    folder = Path(tempfile.mkdtemp(prefix="mfp-browser-"))
    home = folder / "home"
    home.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = str(_which("chromium", "chromium-browser"))
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={folder / 'profile'}")
    trust = "nss" if _nss(home, list(ca_pems)) else "spki-list"
    if trust == "spki-list":
        options.add_argument("--ignore-certificate-errors-spki-list="
                             + ",".join(_spki(p) for p in leaf_pems))
    env = {**os.environ, "HOME": str(home)}
    env.pop("SSLKEYLOGFILE", None)
    service = Service(executable_path=str(_which("chromedriver")), env=env)
    try:
        driver = webdriver.Chrome(options=options, service=service)
    except WebDriverException as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise BrowserUnavailable(f"Chromium would not start: {exc.msg}") from exc
    driver.set_page_load_timeout(20)
    driver.set_script_timeout(20)
    return Browser(driver, trust, folder)
