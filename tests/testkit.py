"""What tests share that is not a fixture: the test secret, binding values, a cookie-keeping
browser. A module of its own (not ``conftest``), because several ``conftest.py`` files exist and
``from testkit import ...`` would find whichever was imported last."""

from __future__ import annotations

from typing import Any

from reflex_session import CookieJar, ReflexSession

#: 43 characters, like ``secrets.token_urlsafe(32)``. Only ever used in tests.
SECRET = "rs-test-secret-0123456789-abcdefghijklmnopq"
#: A well-formed browser binding value (43 base64url characters) for tests of the Reflex layer,
#: and the one an attacker's browser presents instead.
BIND = "B" * 43
OTHER_BIND = "A" * 43


class Browser:
    """Keeps what ``Set-Cookie`` headers set (``Max-Age<=0`` deletes) and sends it back.

    It deliberately never expires a cookie by itself, so expiry tests prove the *server*
    refuses an old cookie.
    """

    def __init__(self, auth: ReflexSession[Any], *, https: bool = False) -> None:
        self.auth = auth
        self.https = https
        self.cookies: dict[str, str] = {}

    def jar(self) -> CookieJar:
        header = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        return self.auth.jar(header or None, https=self.https)

    def receive(self, jar: CookieJar) -> int:
        """Apply the response's Set-Cookie headers; return how many there were."""
        for line in jar.set_cookie_headers:
            pair, *attributes = line.split("; ")
            name, _, value = pair.partition("=")
            max_age = next(
                (int(a.split("=", 1)[1]) for a in attributes if a.startswith("Max-Age=")), None
            )
            if max_age is not None and max_age <= 0:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return len(jar.set_cookie_headers)

    @property
    def token(self) -> str | None:
        policy = self.auth.cookie_policy
        return self.cookies.get(policy.name_for(policy.is_secure(self.https)))


def set_cookie_value(response: Any, name: str = "session") -> str | None:
    """The session cookie an HTTP response sets: its value, ``""`` when the response clears it,
    ``None`` when it leaves the cookie alone."""
    for header in response.headers.get_list("set-cookie"):
        pair, _, attributes = header.partition(";")
        cookie_name, _, value = pair.partition("=")
        if cookie_name.strip() == name:
            return "" if "Max-Age=0" in attributes else value
    return None
