"""The simulated hardware of the MFP. Knows nothing above it (firmware, panel, tools).

Map:
    clock      the only time source: `RealClock` for demos, `VirtualClock` for tests.
    nvram      non-volatile memory on SQLite (WAL, synchronous=FULL), one file per device;
               atomic writes; a damaged file is refused.
    nvram_lock one device per NVRAM folder (flock, held while the device runs).
    keystore   the per-device key that encrypts secrets at rest (AES-GCM), kept apart.
    private    files 0600 and folders 0700 whatever the umask.
    uart       the console: a line transport over TCP (pyserial `socket://`) or a pty.
    network    the network link: a cable that can be pulled (new connections then fail).
    scanner    the document feeder: produces page images.
    printer    the output tray: printed pages land as `<job-id>-<name>.<ext>` files.
"""
