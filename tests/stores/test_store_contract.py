"""The session store contract, run against every backend: memory, SQLite, PostgreSQL, Redis.

One suite, like Django's SessionTestsMixin: each test takes the ``store`` fixture, which is
parametrised over the four backends (see store_fixtures.py), so a behaviour is either the same
everywhere or a test fails. Expiry is driven by the FakeClock the stores are built with; nothing
sleeps. The concurrency tests use real connection pools (SQL) and several clients (Redis), and
for SQLite and PostgreSQL two stores with separate engines writing the same rows.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_fixtures import (
    HOUR,
    Backend,
    backend_paths_fixture,
    pg_table_fixture,
    store_fixture,
)

from reflex_session.session import deep_merge
from reflex_session.stores import (
    MemoryStore,
    RedisStore,
    SessionStore,
    SQLStore,
    StoredSession,
    new_sid,
)
from reflex_session.testing import FakeClock

FIXTURES = (backend_paths_fixture, pg_table_fixture, store_fixture)  # used by name

# Values that break naive JSON handling: the Redis store merges JSON *text* in Lua.
AWKWARD: dict[str, Any] = {
    "empty_list": [],
    "empty_obj": {},
    "nested_empty": {"a": [], "b": {}, "c": [[], {}]},
    "precise": 0.1,
    "timestamp": 1767225600.123456,
    "big": 2**53 + 1,
    "huge": 12345678901234567890123,
    "neg": -1.5e-300,
    "unicode": "héllo ✓ 日本 \U0001f600",
    "quotes": 'say "hi" \\ {not: json} [1, 2], "x":',
    'key "with" quotes': {"\\": "back\\slash", "}": "{", ",": ":"},
    "": "empty key",
    "bools": [True, False, None],
    "nested": {"deep": {"deeper": {"deepest": [1, {"x": "y"}]}}},
}


def roundtrip(value: Any) -> Any:
    return json.loads(json.dumps(value))


async def new_session(
    store: SessionStore,
    clock: FakeClock,
    data: dict[str, Any] | None = None,
    *,
    user_id: str | None = "user-1",
    ttl: float = HOUR,
    meta: dict[str, str] | None = None,
) -> str:
    sid = new_sid()
    await store.set(sid, data or {}, user_id=user_id, expires_at=clock.time() + ttl, meta=meta)
    return sid


# --- get / set ------------------------------------------------------------------------------------


async def test_get_missing_is_none(store: SessionStore) -> None:
    assert await store.get(new_sid()) is None


async def test_set_then_get_round_trips_every_field(store: SessionStore, clock: FakeClock) -> None:
    sid = new_sid()
    now = clock.time()
    meta = {"user_agent": "Firefox/140 (Linux)", "ip": "203.0.113.7"}
    await store.set(sid, AWKWARD, user_id="user-1", expires_at=now + 60.25, meta=meta)

    got = await store.get(sid)

    assert got == StoredSession(
        sid=sid,
        user_id="user-1",
        data=roundtrip(AWKWARD),
        created_at=now,
        touched_at=now,
        expires_at=now + 60.25,
        meta=meta,
    )
    assert json.dumps(got.data) == json.dumps(roundtrip(AWKWARD))  # same order, same spelling


async def test_anonymous_session_and_default_meta(store: SessionStore, clock: FakeClock) -> None:
    sid = await new_session(store, clock, {"cart": [1, 2]}, user_id=None)
    got = await store.get(sid)
    assert got is not None
    assert got.user_id is None
    assert got.meta == {}
    assert got.data == {"cart": [1, 2]}


async def test_tuples_come_back_as_lists(store: SessionStore, clock: FakeClock) -> None:
    sid = await new_session(store, clock, {"t": (1, 2)})
    got = await store.get(sid)
    assert got is not None
    assert got.data == {"t": [1, 2]}


async def test_returned_data_is_a_copy(store: SessionStore, clock: FakeClock) -> None:
    sid = await new_session(store, clock, {"a": {"b": 1}})
    got = await store.get(sid)
    assert got is not None
    got.data["a"]["b"] = 2
    got.data["new"] = True
    again = await store.get(sid)
    assert again is not None
    assert again.data == {"a": {"b": 1}}


async def test_replacing_a_live_session_keeps_created_at_and_meta(
    store: SessionStore, clock: FakeClock
) -> None:
    sid = await new_session(store, clock, {"a": 1, "b": 2}, meta={"ip": "192.0.2.1"})
    created = clock.time()
    clock.advance(30)

    await store.set(sid, {"c": 3}, user_id="user-1", expires_at=clock.time() + 100)

    got = await store.get(sid)
    assert got is not None
    assert got.data == {"c": 3}  # replaced, not merged
    assert got.created_at == created
    assert got.touched_at == clock.time()
    assert got.expires_at == clock.time() + 100
    assert got.meta == {"ip": "192.0.2.1"}  # meta=None keeps it

    await store.set(sid, {}, user_id="user-1", expires_at=clock.time() + 100, meta={"ip": "x"})
    got = await store.get(sid)
    assert got is not None
    assert got.meta == {"ip": "x"}
    assert got.created_at == created


async def test_set_over_an_expired_session_starts_a_new_one(
    store: SessionStore, clock: FakeClock
) -> None:
    sid = await new_session(store, clock, {"old": True}, ttl=10, meta={"ip": "1"})
    clock.advance(11)

    await store.set(sid, {"new": True}, user_id="user-2", expires_at=clock.time() + 10)

    got = await store.get(sid)
    assert got is not None
    assert got.created_at == clock.time()
    assert got.meta == {}
    assert got.data == {"new": True}
    assert [s.sid for s in await store.list_for_user("user-2")] == [sid]
    assert await store.list_for_user("user-1") == []


async def test_set_with_a_new_user_moves_the_session(store: SessionStore, clock: FakeClock) -> None:
    sid = await new_session(store, clock, user_id="alice")
    await store.set(sid, {}, user_id="bob", expires_at=clock.time() + HOUR)
    assert await store.list_for_user("alice") == []
    assert [s.sid for s in await store.list_for_user("bob")] == [sid]
    await store.set(sid, {}, user_id=None, expires_at=clock.time() + HOUR)
    assert await store.list_for_user("bob") == []


@pytest.mark.parametrize(
    "data",
    [
        {"x": float("nan")},
        {"x": float("inf")},
        {"x": object()},
        {"x": b"bytes"},
        ["not", "a", "mapping"],
    ],
    ids=["nan", "inf", "object", "bytes", "list"],
)
async def test_non_json_data_is_refused(store: SessionStore, clock: FakeClock, data: Any) -> None:
    sid = new_sid()
    with pytest.raises(TypeError):
        await store.set(sid, data, user_id=None, expires_at=clock.time() + 60)
    assert await store.get(sid) is None


async def test_bad_arguments_are_refused(store: SessionStore, clock: FakeClock) -> None:
    later = clock.time() + 60
    with pytest.raises(ValueError, match="sid"):
        await store.set("", {}, user_id=None, expires_at=later)
    with pytest.raises(ValueError, match="sid"):
        await store.set("x" * 256, {}, user_id=None, expires_at=later)
    with pytest.raises(ValueError, match="user_id"):
        await store.set(new_sid(), {}, user_id="", expires_at=later)
    with pytest.raises(ValueError, match="finite"):
        await store.set(new_sid(), {}, user_id=None, expires_at=math.inf)
    with pytest.raises(TypeError, match="meta"):
        await store.set(new_sid(), {}, user_id=None, expires_at=later, meta={"n": 1})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="expires_at"):
        await store.merge(new_sid(), {"a": 1}, create=True)


# --- arguments are checked once, by SessionStore, the same way everywhere -------------------------

SID = "the-session-under-test"
SID_RULE = "sid must be a non-empty string of at most 255 characters"
USER_RULE = "user_id must be a non-empty string of at most 255 characters"
DIGEST_RULE = "token_digest must be a non-empty string of at most 255 characters"
Call = Callable[[SessionStore, float], Awaitable[Any]]

#: (what, call(store, a valid expiry), exception, the start of its message): one per argument
#: rule of every public method, including the methods whose backends checked nothing before.
BAD_CALLS: list[tuple[str, Call, type[Exception], str]] = [
    ("get-empty-sid", lambda s, t: s.get(""), ValueError, SID_RULE),
    ("get-long-sid", lambda s, t: s.get("x" * 256), ValueError, SID_RULE),
    ("get-int-sid", lambda s, t: s.get(7), ValueError, SID_RULE),  # type: ignore[arg-type]
    (
        "set-list-data",
        lambda s, t: s.set(SID, [], user_id=None, expires_at=t),  # type: ignore[arg-type]
        TypeError,
        "session data must be a mapping",
    ),
    (
        "set-nan-data",
        lambda s, t: s.set(SID, {"x": math.nan}, user_id=None, expires_at=t),
        TypeError,
        "session data must be JSON-serialisable",
    ),
    (
        "set-empty-user",
        lambda s, t: s.set(SID, {}, user_id="", expires_at=t),
        ValueError,
        USER_RULE,
    ),
    (
        "set-text-expiry",
        lambda s, t: s.set(SID, {}, user_id=None, expires_at=str(t)),  # type: ignore[arg-type]
        TypeError,
        "expires_at must be Unix seconds",
    ),
    (
        "set-bool-expiry",
        lambda s, t: s.set(SID, {}, user_id=None, expires_at=True),
        TypeError,
        "expires_at must be Unix seconds",
    ),
    (
        "set-infinite-expiry",
        lambda s, t: s.set(SID, {}, user_id=None, expires_at=math.inf),
        ValueError,
        "expires_at must be finite",
    ),
    (
        "set-int-meta",
        lambda s, t: s.set(SID, {}, user_id=None, expires_at=t, meta={"n": 1}),  # type: ignore[dict-item]
        TypeError,
        "session meta must map strings to strings",
    ),
    ("touch-empty-sid", lambda s, t: s.touch("", t), ValueError, SID_RULE),
    ("acquire-empty-key", lambda s, t: s.acquire("", "me", 5), ValueError, "key must be"),
    ("acquire-long-owner", lambda s, t: s.acquire("k", "o" * 256, 5), ValueError, "owner must"),
    ("acquire-zero-ttl", lambda s, t: s.acquire("k", "me", 0), ValueError, "ttl must be"),
    ("acquire-nan-ttl", lambda s, t: s.acquire("k", "me", math.nan), ValueError, "ttl must be"),
    ("acquire-bool-ttl", lambda s, t: s.acquire("k", "me", True), ValueError, "ttl must be"),
    ("release-empty-owner", lambda s, t: s.release("k", ""), ValueError, "owner must"),
    ("touch-nan-expiry", lambda s, t: s.touch(SID, math.nan), ValueError, "expires_at must be"),
    ("destroy-long-sid", lambda s, t: s.destroy("x" * 256), ValueError, SID_RULE),
    ("list-empty-user", lambda s, t: s.list_for_user(""), ValueError, USER_RULE),
    (
        "list-no-user",
        lambda s, t: s.list_for_user(None),  # type: ignore[arg-type]
        ValueError,
        USER_RULE,
    ),
    ("destroy-for-empty-user", lambda s, t: s.destroy_for_user(""), ValueError, USER_RULE),
    (
        "destroy-for-user-empty-keep",
        lambda s, t: s.destroy_for_user("user-1", keep=[""]),
        ValueError,
        "keep must be a non-empty string",
    ),
    (
        "destroy-for-user-keep-one-string",
        lambda s, t: s.destroy_for_user("user-1", keep="sid-1"),
        TypeError,
        "keep must be a collection of session ids",
    ),
    (
        "merge-list-patch",
        lambda s, t: s.merge(SID, [("a", 1)]),  # type: ignore[arg-type]
        TypeError,
        "session patch must be a mapping",
    ),
    (
        "merge-create-no-expiry",
        lambda s, t: s.merge(SID, {"a": 1}, create=True),
        ValueError,
        "merge(create=True) needs expires_at",
    ),
    (
        "merge-create-empty-user",
        lambda s, t: s.merge(SID, {"a": 1}, create=True, user_id="", expires_at=t),
        ValueError,
        USER_RULE,
    ),
    ("merge-empty-sid", lambda s, t: s.merge("", {"a": 1}), ValueError, SID_RULE),
    (
        "replace-bytes-data",
        lambda s, t: s.replace_data(SID, {"a": b"x"}),
        TypeError,
        "session data must be JSON-serialisable",
    ),
    ("replace-empty-sid", lambda s, t: s.replace_data("", {}), ValueError, SID_RULE),
    (
        "pluck-int-key",
        lambda s, t: s.pluck(SID, 1),  # type: ignore[arg-type]
        TypeError,
        "key must be a string",
    ),
    ("pluck-empty-sid", lambda s, t: s.pluck("", "a"), ValueError, SID_RULE),
    ("add-csrf-empty-digest", lambda s, t: s.add_csrf(SID, "", t), ValueError, DIGEST_RULE),
    (
        "add-csrf-text-expiry",
        lambda s, t: s.add_csrf(SID, "d", "soon"),  # type: ignore[arg-type]
        TypeError,
        "expires_at must be Unix seconds",
    ),
    ("consume-long-digest", lambda s, t: s.consume_csrf(SID, "d" * 256), ValueError, DIGEST_RULE),
    ("consume-empty-sid", lambda s, t: s.consume_csrf("", "d"), ValueError, SID_RULE),
]


@pytest.mark.parametrize(
    ("call", "error", "message"), [c[1:] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS]
)
async def test_bad_arguments_raise_the_same_error_on_every_backend(
    store: SessionStore, clock: FakeClock, call: Call, error: type[Exception], message: str
) -> None:
    expires = clock.time() + HOUR
    await store.set(SID, {"keep": [1, {}]}, user_id="user-1", expires_at=expires, meta={"a": "b"})
    await store.add_csrf(SID, "d", expires)
    before = await store.get(SID)

    with pytest.raises(error, match="^" + re.escape(message)):
        await call(store, expires)

    assert await store.get(SID) == before  # nothing was written
    assert [s.sid for s in await store.list_for_user("user-1")] == [SID]
    assert await store.consume_csrf(SID, "d") is True


class _NoBackend(SessionStore):
    """A store whose every hook fails the test: validation must happen before any of them."""

    async def close(self) -> None:
        pass

    async def _fail(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a backend hook ran with an argument the base class should refuse")

    _get = _set = _touch = _destroy = _list_for_user = _destroy_for_user = _fail
    _merge = _replace_data = _pluck = _add_csrf = _consume_csrf = _acquire = _release = _fail


@pytest.mark.parametrize(
    ("call", "error", "message"), [c[1:] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS]
)
async def test_arguments_are_checked_before_any_backend_code(
    call: Call, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match="^" + re.escape(message)):
        await call(_NoBackend(), 2_000_000_000.0)


@pytest.mark.parametrize("cls", [MemoryStore, SQLStore, RedisStore])
def test_backends_implement_hooks_not_the_public_methods(cls: type[SessionStore]) -> None:
    """A backend that overrides a public method would skip (or repeat) the checks."""
    public = {
        "get", "set", "touch", "destroy", "list_for_user", "destroy_for_user", "merge",
        "replace_data", "pluck", "add_csrf", "consume_csrf",
    }  # fmt: skip
    assert public.isdisjoint(vars(cls)), sorted(public & set(vars(cls)))
    assert not getattr(cls, "__abstractmethods__", None)


# --- expiry and touch -----------------------------------------------------------------------------


async def test_expiry_follows_the_injected_clock(store: SessionStore, clock: FakeClock) -> None:
    sid = await new_session(store, clock, {"k": "v"}, ttl=60)
    await store.add_csrf(sid, "digest-1", clock.time() + 3 * HOUR)

    clock.advance(59.5)
    assert await store.get(sid) is not None

    clock.advance(0.5)  # exactly at expires_at: over
    assert await store.get(sid) is None
    assert await store.touch(sid, clock.time() + 60) is False
    assert await store.list_for_user("user-1") == []
    assert await store.merge(sid, {"a": 1}) is None
    assert await store.replace_data(sid, {"a": 1}) is False
    assert await store.pluck(sid, "k") is None
    assert await store.get(sid) is None  # none of the above revived it


async def test_touch_moves_expiry_and_touched_at(store: SessionStore, clock: FakeClock) -> None:
    sid = await new_session(store, clock, {"k": 1}, ttl=60)
    created = clock.time()
    clock.advance(50)

    assert await store.touch(sid, clock.time() + 60) is True

    clock.advance(50)  # 100 s after creation: past the first expiry, within the new one
    got = await store.get(sid)
    assert got is not None
    assert got.created_at == created
    assert got.touched_at == created + 50
    assert got.expires_at == created + 110
    assert got.data == {"k": 1}

    clock.advance(10)
    assert await store.get(sid) is None


async def test_touch_missing_is_false(store: SessionStore, clock: FakeClock) -> None:
    assert await store.touch(new_sid(), clock.time() + 60) is False


async def test_touch_can_shorten(store: SessionStore, clock: FakeClock) -> None:
    sid = await new_session(store, clock, ttl=HOUR)
    assert await store.touch(sid, clock.time() + 5) is True
    clock.advance(5)
    assert await store.get(sid) is None


async def test_purge_expired(store: SessionStore, clock: FakeClock) -> None:
    dead = [await new_session(store, clock, ttl=10) for _ in range(3)]
    live = await new_session(store, clock, {"keep": True}, ttl=100)
    clock.advance(20)

    assert await store.purge_expired() == 3

    assert await store.get(live) is not None
    assert all([await store.get(sid) is None for sid in dead])
    assert [s.sid for s in await store.list_for_user("user-1")] == [live]
    assert await store.purge_expired() == 0


# --- destroy and per-user listing -----------------------------------------------------------------


async def test_destroy(store: SessionStore, clock: FakeClock) -> None:
    sid = await new_session(store, clock, {"a": 1})
    other = await new_session(store, clock, {"b": 2})
    await store.add_csrf(sid, "d1", clock.time() + 60)

    await store.destroy(sid)
    await store.destroy(sid)  # twice: no error
    await store.destroy(new_sid())  # never existed: no error

    assert await store.get(sid) is None
    assert await store.consume_csrf(sid, "d1") is False
    assert await store.get(other) is not None
    assert [s.sid for s in await store.list_for_user("user-1")] == [other]


async def test_list_for_user_newest_touched_first(store: SessionStore, clock: FakeClock) -> None:
    first = await new_session(store, clock, meta={"device": "laptop"})
    clock.advance(1)
    second = await new_session(store, clock, meta={"device": "phone"})
    clock.advance(1)
    third = await new_session(store, clock, meta={"device": "tablet"})
    await new_session(store, clock, user_id="someone-else")
    await new_session(store, clock, user_id=None)
    clock.advance(1)
    assert await store.touch(first, clock.time() + HOUR)

    listed = await store.list_for_user("user-1")

    assert [s.sid for s in listed] == [first, third, second]
    assert [s.meta["device"] for s in listed] == ["laptop", "tablet", "phone"]
    assert all(isinstance(s, StoredSession) and s.user_id == "user-1" for s in listed)
    assert await store.list_for_user("nobody") == []


async def test_list_for_user_leaves_out_expired(store: SessionStore, clock: FakeClock) -> None:
    short = await new_session(store, clock, ttl=10)
    long = await new_session(store, clock, ttl=100)
    clock.advance(10)
    assert [s.sid for s in await store.list_for_user("user-1")] == [long]
    assert await store.get(short) is None


async def test_destroy_for_user(store: SessionStore, clock: FakeClock) -> None:
    mine = [await new_session(store, clock) for _ in range(3)]
    expired = await new_session(store, clock, ttl=5)
    theirs = await new_session(store, clock, user_id="user-2")
    anonymous = await new_session(store, clock, user_id=None)
    for sid in mine:
        await store.add_csrf(sid, "digest", clock.time() + 60)
    clock.advance(5)

    ended = await store.destroy_for_user("user-1", keep=[mine[0]])

    assert sorted(ended) == sorted(mine[1:])  # the expired one is removed but not listed
    assert [s.sid for s in await store.list_for_user("user-1")] == [mine[0]]
    assert await store.get(mine[1]) is None
    assert await store.get(mine[2]) is None
    assert await store.get(expired) is None
    assert await store.consume_csrf(mine[1], "digest") is False
    assert await store.consume_csrf(mine[0], "digest") is True  # the kept one keeps its tokens
    assert await store.get(theirs) is not None
    assert await store.get(anonymous) is not None

    assert await store.destroy_for_user("user-1") == [mine[0]]
    assert await store.list_for_user("user-1") == []
    assert await store.destroy_for_user("user-1") == []
    assert await store.destroy_for_user("never-seen") == []


async def test_destroy_for_user_leaves_a_kept_session_untouched(
    store: SessionStore, clock: FakeClock
) -> None:
    keep = await new_session(store, clock, {"a": {"b": []}}, meta={"ip": "203.0.113.7"})
    other = await new_session(store, clock)
    await store.add_csrf(keep, "digest", clock.time() + 60)
    before = await store.get(keep)

    assert await store.destroy_for_user("user-1", keep=[keep]) == [other]

    assert await store.get(keep) == before
    assert [s.sid for s in await store.list_for_user("user-1")] == [keep]
    assert await store.consume_csrf(keep, "digest") is True
    assert await store.get(other) is None


async def test_destroy_for_user_keeping_someone_elses_id_spares_nothing_of_theirs(
    store: SessionStore, clock: FakeClock
) -> None:
    mine = [await new_session(store, clock) for _ in range(2)]
    theirs = await new_session(store, clock, user_id="user-2")

    assert sorted(await store.destroy_for_user("user-1", keep=[theirs])) == sorted(mine)
    assert await store.destroy_for_user("user-1", keep=[new_sid()]) == []

    assert all([await store.get(sid) is None for sid in mine])
    assert await store.get(theirs) is not None
    assert [s.sid for s in await store.list_for_user("user-2")] == [theirs]


async def test_an_ended_session_cannot_come_back(store: SessionStore, clock: FakeClock) -> None:
    sid = await new_session(store, clock, {"secret": 1})
    clock.advance(10)
    await store.destroy_for_user("user-1")

    assert await store.touch(sid, clock.time() + HOUR) is False
    assert await store.merge(sid, {"x": 1}) is None
    assert await store.replace_data(sid, {"x": 1}) is False
    assert await store.pluck(sid, "secret") is None
    assert await store.list_for_user("user-1") == []
    # creating again under the same id starts over: no old data, a new created_at
    expires = clock.time() + HOUR
    assert await store.merge(sid, {"x": 1}, create=True, user_id="user-1", expires_at=expires) == {
        "x": 1
    }
    got = await store.get(sid)
    assert got is not None
    assert got.created_at == clock.time()


async def test_set_by_another_instance_moves_the_session_between_users(
    backend: Backend, clock: FakeClock
) -> None:
    """The second store never saw the session, so it cannot know its owner in advance."""
    one, two = backend.make(), backend.make()
    sid = await new_session(one, clock, user_id="alice")

    await two.set(sid, {}, user_id="bob", expires_at=clock.time() + HOUR)
    assert await one.list_for_user("alice") == []
    await one.set(sid, {}, user_id="carol", expires_at=clock.time() + HOUR)  # one thinks: alice
    assert await two.list_for_user("bob") == []
    assert [s.sid for s in await two.list_for_user("carol")] == [sid]
    assert await two.touch(sid, clock.time() + 2 * HOUR) is True
    assert len(await two.destroy_for_user("carol")) == 1
    assert await one.get(sid) is None


# --- data verbs -----------------------------------------------------------------------------------


async def test_merge_is_deep(store: SessionStore, clock: FakeClock) -> None:
    sid = await new_session(
        store,
        clock,
        {"prefs": {"theme": "dark", "lang": "en", "nested": {"a": 1}}, "cart": [1, 2], "n": 1},
    )

    result = await store.merge(
        sid,
        {
            "prefs": {"lang": "fr", "nested": {"b": 2}},
            "cart": [3],
            "n": {"now": "a dict"},
            "x": None,
        },
    )

    expected = {
        "prefs": {"theme": "dark", "lang": "fr", "nested": {"a": 1, "b": 2}},
        "cart": [3],  # lists replace
        "n": {"now": "a dict"},  # a scalar replaced by an object
        "x": None,
    }
    assert result == expected
    got = await store.get(sid)
    assert got is not None
    assert got.data == expected
    assert list(got.data) == ["prefs", "cart", "n", "x"]  # existing keys keep their place

    assert await store.merge(sid, {"prefs": "flat"}) == {**expected, "prefs": "flat"}
    assert await store.merge(sid, {}) == {**expected, "prefs": "flat"}


async def test_merge_keeps_awkward_values_exactly(store: SessionStore, clock: FakeClock) -> None:
    sid = await new_session(store, clock, AWKWARD)
    result = await store.merge(sid, {"nested": {"deep": {"more": []}}, "extra": {}})
    expected = deep_merge(roundtrip(AWKWARD), {"nested": {"deep": {"more": []}}, "extra": {}})
    assert result == expected
    got = await store.get(sid)
    assert got is not None
    assert json.dumps(got.data) == json.dumps(expected)


async def test_merge_does_not_move_owner_expiry_or_touched_at(
    store: SessionStore, clock: FakeClock
) -> None:
    sid = await new_session(store, clock, ttl=60)
    before = await store.get(sid)
    clock.advance(10)
    await store.merge(sid, {"a": 1}, create=True, user_id="other", expires_at=clock.time() + 999)
    after = await store.get(sid)
    assert before is not None
    assert after is not None
    assert (after.user_id, after.expires_at, after.touched_at, after.created_at) == (
        before.user_id,
        before.expires_at,
        before.touched_at,
        before.created_at,
    )


async def test_merge_on_missing_returns_none_and_creates_nothing(
    store: SessionStore, clock: FakeClock
) -> None:
    sid = new_sid()
    assert await store.merge(sid, {"a": 1}) is None
    assert await store.get(sid) is None


async def test_merge_create(store: SessionStore, clock: FakeClock) -> None:
    sid = new_sid()
    expires = clock.time() + 120

    result = await store.merge(
        sid, {"a": {"b": 1}}, create=True, user_id="user-9", expires_at=expires
    )

    assert result == {"a": {"b": 1}}
    got = await store.get(sid)
    assert got is not None
    assert (got.user_id, got.expires_at, got.created_at, got.meta) == (
        "user-9",
        expires,
        clock.time(),
        {},
    )
    assert [s.sid for s in await store.list_for_user("user-9")] == [sid]

    anonymous = new_sid()
    assert await store.merge(anonymous, {"x": 1}, create=True, expires_at=expires) == {"x": 1}
    got = await store.get(anonymous)
    assert got is not None
    assert got.user_id is None


async def test_merge_create_over_expired_starts_fresh(
    store: SessionStore, clock: FakeClock
) -> None:
    sid = await new_session(store, clock, {"stale": True}, ttl=10)
    clock.advance(10)
    result = await store.merge(sid, {"fresh": True}, create=True, expires_at=clock.time() + 10)
    assert result == {"fresh": True}
    got = await store.get(sid)
    assert got is not None
    assert got.created_at == clock.time()
    assert got.user_id is None
    assert await store.list_for_user("user-1") == []


async def test_replace_data(store: SessionStore, clock: FakeClock) -> None:
    sid = await new_session(store, clock, {"a": 1, "b": {"c": 2}}, meta={"ip": "x"})
    before = await store.get(sid)
    clock.advance(5)

    assert await store.replace_data(sid, {"z": [AWKWARD["quotes"]]}) is True

    after = await store.get(sid)
    assert before is not None
    assert after is not None
    assert after.data == {"z": [AWKWARD["quotes"]]}
    assert (after.user_id, after.expires_at, after.created_at, after.meta) == (
        before.user_id,
        before.expires_at,
        before.created_at,
        before.meta,
    )
    assert await store.replace_data(sid, {}) is True
    got = await store.get(sid)
    assert got is not None
    assert got.data == {}
    assert await store.replace_data(new_sid(), {"a": 1}) is False
    with pytest.raises(TypeError):
        await store.replace_data(sid, {"bad": {1, 2}})


async def test_pluck_returns_and_removes(store: SessionStore, clock: FakeClock) -> None:
    data = {
        "flash": {"msg": "saved", "n": [1, {}]},
        "zero": 0,
        "empty": [],
        "none": None,
        **AWKWARD,
    }
    sid = await new_session(store, clock, data)

    assert await store.pluck(sid, "flash") == {"msg": "saved", "n": [1, {}]}
    assert await store.pluck(sid, "flash") is None  # gone
    assert await store.pluck(sid, "zero") == 0
    assert await store.pluck(sid, "empty") == []
    assert await store.pluck(sid, "none") is None
    assert await store.pluck(sid, 'key "with" quotes') == {"\\": "back\\slash", "}": "{", ",": ":"}
    assert await store.pluck(sid, "") == "empty key"
    assert await store.pluck(sid, "never-there") is None
    assert await store.pluck(new_sid(), "flash") is None

    got = await store.get(sid)
    assert got is not None
    rest = roundtrip(AWKWARD)
    for key in ("", 'key "with" quotes'):
        del rest[key]
    assert got.data == rest
    assert json.dumps(got.data) == json.dumps(rest)


# --- CSRF -----------------------------------------------------------------------------------------


async def test_csrf_is_single_use(store: SessionStore, clock: FakeClock) -> None:
    sid = await new_session(store, clock)
    await store.add_csrf(sid, "digest-a", clock.time() + 60)
    await store.add_csrf(sid, "digest-b", clock.time() + 60)

    assert await store.consume_csrf(sid, "digest-a") is True
    assert await store.consume_csrf(sid, "digest-a") is False  # used
    assert await store.consume_csrf(sid, "never-issued") is False
    assert await store.consume_csrf(new_sid(), "digest-b") is False  # another session's id
    assert await store.consume_csrf(sid, "digest-b") is True


async def test_csrf_expires(store: SessionStore, clock: FakeClock) -> None:
    sid = await new_session(store, clock)
    await store.add_csrf(sid, "short", clock.time() + 10)
    await store.add_csrf(sid, "long", clock.time() + 100)
    clock.advance(10)
    assert await store.consume_csrf(sid, "short") is False
    assert await store.consume_csrf(sid, "long") is True


async def test_csrf_keeps_at_most_the_newest_hundred(store: SessionStore, clock: FakeClock) -> None:
    sid = await new_session(store, clock)
    for n in range(105):
        await store.add_csrf(sid, f"digest-{n:03}", clock.time() + 60 + n)
    assert await store.consume_csrf(sid, "digest-004") is False  # the five oldest were dropped
    assert await store.consume_csrf(sid, "digest-005") is True
    assert await store.consume_csrf(sid, "digest-104") is True


async def test_csrf_reissue_moves_expiry(store: SessionStore, clock: FakeClock) -> None:
    sid = await new_session(store, clock)
    await store.add_csrf(sid, "d", clock.time() + 10)
    await store.add_csrf(sid, "d", clock.time() + 100)
    clock.advance(50)
    assert await store.consume_csrf(sid, "d") is True
    assert await store.consume_csrf(sid, "d") is False


# --- data comes back exactly as it went in, also through a merge ----------------------------------

#: What a JSON library inside the store (e.g. Redis' cjson) would change: [] vs {}, 1.0 vs 1,
#: digits beyond 14, integers beyond 2**53, key order, lone surrogates, non-ASCII text.
FIDELITY: dict[str, Any] = {
    "zebra": "keys stay in insertion order",
    "float_one": 1.0,
    "negative_zero": -0.0,
    "int_one": 1,
    "precise": 0.30000000000000004,
    "timestamp": 1767225600.123456,
    "beyond_2_53": 2**53 + 1,
    "beyond_2_64": 2**64 + 1,
    "tiny": 5e-324,
    "empty_object": {},
    "empty_array": [],
    "empties": [{}, [], [[]], {"": {}}],
    "nested": {"a": {"b": {"c": {"d": [1.0, {"e": {}}]}}}},
    "unicode": "héllo ✓ 日本 \U0001f600",
    "lone_surrogate": "\ud800",
    "separators": "\u2028\u2029\x00\x1f/",
    "alpha": 1,
}


async def test_merge_keeps_types_order_and_text_exactly(
    store: SessionStore, clock: FakeClock
) -> None:
    sid = await new_session(store, clock, FIDELITY)
    patch = {
        "nested": {"a": {"b": {"new": 2.5, "c": {"d": []}}}, "z": {}},
        "empty_object": {"filled": "ü"},
        "empty_array": {},
        "added_last": [1.0, 2**70],
    }
    expected = deep_merge(roundtrip(FIDELITY), roundtrip(patch))

    merged = await store.merge(sid, patch)
    got = await store.get(sid)

    assert got is not None
    for result in (merged, got.data):
        assert result is not None
        assert json.dumps(result) == json.dumps(expected)  # same values, same types, same order
        assert list(result) == list(expected)
        assert type(result["float_one"]) is float
        assert result["empty_array"] == {}
        assert result["empties"] == [{}, [], [[]], {"": {}}]
        assert result["nested"]["a"]["b"]["c"] == {"d": []}
        assert result["beyond_2_64"] == 2**64 + 1
    assert repr(await store.pluck(sid, "negative_zero")) == "-0.0"
    assert await store.pluck(sid, "lone_surrogate") == "\ud800"
    assert await store.pluck(sid, "timestamp") == 1767225600.123456


# --- the merge is deep_merge, for any JSON --------------------------------------------------------

KEYS = st.sampled_from(
    ["a", "b", "", '"', "\\", "{", "}", ":", ",", "[", "é", "\u2028", "\x00"]
) | (st.text(max_size=3))
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=12,
)
OBJECTS = st.dictionaries(KEYS, VALUES, max_size=4)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(base=OBJECTS, patch=OBJECTS)
async def test_merge_equals_deep_merge(
    store: SessionStore, clock: FakeClock, base: dict[str, Any], patch: dict[str, Any]
) -> None:
    sid = await new_session(store, clock, base)
    expected = deep_merge(roundtrip(base), roundtrip(patch))

    result = await store.merge(sid, patch)

    assert json.dumps(result) == json.dumps(expected)
    got = await store.get(sid)
    assert got is not None
    assert json.dumps(got.data) == json.dumps(expected)
    if patch:
        key = next(iter(roundtrip(patch)))
        assert json.dumps(await store.pluck(sid, key)) == json.dumps(expected[key])
    await store.destroy(sid)


# --- concurrency ----------------------------------------------------------------------------------


async def test_concurrent_merges_lose_nothing(backend: Backend, clock: FakeClock) -> None:
    """2 x 100 merges of distinct keys at once, from two stores (two engines / clients)."""
    one, two = backend.make(), backend.make()
    sid = await new_session(one, clock, {"start": True})

    results = await asyncio.gather(
        *(one.merge(sid, {"left": {f"k{n}": n}}) for n in range(100)),
        *(two.merge(sid, {f"right-{n}": [n]}) for n in range(100)),
    )

    assert all(r is not None for r in results)
    got = await one.get(sid)
    assert got is not None
    assert got.data["left"] == {f"k{n}": n for n in range(100)}
    assert {k: v for k, v in got.data.items() if k.startswith("right-")} == {
        f"right-{n}": [n] for n in range(100)
    }
    assert got.data["start"] is True
    assert len(got.data) == 1 + 1 + 100


async def test_concurrent_creating_merges_make_one_session(
    backend: Backend, clock: FakeClock
) -> None:
    one, two = backend.make(), backend.make()
    sid = new_sid()
    expires = clock.time() + HOUR

    await asyncio.gather(
        *(
            (one if n % 2 else two).merge(
                sid, {f"k{n}": n}, create=True, user_id="racer", expires_at=expires
            )
            for n in range(20)
        )
    )

    got = await one.get(sid)
    assert got is not None
    assert got.data == {f"k{n}": n for n in range(20)}
    assert [s.sid for s in await one.list_for_user("racer")] == [sid]


async def test_concurrent_consume_csrf_has_one_winner(backend: Backend, clock: FakeClock) -> None:
    one, two = backend.make(), backend.make()
    sid = await new_session(one, clock)
    await one.add_csrf(sid, "the-token-digest", clock.time() + 60)

    wins = await asyncio.gather(
        *((one if n % 2 else two).consume_csrf(sid, "the-token-digest") for n in range(50))
    )

    assert wins.count(True) == 1
    assert wins.count(False) == 49


async def test_concurrent_pluck_has_one_winner(backend: Backend, clock: FakeClock) -> None:
    one, two = backend.make(), backend.make()
    sid = await new_session(one, clock, {"flash": "once", "other": 1})

    got = await asyncio.gather(*((one if n % 2 else two).pluck(sid, "flash") for n in range(30)))

    assert got.count("once") == 1
    assert got.count(None) == 29
    session = await one.get(sid)
    assert session is not None
    assert session.data == {"other": 1}


async def test_concurrent_logins_cannot_slip_past_destroy_for_user(
    backend: Backend, clock: FakeClock
) -> None:
    """Sign out everywhere while the user logs in, is touched and signs out elsewhere.

    Afterwards every session that existed before is gone (but the kept one); each new session
    either ended or is listed, never half of it; and the count says exactly how many ended.
    """
    one, two = backend.make(), backend.make()
    before = [await new_session(one, clock, user_id="target") for _ in range(8)]
    keep = before[0]
    logins = [new_sid() for _ in range(16)]
    expires = clock.time() + HOUR

    results = await asyncio.gather(
        *(two.set(sid, {"n": 1}, user_id="target", expires_at=expires) for sid in logins[:8]),
        one.destroy_for_user("target", keep=[keep]),
        *(two.set(sid, {"n": 1}, user_id="target", expires_at=expires) for sid in logins[8:]),
        *(two.touch(sid, expires + 60) for sid in before[1:]),
        two.destroy(before[-1]),
    )
    ended = len(results[8])

    assert await one.get(keep) is not None
    assert all([await one.get(sid) is None for sid in before[1:]])
    live = {sid for sid in logins if await one.get(sid) is not None}
    listed = {s.sid for s in await one.list_for_user("target")}
    assert listed == live | {keep}
    # the session destroyed on its own may have ended either way
    assert ended in (len(before) - 1 + len(logins) - len(live) - k for k in (0, 1))


# --- leases ---------------------------------------------------------------------------------------


async def test_a_lease_has_one_holder_until_released(store: SessionStore, clock: FakeClock) -> None:
    assert await store.acquire("lock/a", "one", 30) is True
    assert await store.acquire("lock/a", "two", 30) is False
    assert await store.acquire("lock/a", "one", 30) is False  # not re-entrant either
    assert await store.acquire("lock/b", "two", 30) is True  # another key is another lease
    assert await store.release("lock/a", "two") is False  # not the holder: nothing happens
    assert await store.acquire("lock/a", "two", 30) is False
    assert await store.release("lock/a", "one") is True
    assert await store.release("lock/a", "one") is False
    assert await store.acquire("lock/a", "two", 30) is True


async def test_an_expired_lease_is_free_by_the_injected_clock(
    store: SessionStore, clock: FakeClock
) -> None:
    assert await store.acquire("lock/a", "dead", 30)
    clock.advance(29)
    assert await store.acquire("lock/a", "next", 30) is False
    clock.advance(1)
    assert await store.acquire("lock/a", "next", 30) is True
    # the holder that came back too late cannot free the new holder's lease
    assert await store.release("lock/a", "dead") is False
    assert await store.acquire("lock/a", "third", 30) is False


async def test_a_lease_is_not_a_session(store: SessionStore, clock: FakeClock) -> None:
    assert await store.acquire("lock/x", "me", 30)
    assert await store.list_for_user("me") == []
    sid = await new_session(store, clock, user_id="me")
    await store.destroy_for_user("me")
    assert await store.get(sid) is None
    assert await store.acquire("lock/x", "other", 30) is False


async def test_concurrent_acquirers_have_one_winner(backend: Backend, clock: FakeClock) -> None:
    """Two instances (two workers) and 40 callers race for one free lease, three times over."""
    one, two = backend.make(), backend.make()
    for round_ in range(3):
        key = f"lock/race-{round_}"
        wins = await asyncio.gather(
            *((one if n % 2 else two).acquire(key, f"owner-{n}", 30) for n in range(40))
        )
        assert sum(wins) == 1
