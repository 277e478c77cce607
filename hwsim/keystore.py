"""The per-device key that encrypts secrets at rest.

A real MFP keeps this key in a secure element, apart from the flash that holds settings; the
simulator keeps it in its own file (`device.key`, mode 0600) beside the NVRAM file, so the NVRAM
file alone never reveals a token or a password. Secrets are sealed with AES-256-GCM; the
associated data binds each ciphertext to its NVRAM key, so a blob moved to another key fails
to open instead of being silently used there.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import KeystoreError

__all__ = ["KeyStore"]

_VERSION = b"\x01"


class KeyStore:
    FILENAME = "device.key"

    def __init__(self, directory: Path) -> None:
        path = Path(directory) / self.FILENAME
        try:
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(AESGCM.generate_key(bit_length=256))
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, path)
            key = path.read_bytes()
        except OSError as exc:
            raise KeystoreError(f"cannot read or create the device key {path}: {exc}") from exc
        if len(key) != 32:
            raise KeystoreError(f"device key {path} is damaged ({len(key)} bytes, 32 expected)")
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, *, context: str) -> bytes:
        nonce = os.urandom(12)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, context.encode())

    def open(self, blob: bytes, *, context: str) -> bytes:
        if len(blob) < 1 + 12 + 16 or blob[:1] != _VERSION:
            raise KeystoreError(f"sealed value for {context!r} is damaged or of an unknown version")
        try:
            return self._aead.decrypt(blob[1:13], blob[13:], context.encode())
        except InvalidTag as exc:
            raise KeystoreError(
                f"sealed value for {context!r} does not open with this device's key"
            ) from exc
