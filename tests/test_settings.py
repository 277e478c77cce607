"""Settings: refused with what is allowed, never half-saved, kept across restarts; providers."""

from __future__ import annotations

from pathlib import Path

import pytest

from mfp_sim.firmware.errors import ProviderError, SettingsError
from mfp_sim.firmware.providers import ProviderRegistry
from mfp_sim.firmware.settings import SettingsErrors

from .conftest import sh


@pytest.mark.parametrize("line, words", [
    ("set smtp.port 0", "a whole number from 1 to 65535"),
    ("set smtp.port 70000", "a whole number from 1 to 65535"),
    ("set smtp.port eleven", "a whole number from 1 to 65535"),
    ("set smtp.server ''", "a server is required"),
    ("set smtp.server 'bad host'", "is not a host name"),
    ("set smtp.sender_address alice@", "is not an e-mail address"),
    ("set smtp.sender_address no-at-sign.example", "is not an e-mail address"),
    ("set pop.ifax.check_interval 0", "from 1 to 240 minutes"),
    ("set pop.ifax.check_interval 241", "from 1 to 240 minutes"),
    ("set smtp.provider nosuch", "unknown provider 'nosuch': one of"),
    ("set smtp.security tls", "one of off|starttls|ssl"),
    ("set smtp.auth oauth", "one of none|plain|login|oauth2"),
    ("set pop.emailprint.auth login", "not allowed for POP3: one of plain|oauth2"),
    ("set pop.ifax.leave_copy maybe", "on or off"),
    ("set smtp.nosuch 1", "smtp has: server, port"),
    ("set fax.port 1", "unknown setting"),
    ("set device.language fr", "one of en|it"),
    ("set smtp.sender_name 'a\x07b'", "control character"),
])
async def test_bad_values_are_refused_with_what_is_allowed(device, line, words):
    before = await sh(device, "settings")
    reply = await sh(device, line)
    assert not reply["_ok"] and words in reply["_err"], reply["_err"]
    assert await sh(device, "settings") == before


async def test_a_form_with_one_bad_field_saves_nothing(device):
    with pytest.raises(SettingsErrors) as info:
        await device.api.update("smtp", {"server": "mail.example.com", "port": "0", "timeout": "999"})
    assert {e.key for e in info.value.errors} == {"smtp.port", "smtp.timeout"}
    assert device.api.get("smtp.server") == ""


async def test_choosing_a_provider_fills_its_presets(device):
    reply = await sh(device, "set smtp.provider microsoft")
    assert reply["smtp.server"] == "smtp.office365.com"
    assert device.api.get("smtp.port") == "587" and device.api.get("smtp.security") == "starttls"
    await sh(device, "set pop.ifax.provider microsoft")
    assert [device.api.get(f"pop.ifax.{k}") for k in ("server", "port", "security")] == \
        ["outlook.office365.com", "995", "ssl"]


async def test_settings_survive_a_restart_and_passwords_are_sealed(tmp_path, make_device):
    device = await make_device("s")
    await sh(device, "set smtp.password Sup3rSecretPw")
    await sh(device, "set smtp.sender_name 'Front Office'")
    await sh(device, "set pop.emailprint.leave_copy on")
    assert (await sh(device, "get smtp.password"))["smtp.password"] == "********"
    await device.stop()
    assert b"Sup3rSecretPw" not in (tmp_path / "s" / "nvram.sqlite").read_bytes()
    again = await make_device("s2", nvram_dir=tmp_path / "s")
    assert again.api.get("smtp.sender_name") == "Front Office"
    assert again.api.get("pop.emailprint.leave_copy") == "on"
    assert again.settings.smtp().password == "Sup3rSecretPw"


async def test_admin_password_changes_only_with_the_current_one(device):
    device.api.guard.delay = 0  # the attempt limit has its own tests (test_console_access)
    assert device.api.check_admin_password("admin")
    assert not device.api.check_admin_password("Admin")
    refused = await sh(device, "set device.admin_password s3cret!")
    assert not refused["_ok"] and "password <current> <new>" in refused["_err"]
    assert device.api.check_admin_password("admin")
    wrong = await sh(device, "password Admin s3cret!")
    assert not wrong["_ok"] and "current administrator password is not correct" in wrong["_err"]
    assert (await sh(device, "password admin s3cret!"))["_ok"]
    assert device.api.check_admin_password("s3cret!")
    short = await sh(device, "password s3cret! abc")
    assert not short["_ok"] and "4 to 64 printable characters" in short["_err"]
    assert device.api.check_admin_password("s3cret!")
    # The panel's form goes through the same API: refused without the current password.
    with pytest.raises(SettingsError, match="password <current> <new>"):
        await device.api.update("device", {"admin_password": "other-pw"})
    await device.api.update("device", {"admin_password": "other-pw", "name": "Front"},
                            current_password="s3cret!")
    assert device.api.check_admin_password("other-pw") and device.settings.device().name == "Front"


def test_providers_file_adds_and_overrides(tmp_path: Path):
    path = tmp_path / "providers.toml"
    path.write_text('''
[providers.microsoft]
client_id = "11111111-2222-3333-4444-555555555555"

[providers.keycloak]
display_name = "Company Keycloak"
authority = "https://sso.example.com/realms/office"
client_id = "mfp"
scopes = { smtp = ["smtp.send"], pop = ["pop.read"] }
sign_in = "web_page"
[providers.keycloak.presets.smtp]
server = "mail.example.com"
port = 465
security = "ssl"
''')
    registry = ProviderRegistry()
    assert registry.load_toml(path) == ["microsoft", "keycloak"]
    ms = registry.get("microsoft")
    assert ms.client_id.startswith("1111") and ms.authority.startswith("https://login.microsoftonline.com")
    kc = registry.get("keycloak")
    assert kc.authority_kind == "oidc" and kc.presets["smtp"].port == 465
    assert kc.web_sign_in and not ms.web_sign_in
    assert registry.get("google").sign_in == "web_page"  # built in: Google refuses device flows


@pytest.mark.parametrize("text, words", [
    ("[providers.x]\nauthority = 'http://insecure'\nclient_id='a'\nscopes={smtp=['s']}", "https://"),
    ("[providers.x]\nclient_id='a'", "needs"),
    ("[providers.microsoft]\nbogus = 1", "unknown keys"),
    ("[providers.microsoft]\nsign_in = 'browser'", "sign_in must be one of device_code, web_page"),
    ("[providers.microsoft.presets.smtp]\nserver='a'\nport=0", "1..65535"),
    ("not toml [", "not valid TOML"),
    ("[other]\na=1", "no [providers.NAME] tables"),
])
def test_bad_providers_file_is_refused_and_changes_nothing(tmp_path: Path, text, words):
    path = tmp_path / "p.toml"
    path.write_text("[providers.ok]\nauthority='https://a.example/x'\nclient_id='c'\nscopes={smtp=['s']}\n"
                    + text if text.startswith("[providers") else text)
    registry = ProviderRegistry()
    with pytest.raises(ProviderError, match=words.replace("[", r"\[").replace(".", r"\.")):
        registry.load_toml(path)
    assert "ok" not in registry and registry.get("microsoft").client_id == ""


# -------------------------------------------------- what a message header cannot carry
_UNCARRIABLE = [("\u2028", "U+2028 (LINE SEPARATOR)"), ("\u2029", "U+2029 (PARAGRAPH SEPARATOR)"),
                ("\x85", "U+0085 (NEXT LINE)"), ("\x00", "U+0000"), ("\r", "U+000D"),
                ("\u200b", "U+200B (ZERO WIDTH SPACE)"),
                ("\u202e", "U+202E (RIGHT-TO-LEFT OVERRIDE)"), ("\ufeff", "U+FEFF")]


@pytest.mark.parametrize("key", ["smtp.sender_name", "device.name", "smtp.user",
                                 "pop.ifax.user", "smtp.password"])
@pytest.mark.parametrize(("char", "named"), _UNCARRIABLE)
async def test_settings_refuse_what_a_header_cannot_carry(device, key, char, named):
    section, name = key.rsplit(".", 1)
    before = device.api.settings_items(section)
    with pytest.raises(SettingsError) as refused:
        await device.api.update(section, {name: f"Front{char}Office"})  # the panel's and web's way
    message = str(refused.value)
    assert message.startswith(f"{key}: {named}") and "at position 6 is not allowed" in message
    assert "one-line printable text" in message  # the allowed form
    assert device.api.settings_items(section) == before


async def test_what_the_settings_accept_makes_a_message_and_what_they_refuse_would_not(device):
    import dataclasses
    import email
    import email.policy

    from mfp_sim.firmware.mail.outgoing import compose_scan

    await device.api.update("smtp", {"sender_address": "mfp@example.test",
                                     "sender_name": "Büro – Empfang 📠 «Front»"})
    cfg = device.settings.smtp()
    out = await compose_scan(device.scanner, cfg, job_id="1", to="bob@example.test", pages=1,
                             fmt="pdf", now=device.clock.now())
    sent = email.message_from_bytes(out.message, policy=email.policy.default)
    assert sent["From"].addresses[0].display_name == "Büro – Empfang 📠 «Front»"
    # The value the settings now refuse is the one that broke every send (issue 13, item 8).
    with pytest.raises(ValueError, match="linefeed"):
        await compose_scan(device.scanner, dataclasses.replace(cfg, sender_name="A\u2028B"),
                           job_id="2", to="bob@example.test", pages=1, fmt="pdf",
                           now=device.clock.now())
