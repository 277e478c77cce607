"""The bench's user accounts, shared by the identity provider and the mail server.

Passwords are bench-only and documented (docs/testbed.md): they let a person sign in on the
verification page and let QA test basic authentication. `app_password` is a 16-letter app
password as Microsoft issues them (seed 004), accepted by POP3/SMTP basic auth only.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BenchUser", "BENCH_USERS", "find_user"]


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


def find_user(username: str) -> BenchUser | None:
    """Look a user up by address, case-insensitively (mail addresses are)."""
    wanted = username.strip().lower()
    return next((u for u in BENCH_USERS if u.username == wanted), None)
