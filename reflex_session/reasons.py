"""Why the library sent a user to another page: a fixed vocabulary carried in the URL.

Every redirect the library makes says why (``/login?callbackUrl=%2Fadmin&reason=expired``), so
the page it lands on can tell the user what happened instead of showing a bare form. The reason
is one word from :class:`Reason`, never text: a link someone crafts can only pick one of the
library's own messages, and a value outside the vocabulary is ignored. A role refusal may name
the roles the page needs (``&role=admin``); those are read back only when the app's own rules
name them, so a crafted ``role=`` cannot put arbitrary words on the page either.

The wire form is the reference's camelCase (``loginRequired``); Python code uses the enum.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import parse_qsl, urlencode

__all__ = [
    "DEFAULT_MESSAGES",
    "REASON_PARAM",
    "ROLE_PARAM",
    "Notice",
    "Reason",
    "message_for",
    "provider_reason",
    "read_notice",
    "with_reason",
]

#: The query parameters a redirect carries its reason (and a refusal its roles) in.
REASON_PARAM = "reason"
ROLE_PARAM = "role"

_MAX_ROLES = 4


class Reason(StrEnum):
    """Why the library redirected: the values are the wire form."""

    #: a page for signed-in users, opened without a session
    LOGIN_REQUIRED = "loginRequired"
    #: the session ran out (idle or absolute expiry) while the user was away
    EXPIRED = "expired"
    #: the session was ended from elsewhere: another device's "sign out everywhere", the
    #: devices page, an administrator, the identity provider
    REVOKED = "revoked"
    #: the user signed out in this browser (this tab or another one)
    SIGNED_OUT = "signedOut"
    #: signed in, but without the role (or other requirement) the page needs
    FORBIDDEN = "forbidden"
    #: a provider sign-in the user (or the provider) cancelled
    ACCESS_DENIED = "accessDenied"
    #: a provider sign-in that failed: the provider could not be reached
    PROVIDER_UNAVAILABLE = "providerUnavailable"
    #: a provider sign-in that failed its checks (state, code, ID token, an expired attempt)
    SIGN_IN_FAILED = "signInFailed"
    #: a provider sign-in the app's own hook refused
    SIGN_IN_REFUSED = "signInRefused"


#: The messages the widgets show (English); pass your own mapping to translate them. The
#: ``forbidden`` message has two forms: with ``{roles}`` when the refused page names its roles.
DEFAULT_MESSAGES: Mapping[str, str] = {
    Reason.LOGIN_REQUIRED: "Please sign in to continue.",
    Reason.EXPIRED: "Your session expired. Please sign in again.",
    Reason.REVOKED: "You were signed out on another device.",
    Reason.SIGNED_OUT: "You signed out.",
    Reason.FORBIDDEN: "You don't have access to that page.",
    Reason.ACCESS_DENIED: "The sign-in was cancelled.",
    Reason.PROVIDER_UNAVAILABLE: "The sign-in service could not be reached. Please try again.",
    Reason.SIGN_IN_FAILED: "The sign-in could not be completed. Please try again.",
    Reason.SIGN_IN_REFUSED: "This account may not sign in here.",
    "forbidden_role": "You need the {roles} role for that page.",
}


@dataclass(frozen=True, slots=True)
class Notice:
    """A redirect's reason as read back from a URL: ``roles`` only those the app names."""

    reason: Reason
    roles: tuple[str, ...] = ()

    @property
    def message(self) -> str:
        """The default English message (see :func:`message_for`)."""
        return message_for(self)


_OURS = frozenset({REASON_PARAM, ROLE_PARAM})
_BY_VALUE = {r.value: r for r in Reason}


def with_reason(location: str, reason: Reason, roles: Sequence[str] = ()) -> str:
    """``location`` with ``reason`` (and, for a refusal, ``roles``) in its query.

    Any reason or roles already in ``location`` are replaced, so a redirect never carries two.
    """
    path, _, fragment = location.partition("#")
    path, _, query = path.partition("?")
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k not in _OURS]
    kept.append((REASON_PARAM, reason.value))
    if reason is Reason.FORBIDDEN and roles:
        kept.append((ROLE_PARAM, ",".join(roles[:_MAX_ROLES])))
    return f"{path}?{urlencode(kept)}" + (f"#{fragment}" if fragment else "")


def read_notice(
    reason: object, roles: object = None, *, known_roles: Collection[str] = ()
) -> Notice | None:
    """The notice a page should show for its ``reason`` and ``role`` query values, or ``None``.

    Anything outside the vocabulary is ignored (``None``). Roles are kept only when they are
    in ``known_roles`` (the roles the app's rules and pages require) and only for a refusal.
    """
    if not isinstance(reason, str):
        return None
    found = _BY_VALUE.get(reason)
    if found is None:
        return None
    named: tuple[str, ...] = ()
    if found is Reason.FORBIDDEN and isinstance(roles, str) and roles:
        parts = roles.split(",")[:_MAX_ROLES]
        if all(part in known_roles for part in parts):
            named = tuple(dict.fromkeys(parts))
    return Notice(found, named)


def message_for(notice: Notice, messages: Mapping[str, str] = DEFAULT_MESSAGES) -> str:
    """The text for ``notice`` from ``messages`` (keys: the reason values, plus
    ``forbidden_role`` with a ``{roles}`` placeholder); a missing key falls back to English."""
    if notice.reason is Reason.FORBIDDEN and notice.roles:
        template = messages.get("forbidden_role", DEFAULT_MESSAGES["forbidden_role"])
        return template.format(roles=" or ".join(notice.roles))
    return messages.get(notice.reason, DEFAULT_MESSAGES[notice.reason])


#: Provider errors (``ProviderError.reason``) as the login page's reasons: several failures
#: share one message, since the user's next step is the same (try again) and the details are
#: for the log.
_PROVIDER_REASONS: Mapping[str, Reason] = {
    "access_denied": Reason.ACCESS_DENIED,
    "provider_unavailable": Reason.PROVIDER_UNAVAILABLE,
    "sign_in_refused": Reason.SIGN_IN_REFUSED,
    "grant_revoked": Reason.REVOKED,
}


def provider_reason(error_reason: str) -> Reason:
    """The login page's reason for a failed provider sign-in (``ProviderError.reason``)."""
    return _PROVIDER_REASONS.get(error_reason, Reason.SIGN_IN_FAILED)
