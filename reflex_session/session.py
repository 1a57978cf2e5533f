"""The session and user types, and their camelCase wire form.

A :class:`Session` is immutable. Every lifecycle verb returns a new one, which is what lets the
codec cache decoded sessions safely and what makes "an update never drops a field" easy to
reason about: nothing is ever changed in place.

The types are generic over the app's user type. An app that keeps more on its user subclasses
:class:`User`::

    @dataclass(frozen=True)
    class MyUser(User):
        role: str = "user"

    auth = ReflexSession(user_type=MyUser, ...)
    session.user.role            # typed

Fields a user type does not declare are kept in ``User.extra`` (and still round-trip), exactly like
the reference's ``[key: string]: unknown``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Generic, Self, TypeVar

__all__ = ["Session", "SessionStatus", "User", "UserT", "deep_merge", "freeze", "thaw"]

#: The three states of the reference's ``useSession().status``.
SessionStatus = str  # "loading" | "authenticated" | "unauthenticated"

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_OPTIONAL_STR = (str, type(None))
_SCALARS = (str, int, float, bool, type(None))
_SCALAR_TYPES = frozenset(_SCALARS)
_OPTIONAL_STR_TYPES = frozenset(_OPTIONAL_STR)
_BASE_FIELDS = frozenset({"id", "email", "name", "image"})


@dataclass(frozen=True, slots=True)
class User:
    """The signed-in user, as the session (and the browser, through the client view) sees it.

    Only ``id`` is required. Keep it small: the whole user travels in the cookie.
    """

    id: str
    email: str | None = None
    name: str | None = None
    image: str | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError("User.id must be a non-empty string")
        if not (
            isinstance(self.email, _OPTIONAL_STR)
            and isinstance(self.name, _OPTIONAL_STR)
            and isinstance(self.image, _OPTIONAL_STR)
        ):
            raise ValueError("User.email, name and image must be strings or null")
        extra = self.extra
        if extra is not _EMPTY and (
            type(extra) is not MappingProxyType
            or any(not isinstance(v, _SCALARS) for v in extra.values())
        ):
            object.__setattr__(self, "extra", freeze(dict(extra)) if extra else _EMPTY)

    def get(self, key: str, default: Any = None) -> Any:
        """A declared field or an ``extra`` one, by its wire name."""
        return self.to_wire().get(key, default)

    def __getitem__(self, key: str) -> Any:
        data = self.to_wire()
        if key not in data:
            raise KeyError(key)
        return data[key]

    def to_wire(self) -> dict[str, Any]:
        """The JSON object stored in the cookie; ``None`` fields are left out to save bytes."""
        data: dict[str, Any] = {key: thaw(value) for key, value in self.extra.items()}
        for name in _declared_fields(type(self)):
            value = getattr(self, name)
            if value is not None:
                data[name] = value if isinstance(value, _SCALARS) else thaw(value)
        return data

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Self:
        """Build a user from its JSON object; keys the type does not declare go to ``extra``."""
        if not isinstance(data, Mapping):
            raise TypeError("user must be a JSON object")
        if cls is User and data.keys() <= _BASE_FIELDS:
            # the codec's hot path: the base type with its four string fields, checked here and
            # set directly (the frozen dataclass __init__ costs a setattr call per field)
            user_id = data.get("id")
            if type(user_id) is int:
                user_id = str(user_id)
            email, name, image = data.get("email"), data.get("name"), data.get("image")
            if (
                type(user_id) is str
                and user_id
                and type(email) in _OPTIONAL_STR_TYPES
                and type(name) in _OPTIONAL_STR_TYPES
                and type(image) in _OPTIONAL_STR_TYPES
            ):
                user = object.__new__(User)
                set_ = object.__setattr__
                set_(user, "id", user_id)
                set_(user, "email", email)
                set_(user, "name", name)
                set_(user, "image", image)
                set_(user, "extra", _EMPTY)
                return user  # type: ignore[return-value]
        declared = _declared_fields(cls)
        if data.keys() <= declared and all(type(v) in _SCALAR_TYPES for v in data.values()):
            if type(data.get("id")) is int:
                data = {**data, "id": str(data["id"])}
            return cls(**data)  # the common case: flat, declared fields only
        kwargs = {
            k: v if type(v) in _SCALAR_TYPES else freeze(v)
            for k, v in data.items()
            if k in declared
        }
        extra = (
            {k: v for k, v in data.items() if k not in declared}
            if len(kwargs) < len(data)
            else None
        )
        user_id = kwargs.get("id")
        if isinstance(user_id, int) and not isinstance(user_id, bool):
            # ids often come from an integer primary key; the wire form is always a string
            kwargs["id"] = str(user_id)
        return cls(**kwargs, extra=extra or _EMPTY)

    @classmethod
    def coerce(cls, value: User | Mapping[str, Any]) -> Self:
        """Accept a user object or a plain mapping (what ``create_session`` is usually given)."""
        if isinstance(value, cls):
            return value
        if isinstance(value, User):
            return cls.from_wire(value.to_wire())
        return cls.from_wire(value)


_FIELDS_CACHE: dict[type, frozenset[str]] = {}


def _declared_fields(cls: type) -> frozenset[str]:
    names = _FIELDS_CACHE.get(cls)
    if names is None:
        names = frozenset(f.name for f in dataclasses.fields(cls) if f.name != "extra")
        _FIELDS_CACHE[cls] = names
    return names


UserT = TypeVar("UserT", bound=User)


def freeze(value: Any) -> Any:
    """Nested JSON containers made read-only: objects -> read-only mappings, arrays -> tuples.

    A decoded session is shared (the codec caches it), so nothing reachable from it may be
    mutable; a caller's dict passed to ``create_session`` is copied, never kept by reference.
    """
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, Mapping):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """The inverse of :func:`freeze`: plain dicts and lists, ready for JSON."""
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class Session(Generic[UserT]):
    """One signed-in session. All timestamps are Unix milliseconds, as in the reference.

    ``id`` is the session's own random identifier (the JWT ``jti``): it changes at every login, is
    what store mode keys on, and is never shown to the browser by the client view.
    """

    id: str
    user: UserT
    created_at: int
    last_activity: int
    expires_at: int
    access_token: str | None = None
    refresh_token: str | None = None

    @classmethod
    def trusted(
        cls,
        id: str,
        user: UserT,
        created_at: int,
        last_activity: int,
        expires_at: int,
        access_token: str | None,
        refresh_token: str | None,
    ) -> Session[UserT]:
        """Build from values already validated (the codec's hot path; skips the frozen-field
        ``__init__``, which costs a ``setattr`` call per field)."""
        self = object.__new__(cls)
        set_ = object.__setattr__
        set_(self, "id", id)
        set_(self, "user", user)
        set_(self, "created_at", created_at)
        set_(self, "last_activity", last_activity)
        set_(self, "expires_at", expires_at)
        set_(self, "access_token", access_token)
        set_(self, "refresh_token", refresh_token)
        return self

    @property
    def expiry_date(self) -> str:
        """``expiresAt`` as an ISO-8601 UTC string (the reference's ``expiryDate``)."""
        moment = datetime.fromtimestamp(self.expires_at / 1000, tz=UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def replace(self, **changes: Any) -> Session[UserT]:
        """A copy with ``changes`` applied.

        Sessions are frozen because a decoded one is shared through the codec's cache: every change
        makes a new session.
        """
        return dataclasses.replace(self, **changes)


def deep_merge(base: Mapping[str, Any], updates: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``updates`` into a copy of ``base``; nested objects merge, everything else replaces.

    Keys absent from ``updates`` are always kept: this is the rule that makes an update unable to
    drop a field by accident (set a key to ``None`` to clear it on purpose).
    """
    merged = dict(base)
    for key, value in updates.items():
        current = merged.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = value
    return merged
