"""The bench's user accounts, shared by the identity provider and the mail server.

Passwords are bench-only and documented (docs/testbed.md): they let a person sign in on the
verification page and let QA test basic authentication. `app_password` is a 16-letter app
password as Microsoft issues them (seed 004), accepted by POP3/SMTP basic auth only.

A bench knows the three named users, and any *account families* added while it runs
(`BenchUsers.add_family`, ``POST /control/accounts``): a fleet of MFPs needs thousands of
accounts such as ``mfp1@example.test`` … ``mfp5000@example.test``, described by one pattern
and a count instead of a list. A family's user ``mfp12@example.test`` has the password
``mfp12-pass-1`` (as ``alice-pass-1``) and an app password derived from its name.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

__all__ = ["BenchUser", "BENCH_USERS", "AccountFamily", "BenchUsers", "find_user"]


@dataclass(frozen=True)
class BenchUser:
    username: str
    password: str
    app_password: str
    display_name: str


BENCH_USERS: tuple[BenchUser, ...] = (
    BenchUser("alice@example.test", "alice-pass-1", "abcdefghijklmnop", "Alice Admin"),
    BenchUser("bob@example.test", "bob-pass-1", "bcdefghijklmnopq", "Bob Receiver"),
    BenchUser("carol@example.test", "carol-pass-1", "cdefghijklmnopqr", "Carol Clerk"),
)

_NAMED = {u.username: u for u in BENCH_USERS}
_ADDRESS = re.compile(r"^[a-z0-9._+-]+@[a-z0-9-]+(\.[a-z0-9-]+)+$")


def find_user(username: str) -> BenchUser | None:
    """One of the three named users, by address, case-insensitively (mail addresses are)."""
    return _NAMED.get(username.strip().lower())


@dataclass(frozen=True)
class AccountFamily:
    """Accounts ``pattern`` with ``{n}`` = 1 … `count`, e.g. ``mfp{n}@example.test``."""

    pattern: str
    count: int

    #: The most accounts one family may have, and the most families a bench keeps.
    MAX_COUNT = 100_000
    MAX_FAMILIES = 16

    @classmethod
    def parse(cls, pattern: object, count: object) -> AccountFamily:
        """A checked family; `ValueError` says what is allowed."""
        example = 'e.g. {"pattern": "mfp{n}@example.test", "count": 2000}'
        if not isinstance(pattern, str) or pattern.count("{n}") != 1:
            raise ValueError(f"pattern must be an address with {{n}} once in its name, {example}")
        text = pattern.strip().lower()
        local = text.partition("@")[0]
        if "{n}" not in local or not _ADDRESS.match(text.replace("{n}", "1")):
            raise ValueError(f"pattern {pattern!r} is not an address with {{n}} in the part "
                             f"before @, {example}")
        if (isinstance(count, bool) or not isinstance(count, int)
                or not 1 <= count <= cls.MAX_COUNT):
            raise ValueError(f"count must be a whole number from 1 to {cls.MAX_COUNT}, {example}")
        return cls(text, count)

    @property
    def _regex(self) -> re.Pattern[str]:
        before, _, after = self.pattern.partition("{n}")
        return re.compile(f"^{re.escape(before)}([1-9][0-9]*){re.escape(after)}$")

    def number(self, username: str) -> int | None:
        """n if `username` is the family's n-th account."""
        found = self._regex.match(username)
        if found is None:
            return None
        n = int(found.group(1))
        return n if n <= self.count else None

    def user(self, n: int) -> BenchUser:
        name = self.pattern.replace("{n}", str(n))
        local = name.partition("@")[0]
        digest = hashlib.sha256(name.encode()).digest()
        app_password = "".join(chr(ord("a") + b % 26) for b in digest[:16])
        return BenchUser(name, f"{local}-pass-1", app_password, local)

    def describe(self) -> str:
        return f"{self.pattern} (n = 1..{self.count})"


class BenchUsers:
    """The accounts one bench knows: the named users, then its account families."""

    def __init__(self) -> None:
        self._families: dict[str, AccountFamily] = {}
        self._regexes: list[tuple[AccountFamily, re.Pattern[str]]] = []

    def find(self, username: str) -> BenchUser | None:
        wanted = username.strip().lower()
        named = _NAMED.get(wanted)
        if named is not None:
            return named
        for family, regex in self._regexes:
            found = regex.match(wanted)
            if found is not None and int(found.group(1)) <= family.count:
                return family.user(int(found.group(1)))
        return None

    def add_family(self, family: AccountFamily) -> AccountFamily:
        """Add (or resize) a family; `ValueError` if the bench already keeps too many."""
        if family.pattern not in self._families and len(self._families) >= family.MAX_FAMILIES:
            raise ValueError(f"the bench keeps at most {family.MAX_FAMILIES} account families; "
                             f"it has {', '.join(self._families)}")
        self._families[family.pattern] = family
        self._regexes = [(f, f._regex) for f in self._families.values()]
        return family

    def families(self) -> list[AccountFamily]:
        return list(self._families.values())

    def describe(self) -> str:
        """Who is known, for an error message."""
        names = [u.username for u in BENCH_USERS] + [f.describe() for f in self.families()]
        return ", ".join(names)
