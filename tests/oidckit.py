"""Talking to the test provider: registering a client, reading its counters, and signing in
through its development pages the way a user would (the ``provider`` fixture is in
tests/conftest.py).

Each test registers a client of its own (Dynamic Client Registration, the secret as initial
access token): its redirect URI can name any port, and the provider's counters
(``Provider.stats``) are per client, so tests never see each other's grants.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape
from typing import Any
from urllib.parse import urljoin

import httpx2


@dataclass(frozen=True)
class Client:
    """A client registered at the provider for one test."""

    client_id: str
    client_secret: str
    redirect_uri: str


@dataclass(frozen=True)
class Provider:
    issuer: str
    secret: str

    def discovery(self) -> dict[str, Any]:
        response = httpx2.get(f"{self.issuer}/.well-known/openid-configuration", timeout=5)
        response.raise_for_status()
        document: dict[str, Any] = response.json()
        return document

    def register(self, redirect_uri: str, **metadata: Any) -> Client:
        body = {
            "redirect_uris": [redirect_uri],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            **metadata,
        }
        response = httpx2.post(
            f"{self.issuer}/reg",
            json=body,
            headers={"Authorization": f"Bearer {self.secret}"},
            timeout=5,
        )
        assert response.status_code == 201, response.text
        data = response.json()
        return Client(data["client_id"], data["client_secret"], redirect_uri)

    def stats(self, client: Client) -> dict[str, Any]:
        """What reached the provider's token endpoint from ``client``: ``{"grants": {type: n},
        "refused": {"type:error": n}, "revoked": n}``."""
        response = httpx2.get(
            f"{self.issuer}/__test/stats",
            params={"client_id": client.client_id},
            headers={"Authorization": f"Bearer {self.secret}"},
            timeout=5,
        )
        response.raise_for_status()
        stats: dict[str, Any] = response.json()
        return stats

    def send_backchannel_logout(self, client: Client, sub: str, sid: str = "") -> int:
        """Make the provider send ``client`` its Back-Channel Logout token for ``sub`` (and
        ``sid``), through its own code; the status it got from the client's endpoint."""
        response = httpx2.post(
            f"{self.issuer}/__test/backchannel",
            params={"client_id": client.client_id, "sub": sub, "sid": sid},
            headers={"Authorization": f"Bearer {self.secret}"},
            timeout=10,
        )
        return response.status_code

    def revoke(self, client: Client, token: str, hint: str = "refresh_token") -> None:
        """Revoke ``token`` at the provider as its client would (RFC 7009): what an
        administrator or the user does at the provider, seen from the app."""
        endpoint = self.discovery()["revocation_endpoint"]
        response = httpx2.post(
            endpoint,
            data={"token": token, "token_type_hint": hint},
            auth=(client.client_id, client.client_secret),
            timeout=5,
        )
        assert response.status_code == 200, response.text

    def userinfo_works(self, access_token: str) -> bool:
        """Whether the provider still accepts ``access_token`` (its userinfo endpoint)."""
        endpoint = self.discovery()["userinfo_endpoint"]
        response = httpx2.get(
            endpoint, headers={"Authorization": f"Bearer {access_token}"}, timeout=5
        )
        return response.status_code == 200


_FORM = re.compile(r"<form\b[^>]*\baction=\"([^\"]+)\"[^>]*>(.*?)</form>", re.S)
_HIDDEN = re.compile(r"<input type=\"hidden\" name=\"([^\"]+)\" value=\"([^\"]*)\"")


def sign_in_at_provider(
    provider: Provider, authorization_url: str, login: str = "ada", *, consent: bool = True
) -> str:
    """Drive the provider's development pages as a user would (sign in, then consent) and
    return the URL it finally redirects to: the client's redirect URI with ``code`` and
    ``state``, or an error. Plain HTTP with the provider's own cookies, no browser."""
    with httpx2.Client(timeout=5) as http:
        url = authorization_url
        for _ in range(12):
            response = http.get(url)
            if response.status_code in (302, 303):
                url = urljoin(url, response.headers["location"])
                if not url.startswith(provider.issuer):
                    return url
                continue
            assert response.status_code == 200, (response.status_code, response.text[:500])
            match = _FORM.search(response.text)
            assert match, response.text[:500]
            action, body = unescape(match.group(1)), match.group(2)
            fields = {name: unescape(value) for name, value in _HIDDEN.findall(body)}
            if fields.get("prompt") == "login":
                fields.update(login=login, password="any")
            elif fields.get("prompt") == "consent" and not consent:
                return _abort(http, action, provider.issuer)
            posted = http.post(action, data=fields)
            assert posted.status_code in (302, 303), posted.text[:500]
            url = urljoin(action, posted.headers["location"])
            if not url.startswith(provider.issuer):
                return url
    raise AssertionError("the provider's sign-in did not finish")


def _abort(http: httpx2.Client, action: str, issuer: str) -> str:
    """The user presses "Cancel" on the consent page: follow the provider's redirects until
    they leave it (the client's redirect URI, with ``error=access_denied``)."""
    response = http.get(action.rstrip("/") + "/abort")
    location = urljoin(action, response.headers["location"])
    while location.startswith(issuer):
        response = http.get(location)
        location = urljoin(location, response.headers["location"])
    return location
