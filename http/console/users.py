"""/admin/users: every user; create one, set their role or password, deactivate them."""

from __future__ import annotations

from aiohttp import web
from marshmallow import ValidationError

from timetracker.commands.errors import NotFoundError
from timetracker.commands.messages import ChangeRole, DeactivateUser, RegisterUser, SetPassword
from timetracker.commands.passwords import check_password_rules
from timetracker.domain.errors import ConflictError, InvalidValueError
from timetracker.domain.user import ROLES
from timetracker.http.console.actions import console_stamp, write_accounts
from timetracker.http.console.keys import console_user_key, session_key, session_store_key
from timetracker.http.console.rendering import page
from timetracker.http.keys import accounts_view_key, time_tracking_key
from timetracker.http.schemas.common import EmailAddress

routes = web.RouteTableDef()


async def _users_page(
    request: web.Request, *, error: str | None = None, status: int = 200
) -> web.Response:
    users = await request.config_dict[accounts_view_key].all_users()
    return page(
        request, "users.html", {"users": users, "roles": ROLES, "error": error}, status=status
    )


async def _done(request: web.Request, message: str) -> web.Response:
    await request.config_dict[session_store_key].flash(request[session_key], message)
    raise web.HTTPSeeOther("/admin/users")


def _optional(value: object) -> str | None:
    text = str(value or "").strip()
    return text or None


@routes.get("/users", name="users")
async def show_users(request: web.Request) -> web.Response:
    return await _users_page(request)


@routes.post("/users")
async def create_user(request: web.Request) -> web.Response:
    form = await request.post()
    store = request.config_dict[time_tracking_key]
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    try:
        if password and password != str(form.get("password_confirm", "")):
            raise InvalidValueError("password", "The two passwords differ.")
        if password:
            check_password_rules(password)  # before the user is created, not after
        email = _optional(form.get("email"))
        if email is not None:
            try:
                email = EmailAddress().deserialize(email)
            except ValidationError as exc:
                raise InvalidValueError("email", " ".join(map(str, exc.messages))) from None
        written = await write_accounts(
            request,
            store.register_user,
            RegisterUser(
                username,
                email,
                _optional(form.get("full_name")),
                str(form.get("role", "user")),
                console_stamp(request),
            ),
        )
        if password:
            await write_accounts(
                request,
                store.set_password,
                SetPassword(written.id, password, console_stamp(request)),
            )
    except (InvalidValueError, ConflictError) as exc:
        message = exc.message if isinstance(exc, InvalidValueError) else str(exc)
        return await _users_page(request, error=message, status=400)
    return await _done(request, f"User {username} was created.")


def _target(request: web.Request) -> int:
    user_id = int(request.match_info["user_id"])
    if user_id == int(request[console_user_key]["id"]):
        # The last admin could lock everyone out of the console.
        raise _SelfChangeError()
    return user_id


class _SelfChangeError(Exception):
    pass


@routes.post(r"/users/{user_id:\d+}/role")
async def set_role(request: web.Request) -> web.Response:
    form = await request.post()
    store = request.config_dict[time_tracking_key]
    try:
        user_id = _target(request)
        await write_accounts(
            request,
            store.change_role,
            ChangeRole(user_id, str(form.get("role", "")), console_stamp(request)),
        )
    except _SelfChangeError:
        return await _users_page(request, error="You cannot change your own role here.", status=409)
    except (InvalidValueError, ConflictError) as exc:
        return await _users_page(request, error=str(exc), status=400)
    except NotFoundError:
        raise web.HTTPNotFound() from None
    return await _done(request, f"The role of user {user_id} is now {form.get('role')!s}.")


@routes.post(r"/users/{user_id:\d+}/password")
async def set_password(request: web.Request) -> web.Response:
    form = await request.post()
    store = request.config_dict[time_tracking_key]
    user_id = int(request.match_info["user_id"])
    password = str(form.get("password", ""))
    try:
        if password != str(form.get("password_confirm", "")):
            raise InvalidValueError("password", "The two passwords differ.")
        await write_accounts(
            request, store.set_password, SetPassword(user_id, password, console_stamp(request))
        )
    except InvalidValueError as exc:
        return await _users_page(request, error=f"Password: {exc.message}", status=400)
    except ConflictError as exc:
        return await _users_page(request, error=str(exc), status=409)
    except NotFoundError:
        raise web.HTTPNotFound() from None
    return await _done(request, f"The password of user {user_id} was set.")


@routes.post(r"/users/{user_id:\d+}/deactivate")
async def deactivate_user(request: web.Request) -> web.Response:
    store = request.config_dict[time_tracking_key]
    try:
        user_id = _target(request)
        await write_accounts(
            request, store.deactivate_user, DeactivateUser(user_id, console_stamp(request))
        )
    except _SelfChangeError:
        return await _users_page(request, error="You cannot deactivate yourself.", status=409)
    except ConflictError as exc:
        return await _users_page(request, error=str(exc), status=409)
    except NotFoundError:
        raise web.HTTPNotFound() from None
    return await _done(request, f"User {user_id} was deactivated: their tokens no longer work.")
