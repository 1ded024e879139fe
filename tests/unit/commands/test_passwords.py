"""Console passwords: argon2id hashes, the rules, and verification."""

from __future__ import annotations

import pytest

from timetracker.commands.passwords import (
    MAX_PASSWORD_LENGTH,
    check_password_rules,
    hash_password,
    verify_password,
)
from timetracker.domain.errors import InvalidValueError

PASSWORD = "correct horse battery staple"


def test_a_password_is_stored_as_a_salted_argon2id_hash() -> None:
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first.startswith("$argon2id$")
    assert PASSWORD not in first
    assert first != second  # salted
    assert verify_password(first, PASSWORD)
    assert not verify_password(first, PASSWORD + "!")


def test_no_hash_a_broken_hash_or_an_overlong_password_never_verify() -> None:
    assert not verify_password(None, PASSWORD)
    assert not verify_password("not a hash", PASSWORD)
    assert not verify_password(hash_password(PASSWORD), "x" * (MAX_PASSWORD_LENGTH + 1))


@pytest.mark.parametrize(
    "password", ["short", "x" * (MAX_PASSWORD_LENGTH + 1), " padded password ", "two\nlines here"]
)
def test_passwords_breaking_the_rules_are_refused(password: str) -> None:
    with pytest.raises(InvalidValueError) as caught:
        check_password_rules(password)
    assert caught.value.field == "password"
