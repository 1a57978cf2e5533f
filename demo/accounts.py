"""Registration and login for the demo: argon2id hashes, email validation, rate limits.

These are the two functions handed to ``reflex_session.reflex.install(authenticate=...,
register=...)``. Login failures are deliberately indistinguishable: unknown email, wrong
password and disabled account all give ``None`` (one generic message), and an unknown email
still costs one hash verification so timing does not tell them apart either.
"""

from __future__ import annotations

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
from .ratelimit import LimiterUnavailable, make_limiter

log = logging.getLogger("demo.accounts")
hasher = PasswordHasher()
_DUMMY_HASH = hasher.hash("a password nobody has")
MIN_PASSWORD = 10
limiter = make_limiter()


def session_user(user: User) -> dict[str, Any]:
    """What the session carries about a user (small: it travels in the cookie)."""
    return {"id": str(user.id), "email": user.email, "name": user.name, "role": user.role}


def normalise_email(raw: str) -> str:
    try:
        return validate_email(raw, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise FormRefused(f"That email address is not valid: {exc}") from None


def authenticate(attempt: LoginAttempt) -> dict[str, Any] | None:
    email = attempt.email.strip().lower()
    try:
        wait = limiter.retry_after(email, attempt.client_ip)
    except LimiterUnavailable:
        log.error("login rate limiter unavailable; login refused")
        raise ServiceUnavailable from None
    if wait:
        raise FormRefused(f"Too many attempts. Try again in {wait} seconds.")
    try:
        with Session(engine()) as db:
            user = db.exec(select(User).where(User.email == email)).first()
    except OperationalError:
        log.error("user database unavailable during login")
        raise ServiceUnavailable from None
    try:
        hasher.verify(user.password_hash if user else _DUMMY_HASH, attempt.password)
        ok = user is not None and not user.disabled
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    try:
        if not ok or user is None:
            limiter.failed(email, attempt.client_ip)
            return None
        limiter.succeeded(email)
    except LimiterUnavailable:
        log.error("login rate limiter unavailable; login refused")
        raise ServiceUnavailable from None
    return session_user(user)


def register(attempt: RegistrationAttempt) -> dict[str, Any]:
    email = normalise_email(attempt.email)
    if len(attempt.password) < MIN_PASSWORD:
        raise FormRefused(f"Use a password of at least {MIN_PASSWORD} characters.")
    name = attempt.name.strip()[:120] or email.split("@")[0]
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
    """Check the current password and store the new one (raises FormRefused with why not)."""
    if len(new) < MIN_PASSWORD:
        raise FormRefused(f"Use a password of at least {MIN_PASSWORD} characters.")
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
        raise ServiceUnavailable from None
