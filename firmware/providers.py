"""OAuth providers as data.

A provider record says where to sign in (authority), which client the device is registered as,
which scopes each service needs, and the mail servers that go with it. Choosing a provider on
the panel fills the SMTP or POP server, port and security from its presets.

Built in: `microsoft` (real Entra ID; a client id comes from a providers file, since every
organisation registers its own app), `google` (real endpoints; Google's device flow refuses the
mail scope, and the device shows that refusal), and `local`, the bench's identity provider,
filled in from `testbed.json`. QA adds or overrides providers with a TOML file
(docs/providers.md).

`sign_in` says how the device obtains a token from a provider: `device_code` (the device-code
flow, from the panel, the console or the web page) or `web_page` (the authorization-code flow
with PKCE through the device's web page, `tokens.auth_code`): Google's device flow refuses the
mail scope, so a device gets a Gmail token only through a browser.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from .errors import ProviderError
from .settings import Security
from .vocabulary import Service

__all__ = ["ServerPreset", "Provider", "ProviderRegistry", "BUILTIN_PROVIDERS", "SignIn", "SIGN_INS"]


AuthorityKind = Literal["entra", "oidc"]
SignIn = Literal["device_code", "web_page"]
SIGN_INS: tuple[SignIn, ...] = ("device_code", "web_page")


@dataclass(frozen=True)
class ServerPreset:
    server: str
    port: int
    security: Security


@dataclass(frozen=True)
class Provider:
    name: str
    display_name: str
    authority: str
    authority_kind: AuthorityKind
    client_id: str
    scopes: Mapping[str, tuple[str, ...]]
    presets: Mapping[str, ServerPreset] = field(default_factory=dict)
    note: str = ""
    sign_in: SignIn = "device_code"

    @property
    def web_sign_in(self) -> bool:
        """Tokens come only through the web page's browser sign-in (module docstring)."""
        return self.sign_in == "web_page"

    def scopes_for(self, service: Service) -> list[str]:
        return list(self.scopes.get(service, ()))


MICROSOFT = Provider(
    name="microsoft",
    display_name="Microsoft 365",
    authority="https://login.microsoftonline.com/organizations",
    authority_kind="entra",
    client_id="",
    scopes={
        "smtp": ("https://outlook.office.com/SMTP.Send",),
        "pop": ("https://outlook.office.com/POP.AccessAsUser.All",),
    },
    presets={
        "smtp": ServerPreset("smtp.office365.com", 587, Security.STARTTLS),
        "pop": ServerPreset("outlook.office365.com", 995, Security.SSL),
    },
    note="needs the client id of your organisation's app registration (providers file)",
)

GOOGLE = Provider(
    name="google",
    display_name="Google Workspace",
    authority="https://accounts.google.com",
    authority_kind="oidc",
    client_id="",
    scopes={"smtp": ("https://mail.google.com/",), "pop": ("https://mail.google.com/",)},
    presets={
        "smtp": ServerPreset("smtp.gmail.com", 587, Security.STARTTLS),
        "pop": ServerPreset("pop.gmail.com", 995, Security.SSL),
    },
    note="Google's device flow does not grant mail scopes (it answers invalid_scope): "
         "sign in through the device's web page",
    sign_in="web_page",
)

BUILTIN_PROVIDERS: tuple[Provider, ...] = (MICROSOFT, GOOGLE)


def _security(name: str, value: Any) -> Security:
    try:
        return Security(str(value))
    except ValueError:
        raise ProviderError(f"provider {name!r}: security {value!r} is not one of off|starttls|ssl") from None


def provider_from_mapping(name: str, data: Mapping[str, Any], base: Provider | None = None) -> Provider:
    """Build a provider from a TOML table; keys absent from the table keep `base`'s values."""
    allowed = {"display_name", "authority", "authority_kind", "client_id", "scopes", "presets", "note",
               "sign_in"}
    unknown = set(data) - allowed
    if unknown:
        raise ProviderError(f"provider {name!r}: unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")
    values: dict[str, Any] = {}
    for key in ("display_name", "authority", "client_id", "note"):
        if key in data:
            if not isinstance(data[key], str):
                raise ProviderError(f"provider {name!r}: {key} must be a string")
            values[key] = data[key]
    if "authority_kind" in data:
        if data["authority_kind"] not in ("entra", "oidc"):
            raise ProviderError(f"provider {name!r}: authority_kind must be 'entra' or 'oidc'")
        values["authority_kind"] = data["authority_kind"]
    if "sign_in" in data:
        if data["sign_in"] not in SIGN_INS:
            raise ProviderError(f"provider {name!r}: sign_in must be one of {', '.join(SIGN_INS)}")
        values["sign_in"] = data["sign_in"]
    if "scopes" in data:
        scopes = data["scopes"]
        if not isinstance(scopes, Mapping) or not all(
            k in ("smtp", "pop") and isinstance(v, list) and all(isinstance(s, str) for s in v)
            for k, v in scopes.items()
        ):
            raise ProviderError(f"provider {name!r}: scopes must be a table smtp = [..], pop = [..] of strings")
        values["scopes"] = {k: tuple(v) for k, v in scopes.items()}
    if "presets" in data:
        presets: dict[str, ServerPreset] = {}
        for service, p in dict(data["presets"]).items():
            if service not in ("smtp", "pop") or not isinstance(p, Mapping):
                raise ProviderError(f"provider {name!r}: presets are tables [presets.smtp] and [presets.pop]")
            port = p.get("port")
            if not isinstance(port, int) or not 1 <= port <= 65535:
                raise ProviderError(f"provider {name!r}: presets.{service}.port must be 1..65535")
            if not isinstance(p.get("server"), str) or not p["server"]:
                raise ProviderError(f"provider {name!r}: presets.{service}.server must be a host name")
            presets[service] = ServerPreset(p["server"], port, _security(name, p.get("security", "ssl")))
        values["presets"] = presets
    if base is not None:
        return replace(base, **values)
    missing = {"authority", "client_id", "scopes"} - set(values)
    if missing:
        raise ProviderError(f"new provider {name!r} needs {sorted(missing)}")
    if not values["authority"].startswith("https://"):
        raise ProviderError(f"provider {name!r}: authority must be an https:// address")
    values.setdefault("display_name", name)
    values.setdefault("authority_kind", "oidc")
    return Provider(name=name, **values)


class ProviderRegistry:
    """The providers a device knows, by name."""

    def __init__(self, providers: Iterable[Provider] = BUILTIN_PROVIDERS) -> None:
        self._by_name = {p.name: p for p in providers}

    def add(self, provider: Provider) -> None:
        self._by_name[provider.name] = provider

    def get(self, name: str) -> Provider:
        try:
            return self._by_name[name]
        except KeyError:
            raise ProviderError(f"unknown provider {name!r}: one of {', '.join(self.names())}") from None

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def load_toml(self, path: Path) -> list[str]:
        """Add or override providers from a TOML file: one `[providers.NAME]` table each."""
        try:
            doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ProviderError(f"cannot read providers file {path}: {exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ProviderError(f"providers file {path} is not valid TOML: {exc}") from exc
        table = doc.get("providers")
        if not isinstance(table, dict) or not table:
            raise ProviderError(f"providers file {path} has no [providers.NAME] tables")
        built = [
            provider_from_mapping(name, data, self._by_name.get(name))
            for name, data in table.items()
        ]
        for p in built:  # only after every table parsed: a bad file changes nothing
            self.add(p)
        return [p.name for p in built]
