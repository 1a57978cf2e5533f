"""Registration and login for the demo: argon2id hashes, email validation, rate limits.

These are the two functions handed to ``reflex_session.reflex.install(authenticate=...,
register=...)``. Login failures are deliberately indistinguishable: unknown email, wrong
password and disabled account all give ``None`` (one generic message), and an unknown email
still costs one hash verification so timing does not tell them apart either.

Sign-in, the password-change form and registration are limited (``ratelimit.py`` says how and
why): each attempt is counted *before* its password is checked or hashed, so parallel attempts
cannot slip past the limit, and a refusal says when to try again.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, select

from reflex_session.reflex import (
    FormRefused,
    LoginAttempt,
    RegistrationAttempt,
    ServiceUnavailable,
)

from .db import User, engine
from .ratelimit import LimiterUnavailable, RegistrationLimits, Ticket, TooManyAttempts, make_limits

log = logging.getLogger("demo.accounts")
hasher = PasswordHasher()
_DUMMY_HASH = hasher.hash("a password nobody has")
MIN_PASSWORD = 10
limits = make_limits()


def session_user(user: User) -> dict[str, Any]:
    """What the session carries about a user (small: it travels in the cookie)."""
    return {"id": str(user.id), "email": user.email, "name": user.name, "role": user.role}


def normalise_email(raw: str) -> str:
    try:
        return validate_email(raw, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise FormRefused(f"That email address is not valid: {exc}") from None


def _give_back(ticket: Ticket) -> None:
    """The attempt never got to its check (the database was down): it was no guess."""
    with contextlib.suppress(LimiterUnavailable):  # else it stays counted: the safe side
        limits.counters.release(ticket)


def authenticate(attempt: LoginAttempt) -> dict[str, Any] | None:
    email = attempt.email.strip().lower()
    try:
        ticket = limits.login.reserve(email, attempt.client_ip)
    except TooManyAttempts as refused:
        raise FormRefused(f"Too many attempts. Try again {refused.when}.") from None
    except LimiterUnavailable:
        log.error("login rate limiter unavailable; login refused")
        raise ServiceUnavailable from None
    # from here the attempt counts as a failure unless it succeeds
    try:
        with Session(engine()) as db:
            user = db.exec(select(User).where(User.email == email)).first()
    except OperationalError:
        log.error("user database unavailable during login")
        _give_back(ticket)
        raise ServiceUnavailable from None
    try:
        hasher.verify(user.password_hash if user else _DUMMY_HASH, attempt.password)
        ok = user is not None and not user.disabled
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None:
        return None
    try:
        limits.login.succeeded(ticket, email, attempt.client_ip)
    except LimiterUnavailable:
        log.error("login rate limiter unavailable; login refused")
        raise ServiceUnavailable from None
    return session_user(user)


def register(attempt: RegistrationAttempt) -> dict[str, Any]:
    email = normalise_email(attempt.email)
    if len(attempt.password) < MIN_PASSWORD:
        raise FormRefused(f"Use a password of at least {MIN_PASSWORD} characters.")
    name = attempt.name.strip()[:120] or email.split("@")[0]
    try:
        # every attempt that gets this far counts, "already registered" too (it tells whether
        # an email has an account)
        ticket = limits.registration.reserve(attempt.client_ip)
    except TooManyAttempts as refused:
        if refused.rule == RegistrationLimits.PER_ADDRESS:
            raise FormRefused(
                f"Too many new accounts from your network. Try again {refused.when}."
            ) from None
        raise FormRefused(
            f"Too many new accounts are being created right now. Try again {refused.when}."
        ) from None
    except LimiterUnavailable:
        log.error("registration rate limiter unavailable; registration refused")
        raise ServiceUnavailable from None
    user = User(email=email, name=name, password_hash=hasher.hash(attempt.password))
    try:
        with Session(engine()) as db:
            db.add(user)
            db.commit()
            db.refresh(user)
    except IntegrityError:
        raise FormRefused("That email is already registered. Sign in instead.") from None
    except OperationalError:
        log.error("user database unavailable during registration")
        _give_back(ticket)
        raise ServiceUnavailable from None
    return session_user(user)


def rename(user_id: str, name: str) -> None:
    with Session(engine()) as db:
        user = db.get(User, int(user_id))
        if user is not None:
            user.name = name
            db.add(user)
            db.commit()


def list_users() -> list[dict[str, Any]]:
    with Session(engine()) as db:
        users = db.exec(select(User).order_by(User.id)).all()
        return [
            {**session_user(u), "disabled": u.disabled, "created": u.created_at.isoformat()[:10]}
            for u in users
        ]


def set_disabled(user_id: str, disabled: bool) -> None:
    with Session(engine()) as db:
        user = db.get(User, int(user_id))
        if user is not None:
            user.disabled = disabled
            db.add(user)
            db.commit()


def change_password(user_id: str, current: str, new: str) -> None:
    """Check the current password and store the new one (raises FormRefused with why not).

    Wrong current passwords are limited per account like sign-in: whoever holds a stolen
    session must not get unlimited guesses at the password it would take over.
    """
    if len(new) < MIN_PASSWORD:
        raise FormRefused(f"Use a password of at least {MIN_PASSWORD} characters.")
    try:
        ticket = limits.password.reserve(user_id)
    except TooManyAttempts as refused:
        raise FormRefused(f"Too many attempts. Try again {refused.when}.") from None
    except LimiterUnavailable:
        log.error("password-change rate limiter unavailable; change refused")
        raise ServiceUnavailable from None
    # from here the attempt counts as a wrong answer unless the password is changed
    try:
        with Session(engine()) as db:
            user = db.get(User, int(user_id))
            if user is None:
                raise FormRefused("Your account no longer exists.")
            try:
                hasher.verify(user.password_hash, current)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                raise FormRefused("The current password is not right.") from None
            user.password_hash = hasher.hash(new)
            db.add(user)
            db.commit()
    except OperationalError:
        _give_back(ticket)
        raise ServiceUnavailable from None
    try:
        limits.password.succeeded(ticket, user_id)
    except LimiterUnavailable:
        # the password is changed: say so (the caller ends the other sessions); the counter
        # merely keeps this success as one attempt until its window ends
        log.error("password-change rate limiter unavailable after a change")
