"""Property tests (hypothesis): reading is total, sessions round-trip, updates never lose fields."""

from __future__ import annotations

import asyncio
import string
from collections.abc import Mapping
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reflex_session import CookieTooLarge, SessionCodec, wire
from reflex_session.cookies import parse_cookie_header

PROPERTY_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

DECLARED = ("id", "email", "name", "image")

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
extra_keys = st.text(max_size=8).filter(lambda key: key not in DECLARED)


def combine(*parts: dict[str, Any]) -> dict[str, Any]:
    """Later parts win (the declared fields are listed last)."""
    result: dict[str, Any] = {}
    for part in parts:
        result.update(part)
    return result


declared_user_fields = st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=24) | st.integers(min_value=0, max_value=2**53)},
    optional={
        "email": st.emails(),
        "name": st.text(max_size=30),
        "image": st.text(max_size=40),
    },
)
users = st.builds(
    combine, st.dictionaries(extra_keys, json_values, max_size=4), declared_user_fields
)

# updates: never "id" (that is refused, and tested elsewhere); declared fields get a string or
# None (anything else is refused); everything else is arbitrary JSON with nested objects to merge
update_keys = st.sampled_from(["prefs", "a", "b", "extra"]) | st.text(max_size=5).filter(
    lambda key: key not in DECLARED
)
nested_updates = st.recursive(
    scalars | st.lists(scalars, max_size=3),
    lambda children: st.dictionaries(update_keys | st.sampled_from(DECLARED), children, max_size=3),
    max_leaves=8,
)
user_updates = st.builds(
    combine,
    st.dictionaries(update_keys, nested_updates, max_size=4),
    st.fixed_dictionaries(
        {},
        optional={key: st.none() | st.text(max_size=20) for key in ("email", "name", "image")},
    ),
)
rich_users = st.builds(
    combine,
    st.fixed_dictionaries(
        {
            "prefs": st.dictionaries(
                update_keys,
                json_values | st.dictionaries(update_keys, json_values, max_size=3),
                max_size=3,
            ),
            "a": json_values,
        }
    ),
    users,
)


def wire_form(user: Mapping[str, Any]) -> dict[str, Any]:
    """What a user dict looks like on the wire: string id, declared None fields left out."""
    result = {key: value for key, value in user.items() if not (key in DECLARED and value is None)}
    result["id"] = str(user["id"])
    return result


# -- reading is total ------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(
    token=st.text(max_size=300)
    | st.text(alphabet=string.ascii_letters + "0123456789-_.", max_size=300)
)
def test_read_never_raises_on_arbitrary_text(auth, token: str) -> None:
    assert auth.codec.read(token) is None
    assert auth.decrypt_session(token) is None
    assert auth.codec.cache_len == 0


@PROPERTY_SETTINGS
@given(data=st.binary(max_size=400))
def test_read_never_raises_on_arbitrary_bytes(auth, data: bytes) -> None:
    assert auth.codec.read(data.decode("latin-1")) is None
    assert auth.codec.read(data) is None  # type: ignore[arg-type]  # not even for a non-str


@PROPERTY_SETTINGS
@given(
    position=st.integers(min_value=0, max_value=10_000),
    replacement=st.characters(),
    cut=st.integers(min_value=0, max_value=10_000),
)
def test_read_never_raises_on_mutated_real_tokens(auth, position, replacement, cut) -> None:
    token = auth.encrypt_session(auth.new_session({"id": "u1", "name": "Ada"}))
    index = position % len(token)
    mutated = token[:index] + replacement + token[index + 1 :]
    result = auth.codec.read(mutated)
    if mutated != token:
        assert result is None
    assert auth.codec.read(token[: cut % len(token)]) is None


@PROPERTY_SETTINGS
@given(header=st.text(max_size=500))
def test_cookie_header_parsing_never_raises(auth, header: str) -> None:
    cookies = parse_cookie_header(header)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in cookies.items())
    jar = auth.jar(header)
    assert asyncio.run(auth.get_session(jar)) is None


# -- round trip ------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(
    user=users, access=st.none() | st.text(max_size=40), refresh=st.none() | st.text(max_size=40)
)
def test_round_trip_for_arbitrary_users(auth, clock, user, access, refresh) -> None:
    session = auth.new_session(user, access_token=access, refresh_token=refresh)
    token = auth.encrypt_session(session)
    decoded = SessionCodec([auth.config.secrets[-1]], clock=clock).decode(token).session
    assert decoded == session
    assert decoded.user.to_wire() == wire_form(user)
    assert decoded.access_token == access
    assert decoded.refresh_token == refresh
    assert wire.to_view(decoded, expose_tokens=True) == wire.to_view(session, expose_tokens=True)


# -- update never loses fields ---------------------------------------------------------------


def check_merge(old: Mapping[str, Any], update: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    """Every key path of ``old`` the update does not mention is in ``new`` with the same value;
    every mentioned one has the update's value (nested objects merged)."""
    for key, old_value in old.items():
        assert key in new, f"lost {key!r}"
        if key not in update:
            assert new[key] == old_value, f"changed {key!r}"
        elif isinstance(update[key], Mapping) and isinstance(old_value, Mapping):
            check_merge(old_value, update[key], new[key])
        else:
            assert new[key] == update[key]
    for key, value in update.items():
        if key not in old:
            assert new[key] == value


@PROPERTY_SETTINGS
@given(user=rich_users, update=user_updates)
def test_update_never_loses_fields(make_auth, make_browser, user, update) -> None:
    auth = make_auth()
    browser = make_browser(auth)

    async def scenario() -> None:
        jar = browser.jar()
        created = await auth.create_session(jar, user)
        browser.receive(jar)
        jar = browser.jar()
        try:
            updated = await auth.update_session(jar, user=update)
        except CookieTooLarge:
            assert jar.set_cookie_headers == []
            return
        assert updated is not None
        browser.receive(jar)
        decoded = auth.decrypt_session(browser.token)
        assert decoded == updated
        old = created.user.to_wire()
        new = decoded.user.to_wire()
        # declared fields set to None are left out of the wire form: compare like the wire does
        expected_update = {
            key: value for key, value in update.items() if not (key in DECLARED and value is None)
        }
        for key in DECLARED:
            if key in update and update[key] is None:
                assert key not in new
                old.pop(key, None)
        check_merge(old, expected_update, new)
        assert decoded.id == created.id
        assert decoded.created_at == created.created_at
        assert decoded.expires_at == created.expires_at

    asyncio.run(scenario())
