"""Starting a device's web page from the tools: `mfp-sim device --web ...` and the demo.

The device makes its own key and a self-signed certificate at first start
(`firmware.web.certificate`). The tools can give it a better one, as an administrator would:
- `issue_from(ca)`: the bench CA signs the device's signing request (the demo, so a browser
  that imported `bench/ca.pem` shows no warning);
- `--web-cert FILE --web-key FILE`: a certificate and its key made elsewhere (a company CA).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mfp_sim.firmware.device import Device
from mfp_sim.firmware.web import (
    DEFAULT_NAMES,
    CertificateError,
    DeviceWebServer,
    WebConfig,
    web_server,
)

from .bench_ca import BenchCA

__all__ = ["start_device_web"]


async def start_device_web(
    device: Device,
    config: WebConfig,
    *,
    names: Sequence[str] = (),
    issue_from: BenchCA | None = None,
    cert_file: Path | None = None,
    key_file: Path | None = None,
) -> DeviceWebServer:
    """The device's web server, started, with the certificate the caller asked for."""
    server = web_server(device, config, tuple(names) or DEFAULT_NAMES)
    if cert_file is not None:
        try:
            cert = Path(cert_file).read_bytes()
            key = Path(key_file).read_bytes() if key_file is not None else None
        except OSError as exc:
            raise CertificateError(f"cannot read the web certificate or key: {exc}") from exc
        server.certificate.install(cert, key)
    elif issue_from is not None:
        server.certificate.install(issue_from.sign_request(server.certificate.csr()))
    await server.start()
    return server
