"""The site's own approver: a command that approves a device code at the site's identity
provider, whatever that provider is.

Against the bench, approval is one control-API call. Against a company's provider (Entra ID,
Keycloak, Okta…), a person normally signs in on another device and enters the code; in CI a
site replaces that person with a script of its own (a browser-automation script, a call to a
test tenant's admin API). The scenario runner (`--approver`) and the pytest plugin
(`--mfp-approver`) run that script the same way:

    --approver 'python3 approve.py {user_code} {account} {verification_uri}'

The template is split like a POSIX shell line (`shlex`), then each placeholder is replaced
inside its word, so a value never becomes more than one argument and nothing is passed through
a shell. Placeholders: `{user_code}`, `{account}`, `{verification_uri}`, `{store}`. The command
runs with a timeout; its exit status decides: 0 approved, anything else refused (its last
output lines are shown).
"""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass

__all__ = ["PLACEHOLDERS", "ApprovalRequest", "ApproverError", "SiteApprover"]

PLACEHOLDERS = ("user_code", "account", "verification_uri", "store")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ApproverError(Exception):
    """The approver command is malformed, cannot run, failed or did not finish in time."""


@dataclass(frozen=True)
class ApprovalRequest:
    """What a person would be shown on the panel: the code, where to enter it, for whom."""

    user_code: str
    account: str
    verification_uri: str = ""
    store: str = ""


class SiteApprover:
    """Runs the site's approver command for one device code."""

    def __init__(self, template: str, *, timeout: float = 120.0) -> None:
        try:
            words = shlex.split(template)
        except ValueError as exc:
            raise ApproverError(f"approver command {template!r} does not parse: {exc}") from None
        if not words:
            raise ApproverError("the approver command is empty: give e.g. "
                                "'python3 approve.py {user_code} {account}'")
        unknown = sorted({m.group(1) for w in words for m in _PLACEHOLDER.finditer(w)}
                         - set(PLACEHOLDERS))
        if unknown:
            raise ApproverError(f"approver command: unknown placeholder {{{unknown[0]}}}: use "
                                + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS))
        if not timeout > 0:
            raise ApproverError("the approver timeout must be a positive number of seconds")
        self.template = template
        self.words = words
        self.timeout = timeout

    def command(self, request: ApprovalRequest) -> list[str]:
        """The argument list for `request` (each placeholder replaced inside its word)."""
        values = {name: getattr(request, name) for name in PLACEHOLDERS}
        return [_PLACEHOLDER.sub(lambda m: values[m.group(1)], word) for word in self.words]

    def approve(self, request: ApprovalRequest) -> str:
        """Run the command; its last output line when it exits 0, else `ApproverError`."""
        argv = self.command(request)
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout,
                                  check=False, stdin=subprocess.DEVNULL)
        except FileNotFoundError:
            raise ApproverError(f"cannot run the approver: {argv[0]!r} not found") from None
        except PermissionError:
            raise ApproverError(f"cannot run the approver: {argv[0]!r} is not executable") from None
        except subprocess.TimeoutExpired:
            raise ApproverError(f"the approver did not finish within {self.timeout:g} s "
                                f"({argv[0]} … {request.user_code})") from None
        said = _tail(done.stdout, done.stderr)
        if done.returncode != 0:
            raise ApproverError(f"the approver refused {request.user_code} for {request.account} "
                                f"(exit status {done.returncode})" + (f": {said}" if said else ""))
        return said


def _tail(*texts: str, lines: int = 3) -> str:
    """The last few non-empty lines a command printed, on one line."""
    kept = [line.strip() for text in texts for line in (text or "").splitlines() if line.strip()]
    return " | ".join(kept[-lines:])
