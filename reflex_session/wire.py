"""Every map between a :class:`~reflex_session.session.Session` and a dict, in one place.

A session travels in five shapes, and each used to be written by hand where it was needed, so a
new field had to be added in four places and a renamed one broke one of them silently:

* **claims** — the JWT claims sealed in a cookie-mode cookie (``jti iat exp createdAt user``,
  tokens when present);
* **id claims** — a store-mode cookie, which carries only the session id and its times;
* **record** — what a store keeps for a signed-in session (``user createdAt`` and the tokens;
  the record's own ``expires_at`` / ``touched_at`` hold the times);
* **tab** — the session as a Reflex tab keeps it between events (everything, with the id);
* **view** — the reference's ``Session`` object the browser sees (no tokens unless asked);
* **patch** — a partial change in wire names (``user``, ``accessToken``, ``refreshToken``), as the
  store merges it atomically.

Wire names are the reference's camelCase; Python names are snake_case. Readers here check types
(a store or a tab may hold anything an older version wrote) and raise ``KeyError``,
``TypeError`` or ``ValueError``, which their callers turn into "no session".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .errors import ForbiddenUpdate
from .session import Session, UserT

__all__ = [
    "ID_CLAIMS",
    "IMMUTABLE",
    "changes_since",
    "from_claims",
    "from_patch",
    "from_record",
    "from_tab",
    "id_claims",
    "patch_of",
    "to_claims",
    "to_record",
    "to_tab",
    "to_view",
]

#: The only claims a store-mode cookie may carry.
ID_CLAIMS = frozenset({"jti", "iat", "exp"})
_OPTIONAL_STR = (str, type(None))


def _tokens(session: Session[Any], data: dict[str, Any]) -> dict[str, Any]:
    if session.access_token is not None:
        data["accessToken"] = session.access_token
    if session.refresh_token is not None:
        data["refreshToken"] = session.refresh_token
    return data


# -- cookie-mode claims ---------------------------------------------------------------------


def to_claims(session: Session[Any]) -> dict[str, Any]:
    """The claims sealed in a cookie-mode cookie (times in whole seconds, as JWT wants)."""
    return _tokens(
        session,
        {
            "jti": session.id,
            "iat": session.last_activity // 1000,
            "exp": session.expires_at // 1000,
            "createdAt": session.created_at,
            "user": session.user.to_wire(),
        },
    )


def from_claims(claims: Mapping[str, Any], user_type: type[UserT]) -> Session[UserT]:
    """The session in checked claims; ``TypeError`` when a claim has the wrong type.

    This is the codec's hot path (every cache miss), so it builds the frozen session directly.
    """
    created_at = claims["createdAt"]
    user_data = claims["user"]
    access = claims.get("accessToken")
    refresh = claims.get("refreshToken")
    if (
        type(created_at) is not int
        or type(claims["iat"]) is not int
        or type(claims["exp"]) is not int
        or not isinstance(user_data, dict)
        or not isinstance(access, _OPTIONAL_STR)
        or not isinstance(refresh, _OPTIONAL_STR)
        or not claims["jti"]
    ):
        raise TypeError("claims have the wrong types")
    return Session.trusted(
        claims["jti"],
        user_type.from_wire(user_data),
        created_at,
        claims["iat"] * 1000,
        claims["exp"] * 1000,
        access,
        refresh,
    )


def id_claims(public_id: str, issued_ms: int, expires_ms: int) -> dict[str, Any]:
    """The claims of a store-mode cookie: the (encoded) session id and its times, nothing else."""
    return {"jti": public_id, "iat": issued_ms // 1000, "exp": expires_ms // 1000}


# -- store records --------------------------------------------------------------------------


def to_record(session: Session[Any]) -> dict[str, Any]:
    """The data a store keeps for a signed-in session (its times live on the record itself)."""
    return _tokens(session, {"user": session.user.to_wire(), "createdAt": session.created_at})


def from_record(
    sid: str,
    data: Mapping[str, Any],
    touched_at: float,
    expires_at: float,
    user_type: type[UserT],
) -> Session[UserT]:
    """The session a store record holds; times rounded down to the second like a cookie's."""
    access = data.get("accessToken")
    refresh = data.get("refreshToken")
    if not isinstance(access, _OPTIONAL_STR) or not isinstance(refresh, _OPTIONAL_STR):
        raise TypeError("tokens must be strings")
    return Session(
        id=sid,
        user=user_type.from_wire(data["user"]),
        created_at=int(data["createdAt"]),
        last_activity=int(touched_at * 1000) // 1000 * 1000,
        expires_at=int(expires_at * 1000) // 1000 * 1000,
        access_token=access,
        refresh_token=refresh,
    )


# -- the reference's Session object, and a tab's copy -----------------------------------------


def to_view(session: Session[Any], *, expose_tokens: bool = False) -> dict[str, Any]:
    """The reference's ``Session`` object as the browser sees it: no tokens unless asked."""
    data: dict[str, Any] = {
        "user": session.user.to_wire(),
        "expiresAt": session.expires_at,
        "expiryDate": session.expiry_date,
        "createdAt": session.created_at,
        "lastActivity": session.last_activity,
    }
    return _tokens(session, data) if expose_tokens else data


def to_tab(session: Session[Any]) -> dict[str, Any]:
    """The whole session as a tab keeps it on the server: the view with tokens, and the id."""
    data = to_view(session, expose_tokens=True)
    data["id"] = session.id
    return data


def from_tab(data: Mapping[str, Any], user_type: type[UserT]) -> Session[UserT]:
    """A session from :func:`to_tab`'s dict."""
    return Session(
        id=data["id"],
        user=user_type.from_wire(data["user"]),
        created_at=data["createdAt"],
        last_activity=data["lastActivity"],
        expires_at=data["expiresAt"],
        access_token=data.get("accessToken"),
        refresh_token=data.get("refreshToken"),
    )


# -- patches --------------------------------------------------------------------------------


def patch_of(user: Mapping[str, Any] | None, tokens: Mapping[str, str | None]) -> dict[str, Any]:
    """An update in wire names: ``user`` (merged deeply) and the tokens given (snake_case keys
    ``access_token`` / ``refresh_token``; ``None`` clears one)."""
    patch: dict[str, Any] = {} if user is None else {"user": dict(user)}
    if "access_token" in tokens:
        patch["accessToken"] = tokens["access_token"]
    if "refresh_token" in tokens:
        patch["refreshToken"] = tokens["refresh_token"]
    return patch


def changes_since(before: Session[Any], after: Session[Any]) -> dict[str, Any]:
    """The patch that turns ``before`` into ``after``: the user's changed top-level fields and
    the tokens that changed. A field ``after`` dropped stays (a merge adds and replaces; it never
    deletes, the same rule as an update itself)."""
    old, new = before.user.to_wire(), after.user.to_wire()
    missing = object()
    tokens: dict[str, str | None] = {}
    if after.access_token != before.access_token:
        tokens["access_token"] = after.access_token
    if after.refresh_token != before.refresh_token:
        tokens["refresh_token"] = after.refresh_token
    user = {key: value for key, value in new.items() if old.get(key, missing) != value}
    return patch_of(user or None, tokens)


#: Fields of the session that no update may change: identity and time are the lifecycle's.
IMMUTABLE = (
    "id",
    "createdAt",
    "created_at",
    "expiresAt",
    "expires_at",
    "expiryDate",
    "lastActivity",
    "last_activity",
)


def from_patch(
    body: Any, *, allow_tokens: bool, user_fields: Sequence[str] | None = None
) -> dict[str, Any]:
    """Validate an update as it arrives on the wire (camelCase) and return ``merged`` kwargs.

    Raises :class:`ForbiddenUpdate` for anything that is not an allowed field, so that a PATCH
    that tries to move ``expiresAt``, swap ``user.id`` or grant itself ``role: "admin"`` changes
    nothing. ``user_fields`` lists the user fields the caller may change (``None``: any but id).
    """
    if not isinstance(body, Mapping):
        raise ForbiddenUpdate("body", "must be a JSON object")
    kwargs: dict[str, Any] = {}
    for key, value in body.items():
        if key == "user":
            if not isinstance(value, Mapping):
                raise ForbiddenUpdate("user", "must be an object")
            if user_fields is not None:
                for name in value:
                    if name != "id" and name not in user_fields:  # id: merged() checks it
                        raise ForbiddenUpdate(
                            f"user.{name}",
                            "not changeable from the browser (see client_user_fields)",
                        )
            kwargs["user"] = value
        elif key in ("accessToken", "refreshToken"):
            if not allow_tokens:
                raise ForbiddenUpdate(key, "tokens are set by the server only")
            kwargs["access_token" if key == "accessToken" else "refresh_token"] = value
        elif key in IMMUTABLE:
            raise ForbiddenUpdate(key, "set by the session lifecycle, not by updates")
        else:
            raise ForbiddenUpdate(key, "unknown session field")
    return kwargs
