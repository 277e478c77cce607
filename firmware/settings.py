"""Settings as frozen, validated value objects, and the field table that parses them.

Values enter as text (panel fields, console `set`, web form, providers file). Each field's
parser either returns a typed value or raises `SettingsError` saying what is allowed, so a bad
value is refused at the edge and a settings object that exists is always valid.

A `Section` binds a name to a value type and its field table: `DEVICE` here (name, language,
administrator password), and one per mail context (`firmware.contexts`: the SMTP setting and
each POP setting), so a new context reuses `SMTP_FIELDS` or `POP_FIELDS` as they are.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from .errors import SettingsError

__all__ = [
    "Security", "AuthMethod", "Language", "DeviceSettings", "SmtpSettings", "PopSettings",
    "Field", "Section", "SettingsErrors", "DEVICE", "DEVICE_FIELDS", "SMTP_FIELDS", "POP_FIELDS",
    "parse_address",
]


class Security(StrEnum):
    OFF = "off"
    STARTTLS = "starttls"
    SSL = "ssl"


class AuthMethod(StrEnum):
    NONE = "none"
    PLAIN = "plain"
    LOGIN = "login"
    OAUTH2 = "oauth2"


class Language(StrEnum):
    EN = "en"
    IT = "it"


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\.?$")
_LOCAL_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")


def _host(key: str, text: str) -> str:
    value = text.strip()
    if not value:
        raise SettingsError(key, "a server is required: a host name (mail.example.com) or IP address")
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    if len(value) > 253 or not _HOST_RE.match(value):
        raise SettingsError(
            key, f"{value!r} is not a host name: use letters, digits, '-' and '.', up to 253 characters"
        )
    return value


def _int_range(lo: int, hi: int, unit: str = "") -> Callable[[str, str], int]:
    def parse(key: str, text: str) -> int:
        try:
            value = int(text.strip(), 10)
        except ValueError:
            value = None
        if value is None or not lo <= value <= hi:
            raise SettingsError(key, f"{text!r} is not allowed: a whole number from {lo} to {hi}{unit}")
        return value
    return parse


def _address(key: str, text: str, *, required: bool) -> str:
    value = text.strip()
    if not value and not required:
        return ""
    local, at, domain = value.rpartition("@")
    ok = (
        at == "@" and 0 < len(local) <= 64 and len(value) <= 254 and bool(_LOCAL_RE.match(local))
        and bool(_HOST_RE.match(domain))
    )
    if not ok:
        raise SettingsError(key, f"{value!r} is not an e-mail address: use name@domain, e.g. mfp@example.com")
    return value


def parse_address(key: str, text: str) -> str:
    """An address typed anywhere (a recipient on the panel or console), checked like settings are."""
    return _address(key, text, required=True)


#: Unicode categories a text setting may not hold: controls (NUL, LF, U+0085 NEL…),
#: invisible format characters (U+200B, U+202E…), and line and paragraph separators (U+2028,
#: U+2029). A header field carrying one would break every message (RFC 5322 headers are one
#: line of printable text; Python's e-mail package refuses them at send time), and a person
#: reading the value could not see it.
_UNPRINTABLE = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co"}
_NAMED = {0x85: "NEXT LINE", 0x2028: "LINE SEPARATOR", 0x2029: "PARAGRAPH SEPARATOR"}


def _unprintable(key: str, text: str, allowed: str) -> None:
    for i, c in enumerate(text):
        if unicodedata.category(c) in _UNPRINTABLE:
            name = _NAMED.get(ord(c)) or unicodedata.name(c, "a control character")
            raise SettingsError(key, f"U+{ord(c):04X} ({name}) at position {i + 1} is not "
                                     f"allowed: {allowed}")


def _text(limit: int) -> Callable[[str, str], str]:
    allowed = (f"up to {limit} characters of one-line printable text (letters, digits, spaces, "
               "punctuation; no control, format or line-separator characters)")

    def parse(key: str, text: str) -> str:
        if len(text) > limit:
            raise SettingsError(key, f"too long: at most {limit} characters")
        _unprintable(key, text, allowed)
        return text
    return parse


def _choice(enum: type[StrEnum]) -> Callable[[str, str], Any]:
    def parse(key: str, text: str) -> Any:
        try:
            return enum(text.strip().lower())
        except ValueError:
            allowed = "|".join(m.value for m in enum)
            raise SettingsError(key, f"{text!r} is not allowed: one of {allowed}") from None
    return parse


_TRUE = {"on", "yes", "true", "1"}
_FALSE = {"off", "no", "false", "0"}


def _bool(key: str, text: str) -> bool:
    t = text.strip().lower()
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    raise SettingsError(key, f"{text!r} is not allowed: on or off")


def _provider(key: str, text: str) -> str:
    value = text.strip().lower()
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,31}", value):
        raise SettingsError(key, f"{text!r} is not a provider name")
    return value


def _admin_password(key: str, text: str) -> str:
    allowed = "the administrator password must be 4 to 64 printable characters"
    if not 4 <= len(text) <= 64:
        raise SettingsError(key, allowed)
    _unprintable(key, text, allowed)
    return text


@dataclass(frozen=True)
class Field:
    """One setting: how to parse it from text, what is allowed, whether it is a secret."""

    name: str
    parse: Callable[[str, str], Any]
    allowed: str
    secret: bool = False


_SERVER = Field("server", _host, "host name or IP address")
_ACCOUNT = Field("account", lambda k, t: _address(k, t, required=False), "e-mail address of the OAuth account")
_USER = Field("user", _text(255), "user name (often the full e-mail address)")
_PASSWORD = Field("password", _text(255), "password or 16-letter app password", secret=True)
_PROVIDER = Field("provider", _provider, "a provider name (see `providers`)")

SMTP_FIELDS: tuple[Field, ...] = (
    _SERVER,
    Field("port", _int_range(1, 65535), "1..65535"),
    Field("timeout", _int_range(1, 300, " seconds"), "1..300 seconds"),
    Field("sender_name", _text(64), "up to 64 characters"),
    Field("sender_address", lambda k, t: _address(k, t, required=True), "e-mail address"),
    Field("security", _choice(Security), "off|starttls|ssl"),
    Field("auth", _choice(AuthMethod), "none|plain|login|oauth2"),
    _USER, _PASSWORD, _PROVIDER, _ACCOUNT,
)

POP_FIELDS: tuple[Field, ...] = (
    Field("enabled", _bool, "on|off (receive automatically)"),
    _SERVER,
    Field("port", _int_range(1, 65535), "1..65535"),
    Field("check_interval", _int_range(1, 240, " minutes"), "1..240 minutes"),
    Field("security", _choice(Security), "off|starttls|ssl"),
    Field("auth", _choice(AuthMethod), "plain|oauth2"),
    _USER, _PASSWORD, _PROVIDER, _ACCOUNT,
    Field("leave_copy", _bool, "on|off (leave a copy on the server)"),
    Field("timeout", _int_range(1, 300, " seconds"), "1..300 seconds"),
)

DEVICE_FIELDS: tuple[Field, ...] = (
    Field("name", _text(32), "up to 32 characters"),
    Field("language", _choice(Language), "en|it"),
    Field("admin_password", _admin_password, "4..64 printable characters", secret=True),
)


@dataclass(frozen=True)
class DeviceSettings:
    name: str = "MFP-SIM"
    language: Language = Language.EN
    admin_password: str = "admin"


@dataclass(frozen=True)
class SmtpSettings:
    server: str = ""
    port: int = 587
    timeout: int = 20
    sender_name: str = "MFP-SIM"
    sender_address: str = ""
    security: Security = Security.STARTTLS
    auth: AuthMethod = AuthMethod.NONE
    user: str = ""
    password: str = ""
    provider: str = "local"
    account: str = ""


@dataclass(frozen=True)
class PopSettings:
    enabled: bool = False
    server: str = ""
    port: int = 995
    check_interval: int = 5
    security: Security = Security.SSL
    auth: AuthMethod = AuthMethod.PLAIN
    user: str = ""
    password: str = ""
    provider: str = "local"
    account: str = ""
    leave_copy: bool = False
    timeout: int = 30

    def __post_init__(self) -> None:
        if self.auth not in (AuthMethod.PLAIN, AuthMethod.OAUTH2):
            raise SettingsError("auth", f"{self.auth.value!r} is not allowed for POP3: one of plain|oauth2")


S = TypeVar("S")


@dataclass(frozen=True)
class Section(Generic[S]):
    """One settings section: its name (the key prefix), its value type and its field table.

    The device section is `DEVICE`; each mail context has its own (firmware.contexts). Every
    conversion between text and values goes through here, so the panel, the console, the web
    page and NVRAM parse and show a setting the same way.
    """

    name: str
    type: type[S]
    fields: tuple[Field, ...]

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        names = ", ".join(f.name for f in self.fields)
        raise SettingsError(f"{self.name}.{name}", f"unknown setting; {self.name} has: {names}")

    def parse(self, name: str, text: str) -> Any:
        return self.field(name).parse(f"{self.name}.{name}", text)

    def format(self, name: str, value: Any, *, reveal: bool = False) -> str:
        """Text for a value as shell, panel and web page show it; secrets are masked."""
        if self.field(name).secret and not reveal:
            return "********" if value else ""
        if isinstance(value, bool):
            return "on" if value else "off"
        if isinstance(value, StrEnum):
            return value.value
        return str(value)

    def items(self, obj: S, *, reveal: bool = False) -> list[tuple[str, str]]:
        """Every `section.field` key with its text, in the table's order."""
        return [(f"{self.name}.{f.name}", self.format(f.name, getattr(obj, f.name), reveal=reveal))
                for f in self.fields]

    def replace(self, current: S, texts: Mapping[str, str]) -> S:
        """A new settings object with `texts` parsed in, or `SettingsErrors` for every bad one.

        All values are parsed before anything is built, so a form with one bad field saves
        nothing.
        """
        errors: list[SettingsError] = []
        values: dict[str, Any] = {}
        for name, text in texts.items():
            try:
                values[name] = self.parse(name, text)
            except SettingsError as exc:
                errors.append(exc)
        if errors:
            raise SettingsErrors(errors)
        try:
            return dataclasses.replace(current, **values)  # type: ignore[type-var]
        except SettingsError as exc:
            raise SettingsErrors([SettingsError(f"{self.name}.{exc.key}", exc.message)]) from None

    def default(self) -> S:
        return self.type()

    def to_json(self, obj: S) -> dict[str, Any]:
        return {f.name: (v.value if isinstance(v, StrEnum) else v)
                for f in self.fields for v in (getattr(obj, f.name),)}

    def from_json(self, data: Mapping[str, Any]) -> S:
        """Rebuild the section from NVRAM, re-validating every field (a damaged record is refused)."""
        texts = {f.name: self.format(f.name, data[f.name], reveal=True)
                 for f in self.fields if f.name in data}
        # Stored empty strings are legal "not configured" values for these fields.
        blanks = {k: "" for k, v in texts.items() if v == "" and k in ("server", "sender_address")}
        for k in blanks:
            texts.pop(k)
        obj = self.replace(self.default(), texts)
        return dataclasses.replace(obj, **blanks) if blanks else obj  # type: ignore[type-var]


DEVICE: Section[DeviceSettings] = Section("device", DeviceSettings, DEVICE_FIELDS)


class SettingsErrors(SettingsError):
    """Several refused fields at once (a form): `.errors` lists each with its key."""

    def __init__(self, errors: list[SettingsError]) -> None:
        first = errors[0]
        super().__init__(first.key, "; ".join(str(e) for e in errors) if len(errors) > 1 else first.message)
        self.errors = errors
