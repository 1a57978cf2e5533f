"""The state behind the drop-in login and register forms.

The forms do not know your user table. ``install(app, auth, authenticate=..., register=...)``
gives them two functions (sync ones run in a worker thread, off the event loop; or async):

* ``authenticate(attempt: LoginAttempt)`` returns the user (a mapping or a ``User``) or ``None``
  for *any* failure — unknown user, wrong password, disabled account — so the form shows one
  generic message and cannot be used to learn which emails exist. Raise :class:`FormRefused`
  with a message for what the user must know (e.g. "Too many attempts, try again in a minute"),
  and :class:`ServiceUnavailable` when the user database is down.
* ``register(attempt: RegistrationAttempt)`` returns the new user, or raises :class:`FormRefused`
  ("That email is already registered", "Use at least 10 characters").

On success the user is signed in (a new session id, the cookie set without a reload) and sent to
the safe return-to page.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import reflex as rx

from ..errors import ConfigError, ReflexSessionError
from .runtime import get_runtime
from .state import SessionState

__all__ = [
    "AuthFormState",
    "FormRefused",
    "LoginAttempt",
    "LoginResult",
    "RegistrationAttempt",
    "ServiceUnavailable",
]

log = logging.getLogger("reflex_session")

GENERIC_LOGIN_ERROR = "Invalid email or password"
UNAVAILABLE_ERROR = "Signing in is not possible right now. Please try again in a moment."


class FormRefused(ReflexSessionError):
    """Refuse a login or registration with a message the user may see."""


class ServiceUnavailable(ReflexSessionError):
    """The user database (or an upstream) is down: the form says to try again, never a 500."""


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """What the login form submitted, as ``authenticate`` receives it.

    Its ``repr`` leaves the password out, so logging an attempt never logs the password.
    """

    email: str
    password: str = ""  # never logged, never stored
    client_ip: str = ""

    def __repr__(self) -> str:
        return f"LoginAttempt(email={self.email!r}, client_ip={self.client_ip!r})"


@dataclass(frozen=True, slots=True)
class RegistrationAttempt:
    """What the registration form submitted, as ``register`` receives it.

    Its ``repr`` leaves the password out, so logging an attempt never logs the password.
    """

    email: str
    password: str
    name: str = ""
    client_ip: str = ""

    def __repr__(self) -> str:
        return f"RegistrationAttempt(email={self.email!r}, name={self.name!r})"


@dataclass(frozen=True, slots=True)
class LoginResult:
    """What ``authenticate`` may return instead of a bare user, to attach tokens."""

    user: Any
    access_token: str | None = None
    refresh_token: str | None = None


async def _call(fn: Callable[[Any], Any], argument: Any) -> Any:
    """Run the app's hook without blocking the event loop.

    A sync hook usually hashes a password (argon2 or bcrypt: a tenth of a second or more) and
    queries a database; on the event loop that would stall every tab this worker serves. So a
    sync hook runs in a worker thread, an async one on the loop.
    """
    if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - an object with an async __call__
    ):
        result = fn(argument)
    else:
        result = await asyncio.to_thread(fn, argument)
    if inspect.isawaitable(result):
        result = await result
    return result


def _hook(name: str) -> Callable[[Any], Any]:
    """The app's ``authenticate`` or ``register`` hook; a clear error when it was not given."""
    runtime = get_runtime()
    fn = runtime.authenticate if name == "authenticate" else runtime.register
    if fn is None:
        raise ConfigError(
            name, "is not configured", f"pass {name}=... to reflex_session.reflex.install()"
        )
    return fn


class AuthFormState(SessionState):
    """Error and pending flags for the forms, and their submit handlers."""

    error: str = ""
    pending: bool = False

    async def _ask(self, hook: str, attempt: Any) -> tuple[bool, Any]:
        """Call the app's ``authenticate``/``register``; (False, None) after showing an error."""
        try:
            return True, await _call(_hook(hook), attempt)
        except FormRefused as refused:
            self.error = str(refused)
        except ServiceUnavailable:
            self.error = UNAVAILABLE_ERROR
        except Exception:
            log.exception("%s raised", hook)
            self.error = UNAVAILABLE_ERROR
        finally:
            self.pending = False
        return False, None

    @rx.event
    async def submit_login(self, form: dict[str, Any]) -> AsyncIterator[Any]:
        """Sign in with the form's email and password through the app's ``authenticate``.

        The first ``yield`` shows the form pending before the slow hook runs, and a second submit is
        ignored meanwhile. A ``None`` from the hook shows one generic message for every failure, so
        the form cannot tell which emails exist.
        """
        if self.pending or not isinstance(form, dict):  # the payload is the browser's
            return
        self.pending, self.error = True, ""
        yield
        attempt = LoginAttempt(
            email=str(form.get("email", "")).strip(),
            password=str(form.get("password", "")),
            client_ip=self.router.session.client_ip or "",
        )
        ok, result = await self._ask("authenticate", attempt)
        if not ok:
            return
        if result is None:
            self.error = GENERIC_LOGIN_ERROR
            return
        if isinstance(result, LoginResult):
            self.login(
                result.user, access_token=result.access_token, refresh_token=result.refresh_token
            )
        else:
            self.login(result)
        yield rx.redirect(self.return_to())

    @rx.event
    async def submit_register(self, form: dict[str, Any]) -> AsyncIterator[Any]:
        """Register through the app's ``register`` hook, then sign the new user in.

        A ``confirm`` that differs from the password is refused before the hook runs; a second
        submit while one is pending is ignored.
        """
        if not isinstance(form, dict):  # the payload is the browser's
            return
        if self.pending:
            return
        password = str(form.get("password", ""))
        if "confirm" in form and form.get("confirm") != password:
            self.error = "The passwords do not match"
            return
        self.pending, self.error = True, ""
        yield
        attempt = RegistrationAttempt(
            email=str(form.get("email", "")).strip(),
            password=password,
            name=str(form.get("name", "")).strip(),
            client_ip=self.router.session.client_ip or "",
        )
        ok, user = await self._ask("register", attempt)
        if not ok:
            return
        self.login(user)
        yield rx.redirect(self.return_to())

    @rx.event
    def clear_error(self) -> None:
        """Hide the error (each visit of a form starts without the last one's message)."""
        self.error = ""
