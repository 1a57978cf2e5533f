"""The lifecycle rules as pure functions (explicit ``now``), and as a user lives them through
``ReflexSession.get_session`` with a FakeClock."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise

import pytest

from reflex_session import ForbiddenUpdate, Session, User
from reflex_session.lifecycle import (
    Policy,
    is_expired,
    merged,
    new_session,
    refreshed,
    should_refresh,
)
from reflex_session.testing import DEFAULT_START
from reflex_session.wire import from_patch

T0 = int(DEFAULT_START * 1000)  # a whole second, in ms
S = 1000  # one second in ms
POLICY = Policy(session_expiry=3600, refresh_threshold=600, max_lifetime=4 * 3600)


def fresh(now_ms: int = T0, policy: Policy = POLICY, **kwargs) -> Session[User]:
    return new_session(User(id="u1", name="Ada"), now_ms=now_ms, policy=policy, **kwargs)


# -- new_session -----------------------------------------------------------------------------


def test_new_session_expires_after_the_idle_lifetime() -> None:
    session = fresh(access_token="a", refresh_token="r")
    assert session.created_at == T0
    assert session.last_activity == T0
    assert session.expires_at == T0 + POLICY.session_expiry * S
    assert session.access_token == "a"
    assert session.refresh_token == "r"
    assert session.user == User(id="u1", name="Ada")


def test_new_session_expiry_is_capped_by_the_absolute_lifetime() -> None:
    # Policy itself does not insist on max_lifetime >= session_expiry; the min() still holds
    policy = Policy(session_expiry=100, refresh_threshold=10, max_lifetime=50)
    assert fresh(policy=policy).expires_at == T0 + 50 * S
    equal = Policy(session_expiry=100, refresh_threshold=10, max_lifetime=100)
    assert fresh(policy=equal).expires_at == T0 + 100 * S


def test_new_session_on_a_fractional_second_never_outlives_the_rule() -> None:
    now = T0 + 750
    session = fresh(now_ms=now)
    assert session.created_at == now
    assert session.last_activity % S == 0
    assert session.expires_at % S == 0  # JWT exp is whole seconds: the cookie reads back equal
    assert now + POLICY.session_expiry * S - S < session.expires_at
    assert session.expires_at <= now + POLICY.session_expiry * S


def test_new_session_ids_are_unique_and_unguessable() -> None:
    ids = {fresh().id for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) >= 22 for i in ids)  # >= 128 bits in base64url
    assert fresh(id_factory=lambda: "fixed").id == "fixed"


# -- is_expired / should_refresh -------------------------------------------------------------


def test_is_expired_boundary() -> None:
    session = fresh()
    assert not is_expired(session, session.expires_at - 1)
    assert is_expired(session, session.expires_at)
    assert is_expired(session, session.expires_at + 1)
    assert not is_expired(session, T0)


def test_should_refresh_follows_the_threshold() -> None:
    session = fresh()
    threshold = POLICY.refresh_threshold * S
    assert not should_refresh(session, T0, POLICY)
    assert not should_refresh(session, T0 + threshold - 1, POLICY)
    assert should_refresh(session, T0 + threshold, POLICY)
    assert should_refresh(session, session.expires_at - 1, POLICY)


def test_should_refresh_is_false_once_expired() -> None:
    session = fresh()
    assert not should_refresh(session, session.expires_at, POLICY)
    assert not should_refresh(session, session.expires_at + 10 * S, POLICY)


def test_should_refresh_is_false_when_pinned_at_the_absolute_limit() -> None:
    policy = Policy(session_expiry=3600, refresh_threshold=600, max_lifetime=7200)
    session = fresh(policy=policy)
    late = refreshed(session, T0 + 4000 * S, policy)
    assert late.expires_at == T0 + 7200 * S  # pinned
    assert not should_refresh(late, T0 + 4600 * S, policy)
    assert not should_refresh(late, T0 + 7199 * S, policy)
    # before the pin, the same age does ask for a refresh
    assert should_refresh(session, T0 + 600 * S, policy)


def test_refreshed_slides_forward_keeping_identity() -> None:
    session = fresh(access_token="a")
    later = refreshed(session, T0 + 1000 * S + 400, POLICY)
    assert later.last_activity == T0 + 1000 * S
    assert later.expires_at == T0 + (1000 + POLICY.session_expiry) * S
    assert later.id == session.id
    assert later.created_at == session.created_at
    assert later.user == session.user
    assert later.access_token == "a"


@pytest.mark.parametrize("created_offset", [0, 1, 999])
def test_refreshed_never_passes_the_absolute_limit(created_offset: int) -> None:
    created = T0 + created_offset
    session = fresh(now_ms=created)
    limit = created + POLICY.max_lifetime * S
    now = created
    while now < limit + 2 * POLICY.session_expiry * S:
        session = refreshed(session, now, POLICY)
        assert session.expires_at <= limit
        assert session.created_at == created
        now += 137 * S + 3
    assert session.expires_at > limit - S  # it does get to (the whole second of) the limit


# -- through ReflexSession.get_session -------------------------------------------------------


async def test_busy_user_is_reissued_at_most_once_per_threshold_window(
    make_auth, make_browser, clock
) -> None:
    threshold, expiry = 60, 300
    auth = make_auth(session_expiry=expiry, refresh_threshold=threshold, max_lifetime=86400)
    browser = make_browser(auth)
    jar = browser.jar()
    created = await auth.create_session(jar, {"id": "u1"})
    browser.receive(jar)

    windows = 10
    per_window: Counter[int] = Counter()
    reissued_at: list[float] = []
    for second in range(1, windows * threshold + 1):
        clock.advance(1)
        jar = browser.jar()
        session = await auth.get_session(jar)
        assert session is not None, f"logged out after {second}s of activity"
        assert session.id == created.id
        if browser.receive(jar):
            per_window[second // threshold] += 1
            reissued_at.append(clock.time())
    assert max(per_window.values()) == 1
    assert len(reissued_at) >= windows - 1  # the session does slide: roughly once per window
    gaps = [b - a for a, b in pairwise(reissued_at)]
    assert all(gap >= threshold for gap in gaps), gaps
    # far past the idle expiry, the busy user is still signed in
    assert clock.time() - DEFAULT_START > expiry


async def test_idle_user_is_out_after_session_expiry(make_auth, make_browser, clock) -> None:
    auth = make_auth(session_expiry=300, refresh_threshold=60)
    browser = make_browser(auth)
    jar = browser.jar()
    await auth.create_session(jar, {"id": "u1"})
    browser.receive(jar)
    token = browser.token

    clock.advance(299)
    assert auth.decrypt_session(token) is not None
    clock.advance(1)
    jar = browser.jar()
    assert await auth.get_session(jar) is None
    (header,) = jar.set_cookie_headers
    assert "Max-Age=0" in header
    assert auth.decrypt_session(token) is None


async def test_active_user_is_out_after_max_lifetime(make_auth, make_browser, clock) -> None:
    max_lifetime = 900
    auth = make_auth(session_expiry=300, refresh_threshold=60, max_lifetime=max_lifetime)
    browser = make_browser(auth)
    jar = browser.jar()
    created = await auth.create_session(jar, {"id": "u1"})
    browser.receive(jar)

    limit_ms = created.created_at + max_lifetime * S
    elapsed = 0
    while elapsed < max_lifetime + 120:
        clock.advance(10)
        elapsed += 10
        jar = browser.jar()
        session = await auth.get_session(jar)
        browser.receive(jar)
        if elapsed < max_lifetime:
            assert session is not None, f"an active user was logged out at {elapsed}s"
            assert session.expires_at <= limit_ms
        else:
            assert session is None, f"still signed in at {elapsed}s, past max_lifetime"
    # and an explicit refresh cannot extend it either
    jar = browser.jar()
    assert await auth.refresh_session(jar) is None


async def test_explicit_refresh_near_the_limit_is_capped(make_auth, make_browser, clock) -> None:
    auth = make_auth(session_expiry=300, refresh_threshold=60, max_lifetime=900)
    browser = make_browser(auth)
    jar = browser.jar()
    created = await auth.create_session(jar, {"id": "u1"})
    browser.receive(jar)
    for _ in range(5):
        clock.advance(170)
        jar = browser.jar()
        session = await auth.refresh_session(jar)
        browser.receive(jar)
        assert session is not None
        assert session.expires_at <= created.created_at + 900 * S


# -- merged ------------------------------------------------------------------------------------


def rich_session() -> Session[User]:
    user = User.from_wire(
        {
            "id": "u1",
            "email": "ada@example.com",
            "name": "Ada",
            "prefs": {"theme": "dark", "lang": "en", "notify": {"email": True, "sms": False}},
            "roles": ["admin"],
        }
    )
    return fresh().replace(user=user, access_token="a1", refresh_token="r1")


def test_merged_deep_merges_the_user() -> None:
    session = rich_session()
    result = merged(session, user={"name": "Ada L.", "prefs": {"notify": {"sms": True}}})
    assert result.user.to_wire() == {
        "id": "u1",
        "email": "ada@example.com",
        "name": "Ada L.",
        "prefs": {"theme": "dark", "lang": "en", "notify": {"email": True, "sms": True}},
        "roles": ["admin"],
    }
    assert result.access_token == "a1"
    assert result.refresh_token == "r1"
    for name in ("id", "created_at", "last_activity", "expires_at"):
        assert getattr(result, name) == getattr(session, name)
    assert session.user.name == "Ada"  # the original is untouched


def test_merged_never_drops_a_field() -> None:
    session = rich_session()
    for update in ({}, {"new": 1}, {"prefs": {}}, {"prefs": {"notify": {}}}, {"roles": ["x"]}):
        result = merged(session, user=update)
        old = session.user.to_wire()
        new = result.user.to_wire()
        assert set(old) <= set(new)
        assert set(old["prefs"]) <= set(new["prefs"])
        assert set(old["prefs"]["notify"]) <= set(new["prefs"]["notify"])


@pytest.mark.parametrize("new_id", ["u2", 2, "", None])
def test_merged_refuses_a_different_user_id(new_id) -> None:
    with pytest.raises(ForbiddenUpdate) as info:
        merged(rich_session(), user={"id": new_id, "name": "Mallory"})
    assert info.value.field == "user.id"


def test_merged_accepts_the_same_user_id() -> None:
    session = rich_session()
    assert merged(session, user={"id": "u1", "name": "B"}).user.name == "B"
    numeric = fresh().replace(user=User(id="7"))
    assert merged(numeric, user={"id": 7, "name": "Seven"}).user.name == "Seven"


def test_merged_replaces_tokens_only_when_given() -> None:
    session = rich_session()
    assert merged(session, access_token="a2").access_token == "a2"
    assert merged(session, access_token="a2").refresh_token == "r1"
    assert merged(session, refresh_token=None).refresh_token is None
    assert merged(session, refresh_token=None).access_token == "a1"
    assert merged(session) == session
    with pytest.raises(ForbiddenUpdate):
        merged(session, access_token=123)  # type: ignore[arg-type]


def test_merged_refuses_a_non_object_user() -> None:
    with pytest.raises(ForbiddenUpdate):
        merged(rich_session(), user=["name", "x"])  # type: ignore[arg-type]


# -- wire.from_patch ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field",
    [
        "expiresAt",
        "createdAt",
        "lastActivity",
        "expiryDate",
        "id",
        "expires_at",
        "created_at",
        "role",
        "__proto__",
    ],
)
def test_from_patch_refuses_lifecycle_and_unknown_fields(field: str) -> None:
    with pytest.raises(ForbiddenUpdate) as info:
        from_patch({"user": {"name": "x"}, field: 1}, allow_tokens=True)
    assert info.value.field == field


@pytest.mark.parametrize("field", ["accessToken", "refreshToken"])
def test_from_patch_refuses_tokens_unless_allowed(field: str) -> None:
    with pytest.raises(ForbiddenUpdate) as info:
        from_patch({field: "t"}, allow_tokens=False)
    assert info.value.field == field
    expected = "access_token" if field == "accessToken" else "refresh_token"
    assert from_patch({field: "t"}, allow_tokens=True) == {expected: "t"}


def test_from_patch_accepts_a_user_object() -> None:
    assert from_patch({"user": {"name": "B"}}, allow_tokens=False) == {"user": {"name": "B"}}
    assert from_patch({}, allow_tokens=False) == {}


@pytest.mark.parametrize("body", [None, [], "user", 1, {"user": "x"}, {"user": ["name"]}])
def test_from_patch_refuses_malformed_bodies(body) -> None:
    with pytest.raises(ForbiddenUpdate):
        from_patch(body, allow_tokens=True)


def test_from_patch_output_feeds_merged() -> None:
    session = rich_session()
    kwargs = from_patch(
        {"user": {"prefs": {"theme": "light"}}, "accessToken": "a9"}, allow_tokens=True
    )
    result = merged(session, **kwargs)
    assert result.user.get("prefs")["theme"] == "light"
    assert result.user.get("prefs")["lang"] == "en"
    assert result.access_token == "a9"
    assert result.refresh_token == "r1"
