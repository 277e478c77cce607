"""Run the bench IdP on its own, on the real clock: ``python -m mfp_sim.tools.idp``.

For trying the verification page and the control API by hand (docs/testbed.md). The CA is made
fresh on every run, so its certificate is written out for curl's ``--cacert``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

from mfp_sim.hwsim.clock import RealClock
from mfp_sim.tools.bench_ca import BenchCA

from .policy import PROFILES, IdpPolicy
from .server import IdentityProvider


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mfp_sim.tools.idp", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 lets the OS choose (default)")
    parser.add_argument("--profile", choices=list(PROFILES), default="entra",
                        help="which provider to imitate (default: entra)")
    parser.add_argument("--ca-out", type=Path, default=Path("bench-ca.pem"),
                        help="where to write the bench CA certificate (default: bench-ca.pem)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    asyncio.run(_serve(args.host, args.port, args.profile, args.ca_out))


async def _serve(host: str, port: int, profile: str, ca_out: Path) -> None:
    ca = BenchCA()
    ca.write_ca(ca_out)
    policy = IdpPolicy.for_profile(profile)
    async with IdentityProvider(clock=RealClock(), ca=ca, policy=policy, host=host,
                                port=port) as idp:
        print(f"issuer            {idp.issuer}", flush=True)
        print(f"verification page {idp.verification_uri}", flush=True)
        print(f"control API       {idp.control_url}", flush=True)
        print(f"CA certificate    {ca_out.resolve()}", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
