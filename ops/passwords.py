"""Reading a password from the operator: a prompt that does not echo, or one line of stdin."""

from __future__ import annotations

import getpass
import sys


class PasswordInputError(ValueError):
    """No password could be read, or the two typed differ."""


def read_password(from_stdin: bool) -> str:
    """The new password: one line of standard input, or typed twice at a prompt."""
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise PasswordInputError("No password on standard input.")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise PasswordInputError(
            "Standard input is not a terminal: pass the password with --password-stdin."
        )
    first = getpass.getpass("New password: ")
    if getpass.getpass("Again: ") != first:
        raise PasswordInputError("The two passwords differ; nothing was changed.")
    return first
