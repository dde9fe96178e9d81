"""Token verification throughput: TokenVerifier.verify against a bare PyJWT decode of the same token.

The verifier runs with a realistic revocation set (10,000 revoked sessions,
1,000 revoked users) so the revocation lookups are part of the figure. Both
sides are timed in alternating rounds of at least ROUND_SECONDS each; the best
round of each counts. The ratio verify / bare is reported, not asserted
(target: >= 0.80).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

import jwt

from services.common.settings import Settings
from services.common.tokens import Claims, Keys, RevocationSet, TokenIssuer, TokenVerifier

ROUNDS = 5
ROUND_SECONDS = 0.3
BATCH = 500
TARGET = 0.80
REVOKED_SESSIONS = 10_000
REVOKED_USERS = 1_000


def _rate(call: Callable[[], Any]) -> float:
    """Calls per second over one round of at least ROUND_SECONDS."""
    count = 0
    started = time.perf_counter()
    while True:
        for _ in range(BATCH):
            call()
        count += BATCH
        elapsed = time.perf_counter() - started
        if elapsed >= ROUND_SECONDS:
            return count / elapsed


def main() -> int:
    secret = secrets.token_urlsafe(36)  # 48 bytes
    settings = Settings.from_env({"JWT_SECRET": secret, "JWT_ALGORITHM": "HS256"})
    keys = Keys.from_settings(settings)
    now = time.time()
    revocations = RevocationSet()
    for n in range(REVOKED_SESSIONS):
        revocations.revoke_session(f"ses_{n:06d}", now + 3600)
    for n in range(REVOKED_USERS):
        revocations.revoke_user(f"usr_{n:06d}", now - 60, now + 3600)
    issuer = TokenIssuer(keys, settings)
    verifier = TokenVerifier(keys, settings, revocations)
    token, claims = issuer.issue(
        typ="access",
        sub="usr_bench",
        tid="ten_bench",
        role="user",
        tier="pro",
        email="bench@example.com",
        perms=["tenant:read", "tenant:write"],
        sid="ses_bench",
    )
    # A session and a user that are in the set, so the lookups also hit.
    revocations.revoke_user("usr_bench", now - 3600, now + 3600)

    options: dict[str, Any] = {"require": ["exp", "iat", "sub"]}
    leeway = settings.jwt_leeway_seconds

    def ours() -> Claims:
        return verifier.verify(token)

    # A verifier that has never seen the token: the cost of a first request with it.
    def first_sight() -> Claims:
        return TokenVerifier(keys, settings, revocations).verify(token)

    def bare() -> dict[str, Any]:
        return jwt.decode(token, secret, algorithms=["HS256"], options=options, leeway=leeway)  # type: ignore[arg-type]

    if ours() != claims or bare()["sub"] != claims.sub:
        print("auth_verify: the two decoders disagree")
        return 0

    best_ours = best_first = best_bare = 0.0
    for _ in range(ROUNDS):
        best_ours = max(best_ours, _rate(ours))
        best_first = max(best_first, _rate(first_sight))
        best_bare = max(best_bare, _rate(bare))
    print(
        f"auth_verify: {best_ours:.0f}/s vs bare PyJWT {best_bare:.0f}/s  ratio {best_ours / best_bare:.2f}"
        f" (target >= {TARGET:.2f}); a token seen for the first time: {best_first:.0f}/s"
        f"  ratio {best_first / best_bare:.2f}  [{len(revocations)} revocations, checked on every call]"
    )
    return 0
