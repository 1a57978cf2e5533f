"""The session API (``auth.handlers()``): every status of spec §5, alone and mounted.

Requests set the ``Cookie`` header themselves; httpx's cookie jar is emptied before every request
so that nothing is sent that the test did not write down.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from reflex_session import ReflexSession, Session, wire
from reflex_session.testing import FakeClock

SECRET = "http-api-test-secret-0123456789-abcdefghij"
OTHER_SECRET = "another-secret-entirely-0123456789-abcdef"
EXPIRY = 3600
THRESHOLD = 600
JSON = "application/json"

TYPICAL_USER = {
    "id": "user-42",
    "email": "ada@example.com",
    "name": "Ada Lovelace",
    "image": "https://cdn.example.com/avatars/ada.png",
    "plan": "pro",
    "prefs": {"theme": "dark", "lang": "en"},
}


def build_auth(clock: FakeClock, **overrides: Any) -> ReflexSession[Any]:
    settings: dict[str, Any] = {
        "secret_key": SECRET,
        "session_expiry": EXPIRY,
        "refresh_threshold": THRESHOLD,
        "clock": clock,
        # the merge and size tests write these fields from the browser on purpose; the default
        # allowlist (name, image) is tested in test_patch_refuses_fields_outside_the_allowlist
        "client_user_fields": ("name", "image", "prefs", "newKey", "bio"),
    }
    settings.update(overrides)
    return ReflexSession(**settings)


@pytest.fixture
def auth(clock: FakeClock) -> ReflexSession[Any]:
    return build_auth(clock)


@dataclass
class Api:
    """A client for the session API and the URL it answers at."""

    auth: ReflexSession[Any]
    client: httpx.AsyncClient
    url: str
    https: bool

    @property
    def cookie_name(self) -> str:
        return self.auth.cookie_policy.name_for(self.https)

    def cookie_for(self, session: Session[Any]) -> str:
        return f"{self.cookie_name}={self.auth.encrypt_session(session)}"

    async def request(
        self,
        method: str,
        *,
        cookie: str | bytes | None = None,
        headers: dict[str, str] | None = None,
        path: str | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        self.client.cookies.clear()  # only the Cookie header we write is sent
        sent: dict[str, str | bytes] = dict(headers or {})
        if cookie is not None:
            sent["Cookie"] = cookie
        url = self.url if path is None else path
        response = await self.client.request(method, url, headers=sent, **kwargs)
        self.client.cookies.clear()
        return response


def _mounted(app: Any) -> Starlette:
    return Starlette(routes=[Mount("/api/session", app=app)])


async def _api(auth: ReflexSession[Any], mode: str, https: bool = False) -> AsyncIterator[Api]:
    handlers = auth.handlers()
    if mode == "mounted":
        app, url = _mounted(handlers), "/api/session/"
    else:
        app, url = handlers, "/"
    base = "https://testserver" if https else "http://testserver"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base) as client:
        yield Api(auth, client, url, https)


@pytest.fixture(params=["standalone", "mounted"])
async def api(request: pytest.FixtureRequest, auth: ReflexSession[Any]) -> AsyncIterator[Api]:
    async for value in _api(auth, request.param):
        yield value


@pytest.fixture(params=["standalone", "mounted"])
async def https_api(request: pytest.FixtureRequest, auth: ReflexSession[Any]) -> AsyncIterator[Api]:
    async for value in _api(auth, request.param, https=True):
        yield value


@pytest.fixture
def session(auth: ReflexSession[Any]) -> Session[Any]:
    return auth.new_session(TYPICAL_USER, access_token="at-123", refresh_token="rt-456")


# -- helpers ------------------------------------------------------------------------------------


def set_cookies(response: httpx.Response) -> list[str]:
    return response.headers.get_list("set-cookie")


def parse_set_cookie(header: str) -> tuple[str, str, dict[str, str]]:
    first, *rest = (part.strip() for part in header.split(";"))
    name, _, value = first.partition("=")
    attrs: dict[str, str] = {}
    for part in rest:
        key, _, val = part.partition("=")
        attrs[key.strip().lower()] = val.strip()
    return name, value, attrs


def the_cookie(response: httpx.Response, name: str) -> tuple[str, dict[str, str]]:
    found = [parse_set_cookie(h) for h in set_cookies(response)]
    ours = [(value, attrs) for n, value, attrs in found if n == name]
    assert len(ours) == 1, set_cookies(response)
    assert len(found) == 1, set_cookies(response)
    return ours[0]


def assert_no_store(response: httpx.Response) -> None:
    assert response.headers.get("cache-control") == "no-store", response.headers
    vary = [v.strip().lower() for v in response.headers.get("vary", "").split(",")]
    assert "cookie" in vary, response.headers


def assert_no_cookie(response: httpx.Response) -> None:
    assert set_cookies(response) == []


def assert_cookie_attributes(attrs: dict[str, str], *, secure: bool) -> None:
    assert attrs["path"] == "/"
    assert "httponly" in attrs
    assert attrs["samesite"] == "Lax"
    assert ("secure" in attrs) is secure
    assert "domain" not in attrs


# -- GET ----------------------------------------------------------------------------------------


async def test_get_without_session(api: Api) -> None:
    response = await api.request("GET")
    assert response.status_code == 200
    assert response.json() == {
        "session": None,
        "status": "unauthenticated",
        "refreshThreshold": THRESHOLD,
    }
    assert_no_cookie(response)
    assert_no_store(response)
    assert response.headers["content-type"].startswith("application/json")


async def test_get_with_session(api: Api, session: Session[Any]) -> None:
    response = await api.request("GET", cookie=api.cookie_for(session))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"session", "status", "refreshThreshold"}
    assert body["status"] == "authenticated"
    assert body["refreshThreshold"] == THRESHOLD
    view = body["session"]
    assert view == wire.to_view(session)
    assert view["user"] == TYPICAL_USER
    assert set(view) == {"user", "expiresAt", "expiryDate", "createdAt", "lastActivity"}
    # tokens stay server-side, and the cookie itself is never echoed
    text = response.text
    for secret in (
        "at-123",
        "rt-456",
        "accessToken",
        "refreshToken",
        api.auth.encrypt_session(session),
    ):
        assert secret not in text
    assert_no_cookie(response)  # fresh cookie: nothing to re-issue
    assert_no_store(response)


async def test_get_exposes_tokens_only_when_opted_in(clock: FakeClock) -> None:
    auth = build_auth(clock, expose_tokens=True)
    session = auth.new_session(TYPICAL_USER, access_token="at-123", refresh_token="rt-456")
    async for api in _api(auth, "standalone"):
        body = (await api.request("GET", cookie=api.cookie_for(session))).json()
        assert body["session"]["accessToken"] == "at-123"
        assert body["session"]["refreshToken"] == "rt-456"


async def test_head_is_get_without_body(api: Api, session: Session[Any]) -> None:
    response = await api.request("HEAD", cookie=api.cookie_for(session))
    assert response.status_code == 200
    assert response.content == b""
    assert_no_store(response)


@pytest.mark.parametrize(
    ("elapsed", "reissued"),
    [(0, False), (THRESHOLD - 1, False), (THRESHOLD, True), (EXPIRY - 1, True)],
    ids=["fresh", "just-before-threshold", "at-threshold", "just-before-expiry"],
)
async def test_get_reissues_after_the_refresh_threshold(
    api: Api, session: Session[Any], clock: FakeClock, elapsed: int, reissued: bool
) -> None:
    cookie = api.cookie_for(session)
    clock.advance(elapsed)
    response = await api.request("GET", cookie=cookie)
    assert response.status_code == 200
    assert response.json()["status"] == "authenticated"
    if not reissued:
        assert_no_cookie(response)
        return
    value, attrs = the_cookie(response, api.cookie_name)
    assert_cookie_attributes(attrs, secure=False)
    assert int(attrs["max-age"]) == EXPIRY
    renewed = api.auth.decrypt_session(value)
    assert renewed is not None
    assert renewed.expires_at == session.expires_at + elapsed * 1000
    assert renewed.last_activity == session.last_activity + elapsed * 1000
    assert (renewed.id, renewed.user, renewed.created_at) == (
        session.id,
        session.user,
        session.created_at,
    )
    assert (renewed.access_token, renewed.refresh_token) == ("at-123", "rt-456")
    assert response.json()["session"]["expiresAt"] == renewed.expires_at
    # the re-issued cookie is fresh: reading it again right away re-issues nothing
    again = await api.request("GET", cookie=f"{api.cookie_name}={value}")
    assert_no_cookie(again)


async def test_get_after_expiry_is_unauthenticated_and_clears(
    api: Api, session: Session[Any], clock: FakeClock
) -> None:
    cookie = api.cookie_for(session)
    clock.advance(EXPIRY)
    response = await api.request("GET", cookie=cookie)
    assert response.status_code == 200
    assert response.json()["status"] == "unauthenticated"
    value, attrs = the_cookie(response, api.cookie_name)
    assert (value, attrs["max-age"]) == ("", "0")


GARBAGE = {
    "word": "garbage",
    "empty": "",
    "five-dots": "....",
    "five-segments": "a.b.c.d.e",
    "alg-none-jws": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
    "bad-base64": "!!!.###.$$$.%%%.^^^",
    "huge": "A" * 5000,
    "quoted": '"abc"',
    "unicode": "\u00e9\u00e9\u00e9",
    "json": '{"user":{"id":"admin"}}',
}


@pytest.mark.parametrize("value", list(GARBAGE.values()), ids=list(GARBAGE))
async def test_garbage_cookie_is_unauthenticated_never_5xx(api: Api, value: str) -> None:
    response = await api.request("GET", cookie=f"{api.cookie_name}={value}".encode())
    assert response.status_code == 200
    assert response.json()["status"] == "unauthenticated"
    assert response.json()["session"] is None
    for header in set_cookies(response):  # at most a clearing cookie
        _, cleared, attrs = parse_set_cookie(header)
        assert (cleared, attrs["max-age"]) == ("", "0")
    assert_no_store(response)


async def test_tampered_and_foreign_cookies_are_unauthenticated(
    api: Api, session: Session[Any], clock: FakeClock
) -> None:
    token = api.auth.encrypt_session(session)
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    foreign = build_auth(clock, secret_key=OTHER_SECRET).encrypt_session(session)
    middle = token.split(".")
    middle[3] = middle[3][::-1]
    for value in (flipped, foreign, ".".join(middle), token + ".x", token[:-1]):
        response = await api.request("GET", cookie=f"{api.cookie_name}={value}")
        assert response.status_code == 200
        assert response.json()["status"] == "unauthenticated"


async def test_other_cookies_are_ignored(api: Api, session: Session[Any]) -> None:
    cookie = f"theme=dark; {api.cookie_for(session)}; tracking=abc"
    response = await api.request("GET", cookie=cookie)
    assert response.json()["status"] == "authenticated"


# -- POST (refresh) ------------------------------------------------------------------------------


async def test_post_refreshes(api: Api, session: Session[Any], clock: FakeClock) -> None:
    cookie = api.cookie_for(session)
    clock.advance(120)  # well under the threshold: POST refreshes anyway
    response = await api.request("POST", cookie=cookie)
    assert response.status_code == 200
    assert response.json()["status"] == "authenticated"
    value, attrs = the_cookie(response, api.cookie_name)
    assert_cookie_attributes(attrs, secure=False)
    assert int(attrs["max-age"]) == EXPIRY
    renewed = api.auth.decrypt_session(value)
    assert renewed is not None
    assert renewed.expires_at == session.expires_at + 120_000
    assert renewed.expires_at > session.expires_at
    assert (renewed.id, renewed.user, renewed.access_token, renewed.refresh_token) == (
        session.id,
        session.user,
        "at-123",
        "rt-456",
    )
    assert response.json()["session"] == wire.to_view(renewed)
    assert_no_store(response)


@pytest.mark.parametrize(
    "cookie",
    [None, "session=garbage", "theme=dark"],
    ids=["no-cookie", "garbage-cookie", "unrelated-cookie"],
)
async def test_post_without_session_is_401_without_cookie(api: Api, cookie: str | None) -> None:
    response = await api.request("POST", cookie=cookie)
    assert response.status_code == 401
    assert response.json() == {"error": "unauthenticated"}
    assert_no_cookie(response)
    assert_no_store(response)


async def test_post_with_expired_session_is_401(
    api: Api, session: Session[Any], clock: FakeClock
) -> None:
    cookie = api.cookie_for(session)
    clock.advance(EXPIRY + 1)
    response = await api.request("POST", cookie=cookie)
    assert response.status_code == 401
    assert_no_cookie(response)


# -- PATCH (update) ------------------------------------------------------------------------------


async def test_patch_merges_and_keeps_every_other_field(
    api: Api, session: Session[Any], clock: FakeClock
) -> None:
    clock.advance(5)
    response = await api.request(
        "PATCH", cookie=api.cookie_for(session), json={"user": {"name": "x"}}
    )
    assert response.status_code == 200
    value, attrs = the_cookie(response, api.cookie_name)
    assert_cookie_attributes(attrs, secure=False)
    updated = api.auth.decrypt_session(value)
    assert updated is not None
    assert updated.user.to_wire() == {**TYPICAL_USER, "name": "x"}
    assert updated.user.email == "ada@example.com"
    assert updated.user.image == TYPICAL_USER["image"]
    assert updated.user.extra == {"plan": "pro", "prefs": {"theme": "dark", "lang": "en"}}
    assert (updated.access_token, updated.refresh_token) == ("at-123", "rt-456")
    assert (updated.id, updated.created_at, updated.expires_at) == (
        session.id,
        session.created_at,
        session.expires_at,
    )
    assert response.json()["session"]["user"] == {**TYPICAL_USER, "name": "x"}
    assert "accessToken" not in response.text
    assert_no_store(response)


async def test_patch_deep_merges_nested_objects(api: Api, session: Session[Any]) -> None:
    response = await api.request(
        "PATCH",
        cookie=api.cookie_for(session),
        json={"user": {"prefs": {"theme": "light"}, "newKey": [1, 2]}},
    )
    assert response.status_code == 200
    value, _ = the_cookie(response, api.cookie_name)
    updated = api.auth.decrypt_session(value)
    assert updated is not None
    assert updated.user.get("prefs") == {"theme": "light", "lang": "en"}
    assert updated.user.get("newKey") == [1, 2]
    assert updated.user.name == "Ada Lovelace"


async def test_patch_accepts_json_with_charset(api: Api, session: Session[Any]) -> None:
    response = await api.request(
        "PATCH",
        cookie=api.cookie_for(session),
        content=json.dumps({"user": {"name": "y"}}).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200
    assert response.json()["session"]["user"]["name"] == "y"


async def test_patch_same_user_id_is_allowed(api: Api, session: Session[Any]) -> None:
    response = await api.request(
        "PATCH", cookie=api.cookie_for(session), json={"user": {"id": "user-42", "name": "z"}}
    )
    assert response.status_code == 200


@pytest.mark.parametrize("cookie", [None, "session=garbage"], ids=["no-cookie", "garbage-cookie"])
async def test_patch_without_session_is_401_without_cookie(api: Api, cookie: str | None) -> None:
    response = await api.request("PATCH", cookie=cookie, json={"user": {"name": "x"}})
    assert response.status_code == 401
    assert response.json() == {"error": "unauthenticated"}
    assert_no_cookie(response)
    assert_no_store(response)


PATCH_ERRORS = [
    # (id, body bytes, content type, status)
    ("bad-json", b'{"user": {"name": ', "application/json", 400),
    ("not-utf8", b"\xff\xfe{", "application/json", 400),
    ("empty-body", b"", "application/json", 400),
    ("text-plain", b'{"user": {"name": "x"}}', "text/plain", 415),
    ("form", b"user=x", "application/x-www-form-urlencoded", 415),
    ("no-content-type", b'{"user": {"name": "x"}}', None, 415),
    ("other-user-id", b'{"user": {"id": "other"}}', "application/json", 422),
    ("expires-at", b'{"expiresAt": 1}', "application/json", 422),
    ("created-at", b'{"createdAt": 1}', "application/json", 422),
    ("last-activity", b'{"lastActivity": 1}', "application/json", 422),
    ("session-id", b'{"id": "x"}', "application/json", 422),
    ("access-token", b'{"accessToken": "stolen"}', "application/json", 422),
    ("unknown-key", b'{"isAdmin": true}', "application/json", 422),
    ("array", b"[]", "application/json", 422),
    ("null", b"null", "application/json", 422),
    ("user-not-object", b'{"user": "x"}', "application/json", 422),
    ("good-and-bad", b'{"user": {"name": "x"}, "expiresAt": 1}', "application/json", 422),
]


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [case[1:] for case in PATCH_ERRORS],
    ids=[case[0] for case in PATCH_ERRORS],
)
async def test_patch_errors_change_nothing(
    api: Api, session: Session[Any], body: bytes, content_type: str | None, status: int
) -> None:
    cookie = api.cookie_for(session)
    headers = {"Content-Type": content_type} if content_type else {}
    response = await api.request("PATCH", cookie=cookie, content=body, headers=headers)
    assert response.status_code == status, response.text
    assert "error" in response.json()
    assert_no_cookie(response)
    assert_no_store(response)
    assert api.auth.decrypt_session(cookie.split("=", 1)[1]) == session
    # and the session as the API sees it is unchanged
    after = await api.request("GET", cookie=cookie)
    assert after.json()["session"] == wire.to_view(session)


async def test_patch_past_the_cookie_limit_is_413(api: Api, session: Session[Any]) -> None:
    cookie = api.cookie_for(session)
    response = await api.request("PATCH", cookie=cookie, json={"user": {"bio": "b" * 3500}})
    assert response.status_code == 413
    assert response.json()["error"] == "session_too_large"
    assert_no_cookie(response)
    assert_no_store(response)
    assert api.auth.decrypt_session(cookie.split("=", 1)[1]) == session
    after = await api.request("GET", cookie=cookie)
    assert after.json()["session"]["user"] == TYPICAL_USER


async def test_patch_just_under_the_cookie_limit_is_fine(api: Api, session: Session[Any]) -> None:
    response = await api.request(
        "PATCH", cookie=api.cookie_for(session), json={"user": {"bio": "b" * 2000}}
    )
    assert response.status_code == 200
    value, _ = the_cookie(response, api.cookie_name)
    assert len(api.cookie_name) + 1 + len(value) <= 4096


async def test_patch_body_over_16_kib_is_413(api: Api, session: Session[Any]) -> None:
    cookie = api.cookie_for(session)
    body = json.dumps({"user": {"bio": "b" * (16 * 1024)}}).encode()
    response = await api.request(
        "PATCH", cookie=cookie, content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert_no_cookie(response)
    assert_no_store(response)
    assert api.auth.decrypt_session(cookie.split("=", 1)[1]) == session


async def test_patch_streamed_body_over_16_kib_is_413(api: Api, session: Session[Any]) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"user": {"bio": "'
        for _ in range(40):
            yield b"b" * 1024
        yield b'"}}'

    response = await api.request(
        "PATCH",
        cookie=api.cookie_for(session),
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert_no_cookie(response)


async def test_patch_bad_content_length_is_refused(api: Api, session: Session[Any]) -> None:
    response = await api.request(
        "PATCH",
        cookie=api.cookie_for(session),
        content=b"{}",
        headers={"Content-Type": "application/json", "Content-Length": "999999"},
    )
    assert response.status_code == 413
    assert_no_cookie(response)


# -- DELETE (logout) -----------------------------------------------------------------------------


@pytest.mark.parametrize("signed_in", [True, False], ids=["with-session", "without-session"])
async def test_delete_clears_the_cookie(api: Api, session: Session[Any], signed_in: bool) -> None:
    cookie = api.cookie_for(session) if signed_in else None
    response = await api.request("DELETE", cookie=cookie)
    assert response.status_code == 200
    assert response.json() == {
        "session": None,
        "status": "unauthenticated",
        "refreshThreshold": THRESHOLD,
    }
    value, attrs = the_cookie(response, "session")
    assert value == ""
    assert attrs["path"] == "/"
    assert attrs["max-age"] == "0"
    assert "httponly" in attrs
    assert_no_store(response)


# -- other methods -------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "OPTIONS", "TRACE", "CONNECT", "FOO"])
async def test_other_methods_are_405_with_allow(
    api: Api, session: Session[Any], method: str
) -> None:
    response = await api.request(method, cookie=api.cookie_for(session))
    assert response.status_code == 405
    allowed = {m.strip() for m in response.headers["allow"].split(",")}
    assert {"GET", "POST", "PATCH", "DELETE"} <= allowed
    assert method not in allowed
    assert_no_cookie(response)
    assert_no_store(response)


# -- every response: no-store, Vary: Cookie --------------------------------------------------------


async def test_every_response_is_no_store_and_varies_on_cookie(
    api: Api, session: Session[Any], clock: FakeClock
) -> None:
    cookie = api.cookie_for(session)
    below = api.url.rstrip("/") + "/nope"
    cases: list[tuple[str, dict[str, Any]]] = [
        ("GET", {}),
        ("GET", {"cookie": cookie}),
        ("GET", {"cookie": "session=garbage"}),
        ("HEAD", {"cookie": cookie}),
        ("POST", {}),
        ("POST", {"cookie": cookie}),
        ("PATCH", {"cookie": cookie, "json": {"user": {"name": "q"}}}),
        (
            "PATCH",
            {"cookie": cookie, "content": b"{", "headers": {"Content-Type": "application/json"}},
        ),
        ("PATCH", {"cookie": cookie, "content": b"x", "headers": {"Content-Type": "text/plain"}}),
        ("PATCH", {"cookie": cookie, "json": {"expiresAt": 1}}),
        ("PATCH", {"cookie": cookie, "json": {"user": {"bio": "b" * 3500}}}),
        ("PATCH", {"json": {"user": {"name": "q"}}}),
        ("DELETE", {"cookie": cookie}),
        ("PUT", {}),
        ("OPTIONS", {}),
        ("POST", {"cookie": cookie, "headers": {"Origin": "https://evil.example"}}),
        ("GET", {"path": below}),
    ]
    statuses = set()
    for method, kwargs in cases:
        response = await api.request(method, **kwargs)
        statuses.add(response.status_code)
        assert_no_store(response)
    assert statuses == {200, 400, 401, 403, 404, 405, 413, 415, 422}
    # and a re-issuing GET too
    clock.advance(THRESHOLD)
    response = await api.request("GET", cookie=cookie)
    assert set_cookies(response)
    assert_no_store(response)


# -- cross-site requests -----------------------------------------------------------------------

CROSS_SITE = {
    "evil-origin": {"Origin": "https://evil.example"},
    "null-origin": {"Origin": "null"},
    "sec-fetch-cross-site": {"Sec-Fetch-Site": "cross-site"},
    "cross-site-with-own-origin": {"Sec-Fetch-Site": "cross-site", "Origin": "http://testserver"},
    "same-site-untrusted": {"Sec-Fetch-Site": "same-site", "Origin": "https://sub.testserver"},
    "same-site-no-origin": {"Sec-Fetch-Site": "same-site"},
    "origin-other-scheme": {"Origin": "https://testserver"},
    "origin-other-port": {"Origin": "http://testserver:8080"},
    "origin-suffix": {"Origin": "http://testserver.evil.example"},
}

STATE_CHANGES: dict[str, dict[str, Any]] = {
    "POST": {},
    "PATCH": {"json": {"user": {"name": "pwned"}}},
    "DELETE": {},
}


@pytest.mark.parametrize("method", list(STATE_CHANGES))
@pytest.mark.parametrize("headers", list(CROSS_SITE.values()), ids=list(CROSS_SITE))
async def test_cross_site_state_changes_are_403(
    api: Api, session: Session[Any], clock: FakeClock, method: str, headers: dict[str, str]
) -> None:
    cookie = api.cookie_for(session)
    clock.advance(THRESHOLD)  # old enough that any read would re-issue: still no cookie
    response = await api.request(method, cookie=cookie, headers=headers, **STATE_CHANGES[method])
    assert response.status_code == 403
    assert response.json() == {"error": "cross_site"}
    assert_no_cookie(response)
    assert_no_store(response)
    assert api.auth.decrypt_session(cookie.split("=", 1)[1]) == session


@pytest.mark.parametrize("method", list(STATE_CHANGES))
@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://testserver"},
        {"Origin": "http://testserver/"},
        {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},
        {},
    ],
    ids=[
        "own-origin",
        "own-origin-slash",
        "own-origin-fetch",
        "fetch-only",
        "user-typed",
        "no-headers",
    ],
)
async def test_same_origin_state_changes_are_allowed(
    api: Api, session: Session[Any], method: str, headers: dict[str, str]
) -> None:
    response = await api.request(
        method, cookie=api.cookie_for(session), headers=headers, **STATE_CHANGES[method]
    )
    assert response.status_code == 200
    assert set_cookies(response)


async def test_trusted_origin_is_allowed_same_site(clock: FakeClock) -> None:
    auth = build_auth(clock, trusted_origins=["https://app.testserver"])
    session = auth.new_session(TYPICAL_USER)
    for mode in ("standalone", "mounted"):
        async for api in _api(auth, mode):
            trusted = {"Origin": "https://app.testserver", "Sec-Fetch-Site": "same-site"}
            for method, extra in STATE_CHANGES.items():
                response = await api.request(
                    method, cookie=api.cookie_for(session), headers=trusted, **extra
                )
                assert response.status_code == 200, (mode, method)
            # only that origin
            other = {"Origin": "https://other.testserver", "Sec-Fetch-Site": "same-site"}
            response = await api.request("POST", cookie=api.cookie_for(session), headers=other)
            assert response.status_code == 403


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        {"Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
    ],
    ids=["origin-and-fetch", "origin-only", "fetch-only"],
)
async def test_cross_site_reads_reveal_nothing(
    api: Api, session: Session[Any], clock: FakeClock, method: str, headers: dict[str, str]
) -> None:
    # a permissive CORS setup (Reflex echoes any Origin with credentials) must not let another
    # site read the session: the API refuses cross-site reads as well
    clock.advance(THRESHOLD)  # old enough to be re-issued by a same-site read
    response = await api.request(method, cookie=api.cookie_for(session), headers=headers)
    assert response.status_code == 403
    assert "ada@example.com" not in response.text
    assert "user-42" not in response.text
    assert_no_cookie(response)
    assert_no_store(response)


async def test_same_origin_reads_are_allowed(api: Api, session: Session[Any]) -> None:
    for headers in (
        {"Sec-Fetch-Site": "same-origin"},
        {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},
        {},
    ):
        response = await api.request("GET", cookie=api.cookie_for(session), headers=headers)
        assert response.status_code == 200, headers
        assert response.json()["status"] == "authenticated"


# -- https: __Host- cookie ----------------------------------------------------------------------


async def test_https_uses_host_prefixed_secure_cookie(
    https_api: Api, session: Session[Any]
) -> None:
    api = https_api
    assert api.cookie_name == "__Host-session"
    cookie = api.cookie_for(session)
    response = await api.request("POST", cookie=cookie, headers={"Origin": "https://testserver"})
    assert response.status_code == 200
    value, attrs = the_cookie(response, "__Host-session")
    assert_cookie_attributes(attrs, secure=True)
    assert api.auth.decrypt_session(value) is not None

    logout = await api.request("DELETE", cookie=cookie)
    value, attrs = the_cookie(logout, "__Host-session")
    assert (value, attrs["max-age"], attrs["path"]) == ("", "0", "/")
    assert "secure" in attrs


async def test_https_ignores_a_cookie_without_the_prefix(
    https_api: Api, session: Session[Any]
) -> None:
    plain = f"session={https_api.auth.encrypt_session(session)}"
    response = await https_api.request("GET", cookie=plain)
    assert response.json()["status"] == "unauthenticated"


async def test_http_cookie_is_not_secure(api: Api, session: Session[Any]) -> None:
    response = await api.request("POST", cookie=api.cookie_for(session))
    value, attrs = the_cookie(response, "session")
    assert_cookie_attributes(attrs, secure=False)
    assert value


# -- paths ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["x", "x/y", "session", "%2e%2e", "index.html"])
async def test_paths_below_the_root_are_404(api: Api, suffix: str) -> None:
    response = await api.request("GET", path=api.url.rstrip("/") + "/" + suffix)
    assert response.status_code == 404
    assert_no_store(response)
    assert_no_cookie(response)


async def test_mounted_app_does_not_answer_elsewhere(auth: ReflexSession[Any]) -> None:
    app = _mounted(auth.handlers())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        assert (await client.get("/api/other")).status_code == 404
        assert (await client.get("/")).status_code == 404


async def test_non_http_scopes_are_ignored(auth: ReflexSession[Any]) -> None:
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "lifespan.startup"}

    async def send(message: Any) -> None:
        sent.append(message)

    await auth.handlers()({"type": "lifespan"}, receive, send)
    assert sent == []


async def test_patch_refuses_fields_outside_the_allowlist(clock: FakeClock) -> None:
    """By default the browser may change name and image only: never its own role."""
    auth = ReflexSession(secret_key=SECRET, clock=clock)
    jar = auth.jar(None)
    session = await auth.create_session(jar, {"id": "u1", "name": "Ada", "role": "user"})
    app = auth.handlers()
    cookie = f"session={jar.read()}"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        refused = await client.patch(
            "/", json={"user": {"role": "admin"}}, headers={"cookie": cookie}
        )
        allowed = await client.patch(
            "/", json={"user": {"name": "Ada K"}}, headers={"cookie": cookie}
        )
    assert refused.status_code == 422
    assert refused.json() == {"error": "forbidden_field", "field": "user.role"}
    assert "set-cookie" not in refused.headers
    assert allowed.status_code == 200
    token = allowed.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    updated = auth.decrypt_session(token)
    assert updated is not None
    assert updated.user.name == "Ada K"
    assert updated.user["role"] == "user"
    assert updated.id == session.id
