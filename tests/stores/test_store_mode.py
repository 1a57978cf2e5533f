"""Store mode end to end over every backend: the cookie holds an id, the store holds the session.

Revocation (logout, "sign out everywhere", an admin ending a session), fixation defence,
touch_after, atomic updates, the session-data verbs and CSRF tokens — each over memory, SQLite,
PostgreSQL and Redis (real servers, started by scripts/test.sh).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from store_fixtures import backend_fixture, pg_table_fixture, store_fixture
from testkit import SECRET

from reflex_session import ConfigError, CookieJar, ForbiddenUpdate, ReflexSession
from reflex_session.stores import SessionStore
from reflex_session.testing import FakeClock

FIXTURES = (backend_fixture, pg_table_fixture, store_fixture)  # used by name

ADA = {"id": "u-ada", "email": "ada@example.com", "name": "Ada", "role": "user"}


@pytest.fixture
def auth(store: SessionStore, clock: FakeClock) -> ReflexSession[Any]:
    return ReflexSession(
        secret_key=SECRET, clock=clock, store=store, session_expiry=3600, refresh_threshold=600
    )


def cookie_of(jar: CookieJar) -> str:
    value = jar.read()
    assert value, "no session cookie was written"
    return value


def browser(auth: ReflexSession[Any], cookie: str | None) -> CookieJar:
    return auth.jar(f"session={cookie}" if cookie else None)


async def test_cookie_carries_only_an_opaque_id(auth: ReflexSession[Any]) -> None:
    jar = auth.jar(None)
    session = await auth.create_session(jar, ADA, access_token="server-only")
    claims, _ = auth.codec.decode_claims(cookie_of(jar))
    assert set(claims) == {"jti", "iat", "exp"}
    assert claims["jti"] == session.id
    assert len(session.id) >= 22  # >= 128 random bits
    again = await auth.get_session(browser(auth, cookie_of(jar)))
    assert again is not None
    assert again.user.to_wire() == ADA
    assert again.access_token == "server-only"
    assert auth.config.mode == "store"


async def test_logout_destroys_so_a_replayed_cookie_is_refused(auth: ReflexSession[Any]) -> None:
    jar = auth.jar(None)
    await auth.create_session(jar, ADA)
    stolen = cookie_of(jar)
    logout = browser(auth, stolen)
    await auth.delete_session(logout)
    assert "Max-Age=0" in logout.set_cookie_headers[0]
    assert await auth.get_session(browser(auth, stolen)) is None


async def test_every_login_gets_a_new_id_and_ends_the_old_one(auth: ReflexSession[Any]) -> None:
    jar = auth.jar(None)
    first = await auth.create_session(jar, ADA)
    old = cookie_of(jar)
    relogin = browser(auth, old)
    second = await auth.create_session(relogin, ADA)
    assert second.id != first.id
    assert await auth.get_session(browser(auth, old)) is None  # fixation: the old id is dead
    assert (await auth.get_session(browser(auth, cookie_of(relogin)))).id == second.id


async def test_sign_out_everywhere_but_here(auth: ReflexSession[Any]) -> None:
    jars = [auth.jar(None) for _ in range(3)]
    sessions = [
        await auth.create_session(j, ADA, meta={"ua": f"device {i}"}) for i, j in enumerate(jars)
    ]
    listed = await auth.devices.list_sessions("u-ada")
    assert {s.sid for s in listed} == {s.id for s in sessions}
    assert {s.meta["ua"] for s in listed} == {"device 0", "device 1", "device 2"}
    ended = await auth.revocations.end_user_sessions("u-ada", except_session_id=sessions[0].id)
    assert ended == 2
    alive = [await auth.get_session(browser(auth, cookie_of(j))) for j in jars]
    assert [s is not None for s in alive] == [True, False, False]
    await auth.revocations.end_session(sessions[0].id, user_id="u-ada")
    assert not await auth.is_live(sessions[0])
    assert await auth.devices.list_sessions("u-ada") == []


async def test_sign_out_everywhere_keeps_this_devices_data_and_ends_the_others(
    auth: ReflexSession[Any],
) -> None:
    """One atomic store call ends the other sessions with their data and CSRF tokens; the
    kept session's data record (stored beside it) stays whole, and only sessions are counted."""
    here, there = auth.jar(None), auth.jar(None)
    kept = await auth.create_session(here, ADA)
    await auth.create_session(there, ADA)
    here, there = browser(auth, cookie_of(here)), browser(auth, cookie_of(there))
    await auth.data.set(here, {"cart": {"apples": 2}})
    await auth.data.set(there, {"cart": {"pears": 1}})
    token = await auth.data.new_csrf_token(there)

    assert await auth.revocations.end_user_sessions("u-ada", except_session_id=kept.id) == 1

    assert await auth.data.get(here) == {"cart": {"apples": 2}}
    assert await auth.get_session(here) is not None
    assert await auth.data.get(there) is None
    assert await auth.get_session(there) is None
    assert await auth.data.validate_csrf_token(there, token) is False


async def test_touch_after_moves_store_and_cookie_together_once_per_window(
    auth: ReflexSession[Any], store: SessionStore, clock: FakeClock
) -> None:
    jar = auth.jar(None)
    session = await auth.create_session(jar, ADA)
    cookie = cookie_of(jar)
    issued = 0
    for _ in range(1200):  # 20 minutes, a read every second: two 600 s windows
        clock.advance(1)
        read = browser(auth, cookie)
        assert await auth.get_session(read) is not None
        if read.set_cookie_headers:
            issued += 1
            cookie = cookie_of(read)
            record = await store.get(session.id)
            claims, _ = auth.codec.decode_claims(cookie)
            assert record is not None
            assert claims["exp"] == int(record.expires_at)  # the two expiries agree
    assert issued == 2


async def test_concurrent_updates_of_different_fields_all_land(
    auth: ReflexSession[Any],
) -> None:
    jar = auth.jar(None)
    await auth.create_session(jar, ADA)
    cookie = cookie_of(jar)

    async def set_field(i: int) -> None:
        await auth.update_session(browser(auth, cookie), user={f"f{i}": i})

    await asyncio.gather(*(set_field(i) for i in range(40)))
    final = await auth.get_session(browser(auth, cookie))
    assert final is not None
    wire = final.user.to_wire()
    assert all(wire[f"f{i}"] == i for i in range(40))
    assert wire["email"] == "ada@example.com"


async def test_session_data_verbs(auth: ReflexSession[Any]) -> None:
    empty = auth.jar(None)
    assert await auth.data.get(empty) is None
    assert empty.set_cookie_headers == []  # get never creates a session
    jar = auth.jar(None)
    assert await auth.data.set(jar, {"cart": {"apples": 2}}) == {"cart": {"apples": 2}}
    cookie = cookie_of(jar)
    same = browser(auth, cookie)
    merged = await auth.data.set(same, {"cart": {"pears": 1}, "step": 2})
    assert merged == {"cart": {"apples": 2, "pears": 1}, "step": 2}
    assert await auth.data.pluck(browser(auth, cookie), "step") == 2
    assert await auth.data.pluck(browser(auth, cookie), "step") is None
    await auth.data.replace(browser(auth, cookie), {"fresh": True})
    assert await auth.data.get(browser(auth, cookie)) == {"fresh": True}
    # a visitor's data follows them into the session they log into (with a new id)
    login = browser(auth, cookie)
    await auth.create_session(login, ADA)
    assert await auth.data.get(browser(auth, cookie_of(login))) == {"fresh": True}
    assert await auth.data.get(browser(auth, cookie)) is None
    await auth.delete_session(browser(auth, cookie_of(login)))
    assert await auth.data.get(browser(auth, cookie_of(login))) is None


async def test_csrf_tokens_are_fresh_and_single_use(auth: ReflexSession[Any]) -> None:
    jar = auth.jar(None)
    await auth.create_session(jar, ADA)
    cookie = cookie_of(jar)
    first = await auth.data.new_csrf_token(browser(auth, cookie))
    second = await auth.data.new_csrf_token(browser(auth, cookie))
    assert first != second
    assert len(first) >= 43
    assert await auth.data.validate_csrf_token(browser(auth, cookie), first) is True
    assert await auth.data.validate_csrf_token(browser(auth, cookie), first) is False
    assert await auth.data.validate_csrf_token(browser(auth, cookie), "never-issued") is False
    assert await auth.data.validate_csrf_token(auth.jar(None), second) is False  # another browser
    results = await asyncio.gather(
        *(auth.data.validate_csrf_token(browser(auth, cookie), second) for _ in range(20))
    )
    assert results.count(True) == 1


async def test_id_hooks_and_expiry(store: SessionStore, clock: FakeClock) -> None:
    auth = ReflexSession(
        secret_key=SECRET,
        clock=clock,
        store=store,
        session_expiry=600,
        encode_id=lambda sid: "v1." + sid[::-1],
        decode_id=lambda raw: raw.removeprefix("v1.")[::-1],
    )
    jar = auth.jar(None)
    session = await auth.create_session(jar, ADA)
    claims, _ = auth.codec.decode_claims(cookie_of(jar))
    assert claims["jti"] == "v1." + session.id[::-1]
    assert (await auth.get_session(browser(auth, cookie_of(jar)))).id == session.id
    clock.advance(601)
    assert await auth.get_session(browser(auth, cookie_of(jar))) is None


def test_store_only_settings_need_a_store() -> None:
    with pytest.raises(ConfigError, match="store"):
        ReflexSession(secret_key=SECRET, touch_after=60)


def test_store_capabilities_exist_only_with_a_store(store: SessionStore) -> None:
    """Session data, CSRF tokens and the devices list need a store; revocation needs a store or
    a revocation store. Without one the attribute is ``None`` (a type error under mypy), not an
    object that fails at run time."""
    plain = ReflexSession(secret_key=SECRET)
    assert (plain.data, plain.devices, plain.revocations) == (None, None, None)
    revocable = ReflexSession(secret_key=SECRET, revocation_store=store)
    assert (revocable.data, revocable.devices) == (None, None)
    assert revocable.revocations is not None
    stored = ReflexSession(secret_key=SECRET, store=store)
    assert stored.data is not None
    assert stored.devices is not None
    assert stored.revocations is stored.devices


async def test_update_user_sessions_reaches_every_session(auth: ReflexSession[Any]) -> None:
    jars = [auth.jar(None) for _ in range(2)]
    for jar in jars:
        await auth.create_session(jar, ADA)
    assert await auth.devices.update_user_sessions("u-ada", {"role": "admin"}) == 2
    for jar in jars:
        session = await auth.get_session(browser(auth, cookie_of(jar)))
        assert session is not None
        assert session.user.to_wire() == {**ADA, "role": "admin"}
    with pytest.raises(ForbiddenUpdate):
        await auth.devices.update_user_sessions("u-ada", {"id": "someone-else"})


async def test_on_write_knows_its_trigger(store: SessionStore, clock: FakeClock) -> None:
    seen: list[tuple[str, Any]] = []

    async def on_write(session: Any, trigger: str, changes: Any) -> Any:
        seen.append((trigger, changes))
        if trigger == "update":
            return session.replace(
                user=session.user.__class__.from_wire({**session.user.to_wire(), "edited": True})
            )
        return None

    auth = ReflexSession(
        secret_key=SECRET, clock=clock, store=store, session_expiry=600, on_write=on_write
    )
    jar = auth.jar(None)
    await auth.create_session(jar, ADA)
    cookie = cookie_of(jar)
    await auth.update_session(browser(auth, cookie), user={"name": "Ada K"})
    await auth.refresh_session(browser(auth, cookie))
    assert [t for t, _ in seen] == ["login", "update", "refresh"]
    assert seen[1][1] == {"user": {"name": "Ada K"}}
    final = await auth.get_session(browser(auth, cookie))
    assert final is not None
    assert final.user["edited"] is True
    assert final.user.name == "Ada K"


# -- cookie mode with a revocation store: the same guarantees, the cookie keeps the session ----


@pytest.fixture
def cookie_auth(store: SessionStore, clock: FakeClock) -> ReflexSession[Any]:
    return ReflexSession(
        secret_key=SECRET, clock=clock, revocation_store=store, session_expiry=3600
    )


async def test_cookie_mode_logout_refuses_a_copied_cookie(
    cookie_auth: ReflexSession[Any],
) -> None:
    jar = cookie_auth.jar(None)
    session = await cookie_auth.create_session(jar, ADA)
    copied = cookie_of(jar)
    claims, _ = cookie_auth.codec.decode_claims(copied)
    assert claims["user"]["id"] == "u-ada"  # still a cookie-mode cookie
    assert cookie_auth.config.mode == "cookie"
    await cookie_auth.delete_session(browser(cookie_auth, copied))
    assert await cookie_auth.get_session(browser(cookie_auth, copied)) is None
    assert not await cookie_auth.is_live(session)


async def test_cookie_mode_sign_out_everywhere_keeps_only_this_one(
    cookie_auth: ReflexSession[Any], clock: FakeClock
) -> None:
    jars = [cookie_auth.jar(None) for _ in range(3)]
    sessions = [await cookie_auth.create_session(j, ADA) for j in jars]
    clock.advance(1)
    await cookie_auth.revocations.end_user_sessions("u-ada", except_session_id=sessions[0].id)
    alive = [await cookie_auth.get_session(browser(cookie_auth, cookie_of(j))) for j in jars]
    assert [s is not None for s in alive] == [True, False, False]
    # a login after the revocation is a new session, created after not-before
    clock.advance(1)
    fresh = cookie_auth.jar(None)
    await cookie_auth.create_session(fresh, ADA)
    assert await cookie_auth.get_session(browser(cookie_auth, cookie_of(fresh))) is not None
    # an admin ends one session by id
    await cookie_auth.revocations.end_session(sessions[0].id, user_id="u-ada")
    assert await cookie_auth.get_session(browser(cookie_auth, cookie_of(jars[0]))) is None


def test_revocation_store_is_for_cookie_mode(store: SessionStore) -> None:
    with pytest.raises(ConfigError, match="revocation_store"):
        ReflexSession(secret_key=SECRET, store=store, revocation_store=store)


async def test_cookie_mode_revocation_takes_every_user_id_a_store_takes(
    cookie_auth: ReflexSession[Any],
) -> None:
    """A user id of 248-255 characters made the revocation record's key too long for the store:
    every read of that user's cookie raised (a 500), and logout could not refuse a copy."""
    user = {"id": "u" * 250, "name": "Long"}
    jar = cookie_auth.jar(None)
    await cookie_auth.create_session(jar, user)
    copied = cookie_of(jar)
    assert await cookie_auth.get_session(browser(cookie_auth, copied)) is not None
    await cookie_auth.delete_session(browser(cookie_auth, copied))
    assert await cookie_auth.get_session(browser(cookie_auth, copied)) is None
