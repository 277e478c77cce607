"""Errors raised by the simulated hardware.

    HwsimError
     ├── NvramError        the non-volatile memory cannot be opened or written
     │    ├── NvramDamaged  the file fails its integrity check: refused, a copy kept
     │    └── NvramInUse    another running device holds the NVRAM folder's lock
     ├── KeystoreError     the device key is missing, unreadable, or does not open a secret
     ├── UartError         the console transport cannot be opened
     ├── ScannerError      a scan cannot be produced: page count out of range, a file to
     │                     load is missing or is not an image
     └── TrayError         the output tray cannot take a document: folder unusable,
                           bad extension, write failed
"""

from __future__ import annotations


class HwsimError(Exception):
    """Base of every hardware-simulation error."""


class NvramError(HwsimError):
    """The non-volatile memory cannot be opened or written."""


class NvramDamaged(NvramError):
    """The NVRAM file fails its integrity check; the device does not use it."""


class NvramInUse(NvramError):
    """Another running device (this process or another) holds the NVRAM folder."""


class KeystoreError(HwsimError):
    """The device key is missing or does not open a stored secret."""


class UartError(HwsimError):
    """The console transport cannot be opened."""


class ScannerError(HwsimError):
    """The document feeder cannot produce the pages asked for."""


class TrayError(HwsimError):
    """The output tray cannot take a document."""
