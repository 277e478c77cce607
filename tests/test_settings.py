"""Settings: refused with what is allowed, never half-saved, kept across restarts; providers."""

from __future__ import annotations

from pathlib import Path

import pytest

from mfp_sim.firmware.errors import ProviderError
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
    ("set smtp.sender_name 'a\x07b'", "control characters"),
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


async def test_admin_password_check(device):
    assert device.api.check_admin_password("admin")
    assert not device.api.check_admin_password("Admin")
    assert (await sh(device, "set device.admin_password s3cret!"))["_ok"]
    assert device.api.check_admin_password("s3cret!")
    assert not (await sh(device, "set device.admin_password abc"))["_ok"]


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


@pytest.mark.parametrize("text, words", [
    ("[providers.x]\nauthority = 'http://insecure'\nclient_id='a'\nscopes={smtp=['s']}", "https://"),
    ("[providers.x]\nclient_id='a'", "needs"),
    ("[providers.microsoft]\nbogus = 1", "unknown keys"),
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
