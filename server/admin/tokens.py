"""API tokens: random, shown once, stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "lg_"


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    # The token has 256 random bits, so a plain fast hash is enough: no guessing, no salt needed.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
