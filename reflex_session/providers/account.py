"""Who a finished provider sign-in is, in the app's terms: the profile mapper and the hooks.

The default identity is ``"{provider}:{sub}"``: the provider's stable subject, namespaced by the
provider. Never the email address: two providers (or one provider over time) can hand the same
address to different people, and a provider that lets users type any address without proving it
would let an attacker claim the victim's account ("pre-account takeover"). An email is passed on
only when the provider says it is verified (``email_verified`` true; GitHub's API gives no such
flag, so its address is passed on only as ``unverified_email``).

Hooks, next-auth style, all optional:

* ``map_profile(result) -> dict``: the user's fields for the session (must include ``id``);
* ``allow_sign_in(result, user) -> bool``: the app's last word (a domain allow-list, a banned
  user); ``False`` ends the sign-in as ``sign_in_refused``;
* ``link_account(result, user) -> dict | None``: map a provider identity onto an existing local
  account, e.g. by verified email. **Dangerous** and off by default: it trusts the provider to
  have proven the address, and anyone who controls that address at *any* linked provider then
  controls the account. Only link on ``email_verified`` from providers you trust for that domain.

The hooks may be plain or ``async`` functions.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ..errors import ProviderError
from .flow import SignInResult

__all__ = ["AccountHooks", "default_profile", "user_for"]

Hook = Callable[..., Any | Awaitable[Any]]


def default_profile(result: SignInResult) -> dict[str, Any]:
    """The user fields from a verified sign-in: ``id`` (``provider:sub``), ``name``, ``image``
    and, when the provider vouches for it, ``email``."""
    claims = result.claims
    provider = result.provider.name
    user: dict[str, Any] = {"id": f"{provider}:{claims['sub']}", "provider": provider}
    name = claims.get("name") or claims.get("preferred_username") or claims.get("login")
    if isinstance(name, str) and name:
        user["name"] = name[:200]
    image = claims.get("picture") or claims.get("avatar_url")
    if isinstance(image, str) and image.startswith("https://"):
        user["image"] = image[:2000]
    email = claims.get("email")
    if isinstance(email, str) and email:
        if claims.get("email_verified") is True:
            user["email"] = email[:320]
        else:
            user["unverified_email"] = email[:320]
    return user


async def _call(hook: Hook, *args: Any) -> Any:
    value = hook(*args)
    return await value if inspect.isawaitable(value) else value


class AccountHooks:
    """The app's say in who signs in (see the module docstring); every hook is optional."""

    def __init__(
        self,
        *,
        map_profile: Hook | None = None,
        allow_sign_in: Hook | None = None,
        link_account: Hook | None = None,
    ) -> None:
        self.map_profile = map_profile
        self.allow_sign_in = allow_sign_in
        self.link_account = link_account


async def user_for(result: SignInResult, hooks: AccountHooks | None = None) -> dict[str, Any]:
    """The session's user for ``result``: mapped, maybe linked, then allowed; raises
    :class:`ProviderError` (``sign_in_refused``) when the app says no or a hook returns no
    usable user."""
    hooks = hooks or AccountHooks()
    provider = result.provider.name
    user: Any = (
        await _call(hooks.map_profile, result) if hooks.map_profile else default_profile(result)
    )
    if hooks.link_account is not None:
        linked = await _call(hooks.link_account, result, user)
        if linked is not None:
            user = linked
    if not isinstance(user, Mapping) or not isinstance(user.get("id"), str) or not user["id"]:
        raise ProviderError("sign_in_refused", provider, "the profile mapper gave no user id")
    fields: dict[str, Any] = dict(user)
    allowed = (
        True if hooks.allow_sign_in is None else await _call(hooks.allow_sign_in, result, fields)
    )
    if allowed is not True:  # exactly True: a hook that forgets to return refuses
        raise ProviderError("sign_in_refused", provider, "allow_sign_in said no")
    return fields
