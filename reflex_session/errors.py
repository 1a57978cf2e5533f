"""One error tree for the whole library.

Two families, handled very differently:

* :class:`ConfigError` is loud. It is raised at construction time, and its message says how to
  fix the problem (for example how to generate a secret).
* :class:`TokenError` and its children describe why a cookie could not be read. They never leave
  the library's public reading functions: a cookie an attacker sent must end as "no session", not
  as an exception or a 500. The errors still carry data (``reason``, ``kid``) so that the codec's
  own tests and the security log can say exactly what was rejected — never the cookie itself.

:class:`SessionError` covers the things a caller asks for that cannot be done, such as an update
that would make the cookie larger than a browser keeps.

:class:`ProviderError` is a sign-in with an identity provider that did not end signed in. Its
``reason`` is one word of a fixed list the login page can show; what the provider said is kept
apart (``detail``) for the log, never for the page.
"""

from __future__ import annotations

__all__ = [
    "ClaimsError",
    "ConfigError",
    "CookieTooLarge",
    "DecryptionFailed",
    "ForbiddenUpdate",
    "MalformedToken",
    "NoSession",
    "ProviderError",
    "ReflexSessionError",
    "SessionError",
    "TokenError",
    "TokenExpired",
    "TokenTooLarge",
    "UnknownKey",
    "UnsupportedHeader",
]


class ReflexSessionError(Exception):
    """Base of every error raised by reflex-session."""


class ConfigError(ReflexSessionError, ValueError):
    """The configuration cannot work. ``hint`` says how to fix it."""

    def __init__(self, setting: str, problem: str, hint: str = "") -> None:
        self.setting = setting
        self.problem = problem
        self.hint = hint
        message = f"{setting}: {problem}"
        if hint:
            message += f" — {hint}"
        super().__init__(message)


class TokenError(ReflexSessionError):
    """A cookie value could not be turned into a session.

    ``reason`` is a short, fixed, log-safe code (``"malformed"``, ``"header"``, ...). The token
    itself is never stored on the error, so logging an error can never leak a cookie.
    """

    reason = "invalid"

    def __init__(self, detail: str = "", *, kid: str | None = None) -> None:
        self.detail = detail
        self.kid = kid
        super().__init__(f"{self.reason}: {detail}" if detail else self.reason)


class TokenTooLarge(TokenError):
    """The input is larger than any cookie we could have written; refused before any work."""

    reason = "too_large"


class MalformedToken(TokenError):
    """Not five base64url segments of the right sizes, or not UTF-8/JSON where it must be."""

    reason = "malformed"


class UnsupportedHeader(TokenError):
    """The protected header is not exactly the one we write (alg, enc and kid only)."""

    reason = "header"


class UnknownKey(TokenError):
    """The ``kid`` names no secret we hold (a removed secret, or a forged header)."""

    reason = "unknown_key"


class DecryptionFailed(TokenError):
    """AES-GCM authentication failed: the token was altered or made with another key."""

    reason = "decrypt"


class ClaimsError(TokenError):
    """The decrypted claims are not a valid session (PyJWT's checks, or our schema)."""

    reason = "claims"


class TokenExpired(ClaimsError):
    """``exp`` has passed. The ordinary end of a session, not an attack."""

    reason = "expired"


class SessionError(ReflexSessionError):
    """A session operation that the caller asked for cannot be done."""


class NoSession(SessionError):
    """The operation needs a signed-in session and there is none (HTTP 401)."""


class ForbiddenUpdate(SessionError, ValueError):
    """An update names a field that cannot be changed this way (HTTP 422)."""

    def __init__(self, field: str, why: str) -> None:
        self.field = field
        self.why = why
        super().__init__(f"cannot update {field!r}: {why}")


class CookieTooLarge(SessionError):
    """The encoded cookie would pass the browser limit (HTTP 413); nothing was written.

    Browsers silently drop a cookie over 4,096 bytes (name, value and attributes), which would
    log the user out with no error anywhere. We refuse to write it instead.
    """

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(
            f"the session cookie would be {size} bytes, over the {limit}-byte browser limit; "
            "keep large data out of the session (store mode, or a database keyed by user id)"
        )


class ProviderError(ReflexSessionError):
    """A provider sign-in that ended without a session.

    ``reason`` is fixed and safe to show or log: ``flow_missing`` (no sign-in was started in this
    browser, or it was already finished), ``flow_expired``, ``state_mismatch``, ``access_denied``
    (the user or the provider said no), ``provider_error`` (any other error the provider
    returned), ``provider_unavailable`` (it could not be reached, or answered nonsense),
    ``token_refused`` (the code exchange failed: a replayed or foreign code), ``invalid_id_token``
    (signature, ``iss``, ``aud``, ``exp``, ``nonce`` or ``at_hash`` wrong), ``sign_in_refused``
    (the app's own hook said no), ``session_too_large`` (cookie mode: the provider's tokens do not
    fit in a 4,096-byte cookie; use store mode), ``grant_revoked`` (a refresh was refused for
    good: ``invalid_grant``, the grant revoked or expired at the provider; the session has
    ended), ``invalid_logout_token`` (a back-channel logout token that does not verify).
    ``detail`` is for the log only: it may quote the provider.
    """

    REASONS = frozenset(
        {
            "flow_missing",
            "flow_expired",
            "state_mismatch",
            "access_denied",
            "provider_error",
            "provider_unavailable",
            "token_refused",
            "invalid_id_token",
            "sign_in_refused",
            "session_too_large",
            "grant_revoked",
            "invalid_logout_token",
        }
    )

    def __init__(self, reason: str, provider: str = "", detail: str = "") -> None:
        if reason not in self.REASONS:
            raise ValueError(f"unknown provider error reason {reason!r}")
        self.reason = reason
        self.provider = provider
        self.detail = detail
        super().__init__(f"{provider or 'provider'} sign-in failed: {reason}")
