"""The lifecycle verbs over a CookieJar (async): create, get, update, refresh, delete,
is_authenticated, and the on_validate / on_refresh callbacks.

One contract, run over every backend the engine has: the sealed cookie, the sealed cookie with a
revocation store, and a session store behind an id-only cookie. A verb behaves the same on all
three; where they differ on purpose (what a copy of the cookie can do after logout) the test says
so."""

from __future__ import annotations

from typing import Any

import pytest
from testkit import SECRET

from reflex_session import ForbiddenUpdate, NoSession, ReflexSession, Session, User
from reflex_session.stores import MemoryStore
from reflex_session.testing import FakeClock

BACKENDS = ["cookie", "cookie+revocations", "store"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_auth(clock: FakeClock, backend: str):
    """``make_auth(**overrides)`` over the backend of this run of the contract."""

    def factory(**overrides: Any) -> ReflexSession[Any]:
        options: dict[str, Any] = {"secret_key": SECRET, "clock": clock}
        if backend == "store":
            options["store"] = MemoryStore(clock=clock)
        elif backend == "cookie+revocations":
            options["revocation_store"] = MemoryStore(clock=clock)
        options.update(overrides)
        return ReflexSession(**options)

    return factory


USER = {"id": "u1", "email": "ada@example.com", "name": "Ada", "prefs": {"theme": "dark"}}


async def signed_in(auth, browser, **tokens: Any) -> Session[User]:
    jar = browser.jar()
    session = await auth.create_session(jar, USER, **tokens)
    assert browser.receive(jar) == 1
    return session


async def read_back(auth, browser) -> Session[User] | None:
    """What the browser's cookie holds now, read without extending it (any backend)."""
    session, _ = await auth.load_session(browser.jar())
    return session


def only_header(jar) -> str:
    (header,) = jar.set_cookie_headers
    return header


# -- create / get ----------------------------------------------------------------------------


async def test_create_session_writes_the_cookie(auth, browser, clock) -> None:
    jar = browser.jar()
    session = await auth.create_session(jar, USER, access_token="at", refresh_token="rt")
    assert session.user.to_wire() == USER
    assert session.access_token == "at"
    assert session.refresh_token == "rt"
    assert session.created_at == int(clock.time() * 1000)
    header = only_header(jar)
    assert header.startswith("session=")
    assert f"Max-Age={auth.policy.session_expiry}" in header
    browser.receive(jar)
    assert await read_back(auth, browser) == session


async def test_each_login_gets_a_new_session_id(auth, browser) -> None:
    first = await signed_in(auth, browser)
    second = await signed_in(auth, browser)
    assert first.id != second.id


async def test_get_session_reads_without_rewriting_inside_the_threshold(
    auth, browser, clock
) -> None:
    created = await signed_in(auth, browser, access_token="at")
    clock.advance(auth.policy.refresh_threshold - 1)
    jar = browser.jar()
    assert await auth.get_session(jar) == created
    assert jar.set_cookie_headers == []


async def test_get_session_reissues_after_the_threshold(auth, browser, clock) -> None:
    created = await signed_in(auth, browser, access_token="at")
    clock.advance(auth.policy.refresh_threshold)
    jar = browser.jar()
    session = await auth.get_session(jar)
    assert session is not None
    assert session.id == created.id
    assert session.created_at == created.created_at
    assert session.access_token == "at"
    assert session.expires_at == int(clock.time()) * 1000 + auth.policy.session_expiry * 1000
    assert browser.receive(jar) == 1
    assert await read_back(auth, browser) == session


async def test_auto_refresh_off_never_rewrites(make_auth, make_browser, clock) -> None:
    auth = make_auth(auto_refresh=False, session_expiry=300, refresh_threshold=60)
    browser = make_browser(auth)
    created = await signed_in(auth, browser)
    clock.advance(200)
    jar = browser.jar()
    assert await auth.get_session(jar) == created
    assert jar.set_cookie_headers == []
    clock.advance(100)
    assert await auth.get_session(browser.jar()) is None


async def test_get_session_without_a_cookie(auth, browser) -> None:
    jar = browser.jar()
    assert await auth.get_session(jar) is None
    assert jar.set_cookie_headers == []
    assert await auth.is_authenticated(jar) is False
    with pytest.raises(NoSession):
        await auth.require_session(jar)


@pytest.mark.parametrize("value", ["garbage", "a.b.c.d.e", "x" * 5000, "%00%ff"])
async def test_invalid_cookie_is_no_session_and_is_cleared(auth, value) -> None:
    jar = auth.jar(f"session={value}")
    assert await auth.get_session(jar) is None
    assert "Max-Age=0" in only_header(jar)


async def test_expired_cookie_is_none_and_cleared(auth, browser, clock) -> None:
    await signed_in(auth, browser)
    clock.advance(auth.policy.session_expiry)
    jar = browser.jar()
    assert await auth.get_session(jar) is None
    header = only_header(jar)
    assert header.startswith("session=;")
    assert "Max-Age=0" in header
    assert "Path=/" in header
    browser.receive(jar)
    assert browser.token is None


async def test_jar_read_sees_what_the_response_sets(auth) -> None:
    jar = auth.jar(None)
    await auth.create_session(jar, USER)
    # later verbs in the same request see the new cookie
    session = await auth.get_session(jar)
    assert session is not None
    assert session.user.id == "u1"


# -- update ----------------------------------------------------------------------------------


async def test_update_session_merges_the_user(auth, browser, clock) -> None:
    created = await signed_in(auth, browser, access_token="at", refresh_token="rt")
    clock.advance(5)
    jar = browser.jar()
    updated = await auth.update_session(jar, user={"name": "Ada L.", "prefs": {"lang": "en"}})
    assert updated is not None
    assert updated.user.to_wire() == {
        "id": "u1",
        "email": "ada@example.com",
        "name": "Ada L.",
        "prefs": {"theme": "dark", "lang": "en"},
    }
    assert updated.access_token == "at"
    assert updated.refresh_token == "rt"
    assert updated.id == created.id
    assert updated.created_at == created.created_at
    assert updated.expires_at == created.expires_at
    # a sealed cookie is sealed again; a store's id-only cookie does not change
    assert browser.receive(jar) == (0 if auth.config.store else 1)
    assert await auth.get_session(browser.jar()) == updated


async def test_update_session_replaces_tokens(auth, browser) -> None:
    await signed_in(auth, browser, access_token="at", refresh_token="rt")
    jar = browser.jar()
    updated = await auth.update_session(jar, access_token="at-2")
    assert updated is not None
    assert updated.access_token == "at-2"
    assert updated.refresh_token == "rt"
    assert updated.user.to_wire() == USER
    browser.receive(jar)
    jar = browser.jar()
    cleared = await auth.update_session(jar, refresh_token=None)
    assert cleared is not None
    assert cleared.refresh_token is None
    assert cleared.access_token == "at-2"


async def test_update_session_refuses_a_user_id_change(auth, browser) -> None:
    await signed_in(auth, browser)
    jar = browser.jar()
    with pytest.raises(ForbiddenUpdate):
        await auth.update_session(jar, user={"id": "u2"})
    assert jar.set_cookie_headers == []
    session = await auth.get_session(browser.jar())
    assert session is not None
    assert session.user.id == "u1"


async def test_update_session_without_a_session(auth, browser) -> None:
    jar = browser.jar()
    assert await auth.update_session(jar, user={"name": "x"}) is None
    assert jar.set_cookie_headers == []


# -- refresh ---------------------------------------------------------------------------------


async def test_refresh_session_extends_now(auth, browser, clock) -> None:
    created = await signed_in(auth, browser)
    clock.advance(10)  # inside the threshold: refresh is explicit, so it still re-issues
    jar = browser.jar()
    session = await auth.refresh_session(jar)
    assert session is not None
    assert session.id == created.id
    assert session.expires_at == created.expires_at + 10_000
    assert session.last_activity == created.last_activity + 10_000
    assert browser.receive(jar) == 1


async def test_refresh_session_when_there_is_none(auth, browser) -> None:
    jar = browser.jar()
    assert await auth.refresh_session(jar) is None
    assert jar.set_cookie_headers == []


# -- delete / is_authenticated ---------------------------------------------------------------


async def test_delete_session_clears_the_cookie(auth, browser) -> None:
    await signed_in(auth, browser)
    jar = browser.jar()
    assert await auth.is_authenticated(jar) is True
    await auth.delete_session(jar)
    header = only_header(jar)
    assert header.startswith("session=;")
    assert "Max-Age=0" in header
    assert "Path=/" in header
    assert await auth.is_authenticated(jar) is False  # the same request sees the logout
    browser.receive(jar)
    assert browser.token is None
    assert await auth.is_authenticated(browser.jar()) is False


async def test_is_authenticated_does_not_write(auth, browser, clock) -> None:
    await signed_in(auth, browser)
    clock.advance(auth.policy.refresh_threshold + 1)
    jar = browser.jar()
    assert await auth.is_authenticated(jar) is True
    assert jar.set_cookie_headers == []


# -- on_validate -----------------------------------------------------------------------------


def sync_validator(verdicts: list[bool], seen: list[Session[User]]):
    def on_validate(session):
        seen.append(session)
        return verdicts[-1]

    return on_validate


def async_validator(verdicts: list[bool], seen: list[Session[User]]):
    async def on_validate(session):
        seen.append(session)
        return verdicts[-1]

    return on_validate


@pytest.mark.parametrize("factory", [sync_validator, async_validator], ids=["sync", "async"])
async def test_on_validate_false_ends_the_session(make_auth, make_browser, factory) -> None:
    verdicts = [True]
    seen: list[Session[User]] = []
    auth = make_auth(on_validate=factory(verdicts, seen))
    browser = make_browser(auth)
    created = await signed_in(auth, browser)

    assert await auth.get_session(browser.jar()) == created
    assert seen[-1] == created

    verdicts.append(False)  # e.g. the user was banned
    jar = browser.jar()
    assert await auth.get_session(jar) is None
    assert "Max-Age=0" in only_header(jar)
    for verb in (auth.is_authenticated, auth.refresh_session):
        jar = browser.jar()
        assert await verb(jar) in (None, False)
        assert "Max-Age=0" in only_header(jar)
    jar = browser.jar()
    assert await auth.update_session(jar, user={"name": "x"}) is None
    assert "Max-Age=0" in only_header(jar)


@pytest.mark.parametrize("falsy", [0, None, ""])
async def test_on_validate_falsy_result_is_invalid(make_auth, make_browser, falsy) -> None:
    auth = make_auth(on_validate=lambda session: falsy)
    browser = make_browser(auth)
    await signed_in(auth, browser)
    assert await auth.get_session(browser.jar()) is None


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_on_validate_raising_means_invalid(make_auth, make_browser, is_async) -> None:
    def boom(session):
        raise RuntimeError("database down")

    async def aboom(session):
        raise RuntimeError("database down")

    auth = make_auth(on_validate=aboom if is_async else boom)
    browser = make_browser(auth)
    await signed_in(auth, browser)
    jar = browser.jar()
    assert await auth.get_session(jar) is None
    assert "Max-Age=0" in only_header(jar)


# -- on_refresh ------------------------------------------------------------------------------


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_on_refresh_none_ends_the_session(make_auth, make_browser, clock, is_async) -> None:
    calls: list[Session[User]] = []

    def end(session):
        calls.append(session)

    async def aend(session):
        calls.append(session)

    auth = make_auth(on_refresh=aend if is_async else end)
    browser = make_browser(auth)
    created = await signed_in(auth, browser)

    jar = browser.jar()
    assert await auth.refresh_session(jar) is None
    assert calls == [created]
    assert "Max-Age=0" in only_header(jar)
    browser.receive(jar)
    assert browser.token is None


async def test_on_refresh_none_on_an_automatic_refresh(make_auth, make_browser, clock) -> None:
    auth = make_auth(on_refresh=lambda session: None)
    browser = make_browser(auth)
    await signed_in(auth, browser)
    clock.advance(auth.policy.refresh_threshold - 1)
    assert await auth.get_session(browser.jar()) is not None  # no refresh yet, no callback
    clock.advance(1)
    jar = browser.jar()
    assert await auth.get_session(jar) is None
    assert "Max-Age=0" in only_header(jar)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_on_refresh_can_change_user_and_tokens_but_not_identity_or_time(
    make_auth, make_browser, clock, is_async
) -> None:
    def change(session):
        return session.replace(
            id="attacker-chosen",
            created_at=0,
            last_activity=0,
            expires_at=10**15,
            user=User.from_wire({**session.user.to_wire(), "name": "Renamed", "plan": "pro"}),
            access_token="at-new",
            refresh_token="rt-new",
        )

    async def achange(session):
        return change(session)

    auth = make_auth(
        on_refresh=achange if is_async else change,
        session_expiry=300,
        refresh_threshold=60,
        max_lifetime=600,
    )
    browser = make_browser(auth)
    created = await signed_in(auth, browser, access_token="at", refresh_token="rt")

    clock.advance(100)
    jar = browser.jar()
    session = await auth.refresh_session(jar)
    assert session is not None
    assert session.id == created.id
    assert session.created_at == created.created_at
    assert session.last_activity == created.last_activity + 100_000
    assert session.expires_at == created.created_at + (100 + 300) * 1000
    assert session.user.name == "Renamed"
    assert session.user["plan"] == "pro"
    assert session.user.email == "ada@example.com"
    assert session.access_token == "at-new"
    assert session.refresh_token == "rt-new"
    browser.receive(jar)
    assert await read_back(auth, browser) == session

    clock.advance(250)  # the absolute limit still applies to a callback's session
    jar = browser.jar()
    session = await auth.refresh_session(jar)
    assert session is not None
    assert session.expires_at == created.created_at + 600 * 1000


async def test_session_callback_shapes_what_the_browser_sees(make_auth) -> None:
    def shape(session: Any, view: dict[str, Any]) -> dict[str, Any]:
        view["user"].pop("email", None)
        return {**view, "greeting": f"Hello {session.user.name}"}

    auth = make_auth(session_callback=shape)
    jar = auth.jar(None)
    session = await auth.create_session(jar, {"id": "u1", "name": "Ada", "email": "a@x.io"})
    view = auth.client_view(session)
    assert view["greeting"] == "Hello Ada"
    assert "email" not in view["user"]
    assert session.user.email == "a@x.io"  # the session itself is untouched

    def broken(session: Any, view: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("boom")

    assert make_auth(session_callback=broken).client_view(session)["user"]["email"] == "a@x.io"
