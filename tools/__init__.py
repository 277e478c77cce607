"""The bench around the device. Knows firmware/panel/hwsim; they never import tools.

Map:
    bench_ca    a test certificate authority per bench (trustme) and the TLS contexts it makes.
    idp/        the local identity provider: OAuth 2.0 device-code flow over HTTPS (authlib).
    mailserver/ the local mail server: SMTP (aiosmtpd) and POP3 (ours) over Maildirs.
    testbed     starts the identity provider and mail server together, writes testbed.json.
    cli         the `mfp-sim` command: testbed, device, panel/demo, bench.
    benchmark/  `make bench`: speed and memory figures, clients measured out of process.
    hil         the hardware-in-the-loop client (pyserial) and its pytest plugin.
"""
