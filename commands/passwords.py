"""Password hashing for console sign-in: argon2id, the password itself never stored or logged."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from timetracker.domain.errors import InvalidValueError

MIN_PASSWORD_LENGTH = 12
# argon2 hashes whatever it is given: a cap keeps one sign-in from costing seconds of CPU.
MAX_PASSWORD_LENGTH = 1024

# argon2-cffi's defaults (RFC 9106's second recommended option: 64 MiB, 3 passes).
_hasher = PasswordHasher()
# Verified when the username is unknown, so that a miss costs what a wrong password costs.
_DUMMY_HASH = _hasher.hash("not the password of anyone")


def check_password_rules(password: str) -> str:
    """The password if it is acceptable; InvalidValueError on the `password` field if not."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidValueError(
            "password", f"Must be at least {MIN_PASSWORD_LENGTH} characters long."
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidValueError(
            "password", f"Must be at most {MAX_PASSWORD_LENGTH} characters long."
        )
    if password.strip() != password or "\n" in password:
        raise InvalidValueError("password", "Must not start or end with white space.")
    return password


def hash_password(password: str) -> str:
    """The argon2id hash of an acceptable password (slow on purpose: run it off the loop)."""
    return _hasher.hash(check_password_rules(password))


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches `password_hash`; a missing hash costs the same and fails."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
