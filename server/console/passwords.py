"""Password hashes: argon2id with the library's current parameters; strength by zxcvbn.

A new password must be at least ``MIN_LENGTH`` characters and score at least ``MIN_SCORE`` (of 4)
with zxcvbn, which knows common passwords, dictionary words, keyboard runs, repeats, dates and
the user's own name (``user_inputs``): ``password12`` and ``1234567890`` are refused.
"""

from __future__ import annotations

from collections.abc import Iterable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

MIN_LENGTH = 10
MIN_SCORE = 3  # zxcvbn's "safely unguessable: moderate protection from an offline attack"
PRODUCT_WORDS = ("loneguard", "lone", "guard", "console", "hub", "admin", "manager", "viewer")
_hasher = PasswordHasher()
# Verified against when the user is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("no such user, no such password")


class WeakPassword(ValueError):
    pass


def check_strength(password: str, user_inputs: Iterable[str] = ()) -> None:
    """Raise ``WeakPassword`` (naming what is wrong, never the password) unless strong enough."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"password: must be at least {MIN_LENGTH} characters")
    result = zxcvbn(password[:200], user_inputs=[*PRODUCT_WORDS, *user_inputs])
    if result["score"] < MIN_SCORE:
        feedback = result["feedback"]
        why = feedback.get("warning") or "it is too easy to guess"
        hint = " ".join(feedback.get("suggestions") or ["Use a few unrelated words."])
        raise WeakPassword(f"password: too easy to guess: {why.rstrip('.')}. {hint}".strip())


def hash_password(password: str, user_inputs: Iterable[str] = ()) -> str:
    check_strength(password, user_inputs)
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False
