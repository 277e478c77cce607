"""The simulated hardware of the MFP. Knows nothing above it (firmware, panel, tools).

Map:
    clock      the only time source: `RealClock` for demos, `VirtualClock` for tests.
    nvram      non-volatile memory on SQLite, one file per device; atomic writes.
    keystore   the per-device key that encrypts secrets at rest (AES-GCM).
    uart       the console: a line transport over TCP (pyserial `socket://`) or a pty.
    network    the network link: a cable that can be pulled (new connections then fail).
    scanner    the document feeder: produces page images.
    printer    the output tray: printed pages land as `<job-id>-<name>.<ext>` files.
"""
