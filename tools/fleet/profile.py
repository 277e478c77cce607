"""A fleet profile: what every simulated MFP in the fleet is set up to do (a small TOML file).

    [accounts]                    # the token stores each device uses, and whose account
    smtp = "mfp{n}@example.test"  # {n}: the device's number, 1 … N
    "pop.ifax" = "fax{n}@example.test"

    [mail]
    scan_rate = 2.0               # Scan to E-mail jobs per device per hour (0: none)
    scan_to = "print{n}@example.test"
    fax_rate = 1.0                # Internet Faxes per device per hour, to fax_to
    fax_to = "fax{peer}@example.test"   # {peer}: the next device (N's peer is 1)
    pop_check_interval = 5        # minutes, for every POP setting in use
    leave_copy = false

    [fleet]
    provider = "local"            # the provider every store uses (local: the bench)
    sites = 10                    # devices in this many sites, in blocks (network_down site=K)
    seed = 1                      # which devices an event hits, when jobs happen
    approve = "bench"             # bench: approve every code through the bench's control API;
                                  # site: run the site's approver (--approver CMD) for each;
                                  # none: someone else approves (a company's own IdP)
    regain_after = 60             # s: press Get Token again after a flow failed (0: never)
    power_on_spread = 0           # s over which the devices are first powered on

Everything has a default (`FleetProfile()`): every store of the device's context table, each
with its own account family, idle (no jobs), POP checks every 5 minutes. Every value is checked
where it is read; a wrong one is refused with the file, the key and what is allowed.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mfp_sim.firmware.contexts import CONTEXTS
from mfp_sim.firmware.errors import SettingsError
from mfp_sim.firmware.settings import parse_address
from mfp_sim.firmware.vocabulary import Service

from .errors import ProfileError

__all__ = ["FleetProfile", "Approve", "expand", "default_accounts"]

Approve = Literal["bench", "site", "none"]
_PLACEHOLDER = re.compile(r"\{[^}]*\}")


def default_accounts() -> dict[str, str]:
    """One account family per store of the context table: mfp{n}, fax{n}, print{n}, …"""
    out: dict[str, str] = {}
    for context in CONTEXTS:
        stem = "mfp" if context.service is Service.SMTP else str(context.receive or context.name)
        out[context.name] = f"{stem}{{n}}@example.test"
    return out


def _receiving(kind: str) -> str | None:
    """The store that receives `kind` (fax, print), if the context table has one."""
    return next((c.name for c in CONTEXTS if c.receive is not None and c.receive.value == kind),
                None)


def expand(pattern: str, n: int, total: int) -> str:
    """`pattern` for device `n` of `total`: {n} is n, {peer} the next device's number."""
    return pattern.replace("{n}", str(n)).replace("{peer}", str(n % total + 1))


def _pattern(where: str, value: object, *, peer: bool) -> str:
    allowed = "{n} or {peer}" if peer else "{n}"
    if not isinstance(value, str) or not value.strip():
        raise ProfileError(f"{where}: an address pattern such as \"mfp{{n}}@example.test\"")
    text = value.strip()
    unknown = [p for p in _PLACEHOLDER.findall(text) if p not in ("{n}", "{peer}")
               or (p == "{peer}" and not peer)]
    if unknown:
        raise ProfileError(f"{where}: {unknown[0]} is not a placeholder here; use {allowed}")
    if "{n}" not in text and "{peer}" not in text:
        raise ProfileError(f"{where}: {text!r} names one account for every device; put {allowed} "
                           "in it so each device has its own")
    try:
        parse_address(where, expand(text, 1, 2))
    except SettingsError as exc:
        raise ProfileError(f"{where}: {text!r} is not an address pattern ({exc})") from None
    return text


def _number(where: str, value: object, low: float, high: float, *, whole: bool = False) -> float:
    kind = "a whole number" if whole else "a number"
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or (whole and not isinstance(value, int)) or not low <= value <= high):
        raise ProfileError(f"{where}: {kind} from {low:g} to {high:g}, not {value!r}")
    return float(value)


@dataclass(frozen=True)
class FleetProfile:
    accounts: Mapping[str, str] = field(default_factory=default_accounts)
    provider: str = "local"
    scan_rate: float = 0.0
    scan_to: str = ""
    scan_pages: int = 1
    fax_rate: float = 0.0
    fax_to: str = ""
    fax_pages: int = 1
    pop_check_interval: int = 5
    leave_copy: bool = False
    sites: int = 1
    seed: int = 1
    approve: Approve = "bench"
    regain_after: float = 60.0
    power_on_spread: float = 0.0
    source: str = "(defaults)"

    # ----------------------------------------------------------------- derived
    @property
    def stores(self) -> tuple[str, ...]:
        return tuple(self.accounts)

    @property
    def pop_stores(self) -> tuple[str, ...]:
        return tuple(c.name for c in CONTEXTS if c.receive is not None and c.name in self.accounts)

    def account(self, store: str, n: int, total: int) -> str:
        return expand(self.accounts[store], n, total)

    def scan_target(self, n: int, total: int) -> str:
        return expand(self.scan_to, n, total) if self.scan_to else ""

    def fax_target(self, n: int, total: int) -> str:
        return expand(self.fax_to, n, total) if self.fax_to else ""

    def site_of(self, n: int, total: int) -> int:
        """Sites are blocks of consecutive devices: site 1 holds the first N/sites, and so on."""
        return (n - 1) * self.sites // max(total, 1) + 1

    def families(self) -> list[str]:
        """Every account pattern the fleet uses, {peer} read as {n} (the bench registers them)."""
        found = [*self.accounts.values(), self.scan_to, self.fax_to]
        return sorted({p.replace("{peer}", "{n}") for p in found if p})

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: Path) -> FleetProfile:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ProfileError(f"cannot read the fleet profile {path}: {exc.strerror}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ProfileError(f"{path} is not TOML: {exc}") from None
        return cls.from_dict(data, str(path))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "profile") -> FleetProfile:
        sections = {"accounts", "mail", "fleet"}
        extra = sorted(set(data) - sections)
        if extra:
            raise ProfileError(f"{source}: no section [{extra[0]}]; sections are "
                               f"{', '.join(f'[{s}]' for s in sorted(sections))}")
        for name in sections & set(data):
            if not isinstance(data[name], dict):
                raise ProfileError(f"{source}: [{name}] must be a table of keys")
        values: dict[str, Any] = {"source": source}
        values["accounts"] = _accounts(source, data.get("accounts"))
        values.update(_mail(source, dict(data.get("mail", {})), values["accounts"]))
        values.update(_fleet(source, dict(data.get("fleet", {}))))
        return cls(**values)


def _accounts(source: str, table: Any) -> dict[str, str]:
    if table is None:
        return default_accounts()
    known = [c.name for c in CONTEXTS]
    out: dict[str, str] = {}
    for store, pattern in table.items():
        if store not in known:
            raise ProfileError(f"{source}: [accounts] {store!r} is not a token store; "
                               f"stores: {', '.join(known)}")
        out[store] = _pattern(f"{source}: [accounts] {store}", pattern, peer=False)
    if not out:
        raise ProfileError(f"{source}: [accounts] lists no store; name at least one of "
                           f"{', '.join(known)}")
    return {c.name: out[c.name] for c in CONTEXTS if c.name in out}  # in table order


_MAIL_KEYS = ("scan_rate", "scan_to", "scan_pages", "fax_rate", "fax_to", "fax_pages",
              "pop_check_interval", "leave_copy")
_FLEET_KEYS = ("provider", "sites", "seed", "approve", "regain_after", "power_on_spread")


def _unknown(source: str, section: str, table: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    extra = sorted(set(table) - set(allowed))
    if extra:
        raise ProfileError(f"{source}: [{section}] has no key {extra[0]!r}; keys: "
                           f"{', '.join(allowed)}")


def _mail(source: str, table: dict[str, Any], accounts: Mapping[str, str]) -> dict[str, Any]:
    _unknown(source, "mail", table, _MAIL_KEYS)
    where = f"{source}: [mail]"
    out: dict[str, Any] = {}
    smtp = next((c.name for c in CONTEXTS if c.service is Service.SMTP), "")
    for kind, receiver in (("scan", _receiving("print")), ("fax", _receiving("fax"))):
        rate = _number(f"{where} {kind}_rate", table.get(f"{kind}_rate", 0.0), 0, 3600)
        out[f"{kind}_rate"] = rate
        out[f"{kind}_pages"] = int(_number(f"{where} {kind}_pages",
                                           table.get(f"{kind}_pages", 1), 1, 50, whole=True))
        target = table.get(f"{kind}_to")
        if target is None and receiver in accounts:
            target = accounts[receiver] if kind == "scan" else accounts[receiver].replace(
                "{n}", "{peer}")
        out[f"{kind}_to"] = _pattern(f"{where} {kind}_to", target, peer=True) if target else ""
        if rate and not out[f"{kind}_to"]:
            raise ProfileError(f"{where} {kind}_rate is {rate:g} but there is no {kind}_to: "
                               "give the address pattern to send to")
        if rate and smtp not in accounts:
            raise ProfileError(f"{where} {kind}_rate is {rate:g} but [accounts] has no {smtp}: "
                               "sending needs the SMTP token")
    out["pop_check_interval"] = int(_number(f"{where} pop_check_interval",
                                            table.get("pop_check_interval", 5), 1, 240,
                                            whole=True))
    leave = table.get("leave_copy", False)
    if not isinstance(leave, bool):
        raise ProfileError(f"{where} leave_copy: true or false, not {leave!r}")
    out["leave_copy"] = leave
    return out


def _fleet(source: str, table: dict[str, Any]) -> dict[str, Any]:
    _unknown(source, "fleet", table, _FLEET_KEYS)
    where = f"{source}: [fleet]"
    provider = table.get("provider", "local")
    if not isinstance(provider, str) or not provider.strip():
        raise ProfileError(f"{where} provider: a provider name (local for the bench)")
    approve = table.get("approve", "bench")
    if approve not in ("bench", "site", "none"):
        raise ProfileError(f"{where} approve: \"bench\" (the bench's control API), \"site\" (the "
                           "site's approver, --approver) or \"none\" (someone else approves), "
                           f"not {approve!r}")
    return {
        "provider": provider.strip(),
        "sites": int(_number(f"{where} sites", table.get("sites", 1), 1, 10_000, whole=True)),
        "seed": int(_number(f"{where} seed", table.get("seed", 1), 0, 2**31, whole=True)),
        "approve": approve,
        "regain_after": _number(f"{where} regain_after", table.get("regain_after", 60), 0, 86400),
        "power_on_spread": _number(f"{where} power_on_spread",
                                   table.get("power_on_spread", 0), 0, 86400),
    }
