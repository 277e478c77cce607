"""SASL XOAUTH2 as the servers see it: parse the client's response, build the error challenge.

The client sends ``base64("user=" + account + "\\x01auth=Bearer " + token + "\\x01\\x01")``.
When the token is refused, Exchange Online and Gmail do not answer with the failure at once:
they send a challenge carrying a base64 JSON status (``334 <b64>`` in SMTP, ``+ <b64>`` in POP3),
the client must answer with an empty line, and only then comes ``535``/``-ERR``. The bench does
the same, because that second step is where naive clients (stdlib ``poplib``) go wrong.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

__all__ = ["MalformedXoauth2", "Xoauth2Response", "decode_base64", "error_challenge", "parse_xoauth2"]


class MalformedXoauth2(ValueError):
    """The client's response is not base64 or not in the XOAUTH2 shape."""


@dataclass(frozen=True)
class Xoauth2Response:
    user: str
    token: str

    def __repr__(self) -> str:  # never show the token
        return f"Xoauth2Response(user={self.user!r}, token=<{len(self.token)} chars>)"


def parse_xoauth2(blob: bytes) -> Xoauth2Response:
    """Parse the decoded XOAUTH2 initial response."""
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedXoauth2("XOAUTH2 response is not UTF-8") from exc
    fields: dict[str, str] = {}
    for part in text.split("\x01"):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise MalformedXoauth2("XOAUTH2 field without '='")
        fields[key.strip().lower()] = value
    user = fields.get("user", "").strip()
    auth = fields.get("auth", "")
    scheme, _, token = auth.partition(" ")
    if not user or scheme.lower() != "bearer" or not token.strip():
        raise MalformedXoauth2("XOAUTH2 response lacks user= or auth=Bearer")
    return Xoauth2Response(user=user, token=token.strip())


def decode_base64(text: str | bytes) -> bytes:
    """Strict base64 (RFC 4648), raising `MalformedXoauth2` for anything else."""
    raw = text.encode("ascii", "replace") if isinstance(text, str) else text
    try:
        return base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedXoauth2("not base64") from exc


def error_challenge(scope: str, status: str = "400") -> str:
    """The base64 JSON a server sends before refusing a token (Microsoft's shape)."""
    body = json.dumps({"status": status, "schemes": "Bearer", "scope": scope}, separators=(",", ":"))
    return base64.b64encode(body.encode()).decode("ascii")
