"""Commands for users and their API tokens."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from eventsourcing.domain import Aggregate

from timetracker.commands.errors import NotFoundError
from timetracker.commands.messages import (
    ChangeRole,
    DeactivateUser,
    IssueApiToken,
    IssuedToken,
    RegisterUser,
    RevokeApiToken,
    SetPassword,
    SetUserTimezone,
    Written,
)
from timetracker.commands.passwords import hash_password
from timetracker.commands.store import EventStore
from timetracker.domain.api_token import ApiToken, token_digest
from timetracker.domain.errors import UserDeactivatedError
from timetracker.domain.name_claim import NameClaim, claim_id
from timetracker.domain.user import User

TOKEN_PREFIX_LENGTH = 8


def new_token() -> str:
    """`tt_` and 32 random characters of [A-Za-z0-9_-] (192 bits)."""
    return "tt_" + secrets.token_urlsafe(24)


class AccountCommands(EventStore):
    """Register users; issue and revoke their API tokens."""

    def register_user(self, cmd: RegisterUser) -> Written:
        """Register a user; the username is unique (case-insensitive)."""
        number = self.ids.next_id("user")

        def decide() -> list[Aggregate]:
            user = User.register(
                number, cmd.username, cmd.email, cmd.full_name, cmd.role, cmd.stamp
            )
            claim = self.load_optional(NameClaim, claim_id("user", user.username))
            if claim is None:
                claim = NameClaim.take("user", user.username, number, cmd.stamp)
            else:
                claim.retake(number, cmd.stamp)
            return [user, claim]

        position = self.write(decide)
        return Written(id=number, version=1, position=position)

    def user_by_name(self, username: str) -> User:
        """The user holding a username, or NotFoundError."""
        claim = self.load_optional(NameClaim, claim_id("user", username))
        if claim is None or claim.holder is None:
            raise NotFoundError("user", 0)
        return self.load(User, "user", claim.holder)

    def issue_api_token(self, cmd: IssueApiToken) -> IssuedToken:
        """Issue a token for a user; the secret is returned here and nowhere else."""
        user = self.user_by_name(cmd.username)
        if not user.is_active:  # its token would be refused from birth
            raise UserDeactivatedError(f"User {user.username} is deactivated: no new tokens.")
        number = self.ids.next_id("api_token")
        token = new_token()
        issued = ApiToken.issue(
            number=number,
            user_id=user.number,
            name=cmd.name,
            token_hash=token_digest(token),
            prefix=token[:TOKEN_PREFIX_LENGTH],
            scopes=cmd.scopes,
            expires_at=cmd.expires_at,
            stamp=cmd.stamp,
        )
        position = self.write(lambda: [issued])
        assert position is not None
        return IssuedToken(id=number, prefix=issued.prefix, token=token, position=position)

    def revoke_api_token(self, cmd: RevokeApiToken) -> Written:
        """Revoke a token; it is refused from the next request on."""

        def decide() -> list[Aggregate]:
            token = self.load(ApiToken, "api_token", cmd.token_id)
            token.revoke(cmd.stamp)
            return [token]

        position = self.write(decide)
        token = self.load(ApiToken, "api_token", cmd.token_id)
        return Written(id=cmd.token_id, version=token.version, position=position)

    def set_password(self, cmd: SetPassword) -> Written:
        """Record a new console password of a user, as its argon2id hash."""
        password_hash = hash_password(cmd.password)  # before loading: it takes a while
        return self._change_user(
            cmd.user_id, lambda user: user.set_password(password_hash, cmd.stamp)
        )

    def change_role(self, cmd: ChangeRole) -> Written:
        """Make a user an admin or a normal user; their tokens follow at once."""
        return self._change_user(cmd.user_id, lambda user: user.change_role(cmd.role, cmd.stamp))

    def deactivate_user(self, cmd: DeactivateUser) -> Written:
        """Deactivate a user: their tokens and console sessions stop working at once."""
        return self._change_user(cmd.user_id, lambda user: user.deactivate(cmd.stamp))

    def _change_user(self, user_id: int, change: Callable[[User], object]) -> Written:
        def decide() -> list[Aggregate]:
            user = self.load(User, "user", user_id)
            change(user)
            return [user]

        position = self.write(decide)
        user = self.load(User, "user", user_id)
        return Written(id=user_id, version=user.version, position=position)

    def set_user_timezone(self, cmd: SetUserTimezone) -> Written:
        """Set a user's time zone for reports and exports (an IANA name, checked by the caller)."""

        def decide() -> list[Aggregate]:
            user = self.load(User, "user", cmd.user_id)
            return [user] if user.set_timezone(cmd.timezone, cmd.stamp) else []

        position = self.write(decide)
        user = self.load(User, "user", cmd.user_id)
        return Written(id=cmd.user_id, version=user.version, position=position)
