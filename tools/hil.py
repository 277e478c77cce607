"""Hardware-in-the-loop: the console client and the pytest plugin (`mfp_hil`).

`MfpConsole` (from `hil_console`) drives a device's serial console from any script:

    with MfpConsole("tcp:127.0.0.1:4000") as console:
        console.ok("set smtp.account alice@example.test")
        print(console.ok("token smtp status")["state"])

Installed with `pip install mfp-sim[hil]`, pytest loads this module as the plugin `mfp_hil`
(an entry point; no conftest needed). Its fixtures (`hil_fixtures`):

    mfp_bench     the bench's control API (a testbed started for the session, or --mfp-testbed)
    mfp_device    a simulated device of the test's own, on that bench, virtual clock
    mfp_console   the console of the device under test (--mfp-console ADDRESS, else mfp_device's)
    mfp_approve   approve a waiting store's code: the site's approver (--mfp-approver) or the bench
    mfp_provider, mfp_account   what the tests sign in with (--mfp-provider, --mfp-account)

and the marker `@pytest.mark.mfp_bench` for tests that need the bench's control API (skipped
against an external device without --mfp-testbed). docs/hil.md walks through both.
"""

from __future__ import annotations

from .hil_console import ConsoleReply, HilError, HilTimeout, MfpConsole, serial_url

__all__ = ["ConsoleReply", "HilError", "HilTimeout", "MfpConsole", "serial_url"]

try:  # the plugin needs pytest (`pip install mfp-sim[hil]`); the client does not
    import pytest  # noqa: F401
except ImportError:  # pragma: no cover - scripts without pytest
    pass
else:
    from .hil_fixtures import (  # noqa: F401  (pytest finds hooks and fixtures by name here)
        mfp_account,
        mfp_approve,
        mfp_bench,
        mfp_console,
        mfp_device,
        mfp_provider,
        pytest_addoption,
        pytest_configure,
        pytest_runtest_setup,
    )
