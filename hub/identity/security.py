"""Secrets handling: password hashes (argon2), cabin tokens, session keys, CSRF tokens."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Compared against when the account does not exist, so a wrong username costs as long as
    a wrong password (no timing oracle on which accounts exist). Made at first use, not at
    import: a restarting hub listens sooner."""
    return _hasher.hash("not-a-real-password-" + secrets.token_hex(8))


MIN_PASSWORD_LENGTH = 10
CABIN_TOKEN_PREFIX = "cab_"  # noqa: S105 - a prefix, not a secret


def hash_password(password: str) -> str:
    """An argon2id hash of the password."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if the password matches; compares against a dummy hash when there is no account."""
    try:
        matches = _hasher.verify(password_hash or _dummy_hash(), password)
        return matches and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def password_problem(password: str) -> str | None:
    """Why a new password is refused, in French, or None when it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Le mot de passe doit compter au moins {MIN_PASSWORD_LENGTH} caractères."
    if password.isdigit() or password.isalpha():
        return "Le mot de passe doit mêler lettres et chiffres ou symboles."
    return None


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_cabin_token() -> str:
    """A fresh high-entropy agent token (shown once; only its hash is stored)."""
    return CABIN_TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hint(token: str) -> str:
    """A short, non-secret handle to recognise a token in the console."""
    return token[: len(CABIN_TOKEN_PREFIX) + 6]


def new_session_key() -> str:
    return secrets.token_urlsafe(32)


def csrf_token_for(secret: str, binding: str) -> str:
    """The CSRF token bound to a session key (or an anonymous nonce)."""
    return hmac.new(secret.encode(), b"csrf:" + binding.encode(), hashlib.sha256).hexdigest()


def csrf_matches(secret: str, binding: str, candidate: str) -> bool:
    return hmac.compare_digest(csrf_token_for(secret, binding), candidate)
