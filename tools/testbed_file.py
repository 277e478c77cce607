"""`testbed.json`: how a device and a script find a running bench, read without starting one.

`mfp-sim testbed` writes it; `mfp-sim device --testbed`, the scenario runner and the HIL
fixtures read it. This module imports nothing of the bench's servers (aiohttp, authlib,
aiosmtpd), so a device process that only reads the file starts quickly.

    {"issuer", "ca_file", "control_url", "verification_uri", "client_id", "scopes",
     "ports": {"idp", "smtp", "smtps", "pop3", "pop3s"}, "maildir_root", "mail_viewer", "policy",
     "state_dir"}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mfp_sim.firmware.providers import Provider, ServerPreset
from mfp_sim.firmware.settings import Security

__all__ = ["TestbedError", "load_testbed", "local_provider"]


class TestbedError(Exception):
    """testbed.json is missing, unreadable, or not one `mfp-sim testbed` wrote."""


def load_testbed(path: Path) -> dict[str, Any]:
    try:
        info = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise TestbedError(f"cannot read {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise TestbedError(f"{path} is not JSON: {exc}") from exc
    missing = {"issuer", "ca_file", "client_id", "scopes"} - set(info)
    if missing:
        raise TestbedError(f"{path} lacks {sorted(missing)}: is it a testbed.json written by mfp-sim testbed?")
    return dict(info)


def local_provider(info: dict[str, Any]) -> Provider:
    """The `local` provider record a device uses to talk to this bench."""
    ports = info.get("ports", {})
    host = str(info.get("host", "127.0.0.1"))
    presets: dict[str, ServerPreset] = {}
    if "smtp" in ports:
        presets["smtp"] = ServerPreset(host, int(ports["smtp"]), Security.STARTTLS)
    if "pop3s" in ports:
        presets["pop"] = ServerPreset(host, int(ports["pop3s"]), Security.SSL)
    profile = str(info.get("idp_profile", info.get("policy", "entra")))
    google = profile == "google"  # the bench stands in for Google: no device flow for mail
    return Provider(
        name="local",
        display_name="Google (bench)" if google else "Bench identity provider",
        authority=str(info["issuer"]),
        authority_kind="oidc",
        client_id=str(info["client_id"]),
        scopes={k: tuple(v) for k, v in dict(info["scopes"]).items()},
        presets=presets,
        note=f"profile {profile}",
        sign_in="web_page" if google else "device_code",
    )
