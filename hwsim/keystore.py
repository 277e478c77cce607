"""The per-device key that encrypts secrets at rest.

A real MFP keeps this key in a secure element, apart from the flash that holds settings; the
simulator keeps it in its own folder, `device.key` (0600) in a key folder (0700) beside but not
inside the NVRAM folder: by default `<nvram>.keystore/`, or `mfp-sim device --keystore DIR`. So
the NVRAM folder alone (a copy, a backup, a bug report) never reveals a token or a password.
A key left inside the NVRAM folder by an older version is moved to the key folder once, with a
log line. Secrets are sealed with AES-256-GCM; the associated data binds each ciphertext to its
NVRAM key, so a blob moved to another key fails to open instead of being silently used there.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import KeystoreError
from .private import fsync_path, open_private, private_dir, write_private

__all__ = ["KeyStore"]

log = logging.getLogger(__name__)

_VERSION = b"\x01"


class KeyStore:
    FILENAME = "device.key"
    FOLDER_SUFFIX = ".keystore"

    def __init__(self, directory: Path) -> None:
        """The key in `directory` (made 0700), created on first use."""
        path = Path(directory) / self.FILENAME
        try:
            private_dir(path.parent)
            if not path.exists():
                write_private(path, AESGCM.generate_key(bit_length=256))
                fsync_path(path.parent)
            fd = open_private(path, os.O_RDONLY)  # also tightens a key file made wider
            with os.fdopen(fd, "rb") as fh:
                key = fh.read()
        except OSError as exc:
            raise KeystoreError(f"cannot read or create the device key {path}: {exc}") from exc
        if len(key) != 32:
            raise KeystoreError(f"device key {path} is damaged ({len(key)} bytes, 32 expected)")
        self._aead = AESGCM(key)
        self.path = path

    @classmethod
    def default_folder(cls, nvram_dir: Path) -> Path:
        """`<nvram>.keystore`, beside the NVRAM folder."""
        resolved = Path(nvram_dir).resolve()
        if not resolved.name:
            raise KeystoreError(f"the NVRAM folder {nvram_dir} has no name to put a key folder "
                                "beside; give the key folder (--keystore DIR)")
        return resolved.with_name(resolved.name + cls.FOLDER_SUFFIX)

    @classmethod
    def for_device(cls, nvram_dir: Path, keystore_dir: Path | None = None) -> KeyStore:
        """The key of the device whose NVRAM is `nvram_dir`, kept in `keystore_dir`.

        The key folder may not be the NVRAM folder or inside it. A `device.key` found in the
        NVRAM folder (older state) is moved there once.
        """
        nvram = Path(nvram_dir).resolve()
        folder = (Path(keystore_dir) if keystore_dir is not None
                  else cls.default_folder(nvram_dir)).resolve()
        if folder == nvram or nvram in folder.parents:
            raise KeystoreError(
                f"the key folder {folder} is inside the NVRAM folder {nvram}: keep the key "
                f"apart, as a secure element is (default {cls.default_folder(nvram)})")
        old = nvram / cls.FILENAME
        if old.exists():
            _move_key(old, folder / cls.FILENAME)
        return cls(folder)

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


def _move_key(old: Path, new: Path) -> None:
    """Move an older version's key out of the NVRAM folder (copy, sync, then remove).

    A power cut in between leaves two equal keys; the next start removes the old one.
    """
    try:
        data = old.read_bytes()
        if new.exists():
            if new.read_bytes() != data:
                raise KeystoreError(
                    f"two different device keys: {old} (inside the NVRAM folder, from an older "
                    f"version) and {new}; the NVRAM records open with only one of them. Remove "
                    "the wrong one (keep a copy) and start again")
        else:
            private_dir(new.parent)
            write_private(new, data)
            fsync_path(new.parent)
        old.unlink()
        fsync_path(old.parent)
    except OSError as exc:
        raise KeystoreError(f"cannot move the device key {old} to {new}: {exc}") from exc
    log.warning("moved the device key from %s to %s: keys are kept apart from NVRAM", old, new)
