"""A token store's NVRAM record: versioned, sealed, read back whole or not at all.

Everything a store must remember across a power cut is one `TokenRecord`, written as JSON,
sealed with the device key (AES-256-GCM, the NVRAM key name as associated data) and stored in
one transaction at every change. The JSON carries `"version"`, so that the device reading it
knows which fields to expect:

    version 1 (no "version" field)   state, reason, account, provider, token_user,
                                     access_token, access_expires_at, next_refresh_at,
                                     flow {msal, expires_at, interval}, cache
    version 2                        version, phase (a machine state: refresh_failing too),
                                     reason, cause, account, provider, token_user,
                                     access_token, issued_at, lifetime,
                                     flow {msal, expires_at, interval}, cache,
                                     and optionally said {code, capital, params}: the
                                     reason as a sentence (`sentences.Reason`), so the
                                     faces can still translate it after a power cut
    version 3                        as version 2, and refresh_lifetime: how long the
                                     refresh token lives from `issued_at`, when the
                                     provider said (Keycloak's `refresh_expires_in`), else
                                     null

A version-1 record did not keep the token's lifetime; it is read as one hour ending at
`access_expires_at` (what the device obtained then), and the first refresh learns the real one.
A version-2 record did not keep the refresh token's lifetime; it is read as not said (the plan
the device had when it wrote it), and the first refresh learns it.
A record that does not open, does not parse or holds wrong types raises `RecordError` with the
reason; the store reports it and never uses such a record. A `said` this firmware cannot
rebuild (a sentence code it does not know) only loses its translation: the English `reason`
is shown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mfp_sim.hwsim.errors import KeystoreError
from mfp_sim.hwsim.keystore import KeyStore

from ..errors import RecordError
from ..sentences import Reason
from .machine import Phase

__all__ = ["TokenRecord", "FlowRecord", "RECORD_VERSION", "seal", "unseal"]

RECORD_VERSION = 3
#: What a version-1 record's token is taken to have lived (see the module docstring).
V1_LIFETIME = 3600.0


@dataclass(frozen=True)
class FlowRecord:
    msal: dict[str, Any] = field(repr=False)
    expires_at: float
    interval: float


@dataclass(frozen=True)
class TokenRecord:
    phase: Phase = Phase.NOT_RETRIEVED
    reason: str = ""
    cause: str = ""
    account: str = ""
    provider: str = ""
    token_user: str = ""
    access_token: str = field(default="", repr=False)
    issued_at: float | None = None
    lifetime: float | None = None
    refresh_lifetime: float | None = None
    flow: FlowRecord | None = None
    cache: str = field(default="", repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": RECORD_VERSION,
            "phase": self.phase.value,
            "reason": self.reason,
            "cause": self.cause,
            "account": self.account,
            "provider": self.provider,
            "token_user": self.token_user,
            "access_token": self.access_token,
            "issued_at": self.issued_at,
            "lifetime": self.lifetime,
            "refresh_lifetime": self.refresh_lifetime,
            "flow": None if self.flow is None else {
                "msal": self.flow.msal, "expires_at": self.flow.expires_at,
                "interval": self.flow.interval},
            "cache": self.cache,
            **({"said": self.reason.to_json()} if isinstance(self.reason, Reason) else {}),
        }

    @classmethod
    def from_json(cls, data: Any) -> TokenRecord:
        if not isinstance(data, dict):
            raise RecordError("the record is not a JSON object")
        version = data.get("version", 1)
        if version == 1:
            return cls._from_v1(data)
        if version not in (2, RECORD_VERSION):
            raise RecordError(f"the record has version {version!r}, this firmware reads 1 to "
                              f"{RECORD_VERSION}")
        try:
            phase = Phase(data["phase"])
        except (KeyError, ValueError):
            raise RecordError(f"unknown token state {data.get('phase')!r}") from None
        reason = _str(data, "reason")
        if "said" in data:
            reason = Reason.from_json(data["said"], reason)
        return cls(
            phase=phase, reason=reason, cause=_str(data, "cause"),
            account=_str(data, "account"), provider=_str(data, "provider"),
            token_user=_str(data, "token_user"), access_token=_str(data, "access_token"),
            issued_at=_num(data, "issued_at"), lifetime=_num(data, "lifetime"),
            refresh_lifetime=_num(data, "refresh_lifetime") if version >= 3 else None,
            flow=_flow(data.get("flow")), cache=_str(data, "cache"),
        )

    @classmethod
    def _from_v1(cls, data: dict[str, Any]) -> TokenRecord:
        try:
            phase = Phase(data["state"])
        except (KeyError, ValueError):
            raise RecordError(f"unknown token state {data.get('state')!r}") from None
        expires_at = _num(data, "access_expires_at")
        return cls(
            phase=phase, reason=_str(data, "reason"), account=_str(data, "account"),
            provider=_str(data, "provider"), token_user=_str(data, "token_user"),
            access_token=_str(data, "access_token"),
            issued_at=None if expires_at is None else expires_at - V1_LIFETIME,
            lifetime=None if expires_at is None else V1_LIFETIME,
            flow=_flow(data.get("flow")), cache=_str(data, "cache"),
        )


def _str(data: dict[str, Any], name: str) -> str:
    value = data.get(name, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RecordError(f"the record's {name} is not text")
    return value


def _num(data: dict[str, Any], name: str) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError(f"the record's {name} is not a number")
    return float(value)


def _flow(value: Any) -> FlowRecord | None:
    if not value:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("msal"), dict):
        raise RecordError("the record's device flow is damaged")
    expires_at, interval = _num(value, "expires_at"), _num(value, "interval")
    if expires_at is None or interval is None:
        raise RecordError("the record's device flow has no expiry or interval")
    return FlowRecord(value["msal"], expires_at, interval)


def seal(record: TokenRecord, keys: KeyStore, key: str) -> bytes:
    blob = json.dumps(record.to_json(), separators=(",", ":")).encode()
    return keys.seal(blob, context=key)


def unseal(blob: bytes, keys: KeyStore, key: str) -> TokenRecord:
    try:
        data = json.loads(keys.open(blob, context=key))
    except KeystoreError as exc:
        raise RecordError(str(exc)) from exc
    except ValueError as exc:
        raise RecordError(f"the record is not JSON: {exc}") from exc
    return TokenRecord.from_json(data)
