"""The Session and User types and their camelCase wire form."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from reflex_session import Session, User, wire
from reflex_session.session import deep_merge, thaw


@dataclass(frozen=True)
class RoleUser(User):
    role: str = "member"


def make_session(**overrides) -> Session[User]:
    fields = {
        "id": "sess-1",
        "user": User(id="u1", email="ada@example.com", name="Ada"),
        "created_at": 1_767_225_600_123,
        "last_activity": 1_767_225_600_000,
        "expires_at": 1_767_830_400_000,
        "access_token": "access-abc",
        "refresh_token": "refresh-xyz",
    }
    fields.update(overrides)
    return Session(**fields)


# -- User ------------------------------------------------------------------------------------


def test_from_wire_keeps_unknown_keys_in_extra_and_round_trips() -> None:
    wire = {
        "id": "u1",
        "email": "ada@example.com",
        "name": "Ada",
        "image": "https://example.com/a.png",
        "role": "admin",
        "prefs": {"theme": "dark", "langs": ["en", "fr"]},
        "age": 36,
        "verified": True,
        "nickname": None,
    }
    user = User.from_wire(wire)
    assert user.id == "u1"
    assert user.email == "ada@example.com"
    assert user.name == "Ada"
    assert user.image == "https://example.com/a.png"
    # nested containers are frozen (the decoded session is shared by the cache)
    with pytest.raises(TypeError):
        user.extra["prefs"]["theme"] = "light"  # type: ignore[index]
    assert user.extra["prefs"]["langs"] == ("en", "fr")
    assert thaw(dict(user.extra)) == {
        "role": "admin",
        "prefs": {"theme": "dark", "langs": ["en", "fr"]},
        "age": 36,
        "verified": True,
        "nickname": None,
    }
    assert user.to_wire() == wire
    assert User.from_wire(user.to_wire()) == user
    # the reference's [key: string]: unknown is reachable by name
    assert user["role"] == "admin"
    assert user.get("prefs") == {"theme": "dark", "langs": ["en", "fr"]}
    assert user.get("missing", 7) == 7
    with pytest.raises(KeyError):
        user["missing"]


def test_user_is_immutable() -> None:
    user = User.from_wire({"id": "u1", "role": "admin"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        user.name = "Eve"  # type: ignore[misc]
    with pytest.raises(TypeError):
        user.extra["role"] = "root"  # type: ignore[index]


def test_none_fields_are_left_out_of_the_wire_form() -> None:
    assert User(id="u1").to_wire() == {"id": "u1"}


@pytest.mark.parametrize("raw", [7, 0, 12345678901234567890])
def test_integer_ids_become_strings(raw: int) -> None:
    user = User.from_wire({"id": raw, "name": "Ada"})
    assert user.id == str(raw)
    assert isinstance(user.id, str)
    assert user.to_wire() == {"id": str(raw), "name": "Ada"}
    assert User.coerce({"id": raw}).id == str(raw)


@pytest.mark.parametrize("bad", [{}, {"id": ""}, {"name": "no id"}])
def test_a_user_needs_an_id(bad) -> None:
    with pytest.raises((TypeError, ValueError)):
        User.from_wire(bad)


@pytest.mark.parametrize(
    "bad_id", [None, True, {"nested": 1}, ["u1"]], ids=["None", "True", "dict", "list"]
)
def test_non_scalar_or_missing_ids_are_not_turned_into_strings(bad_id) -> None:
    # an unsaved ORM row has id None; str(None) == "None" would make every such user one user
    with pytest.raises((TypeError, ValueError)):
        User.from_wire({"id": bad_id, "name": "Ada"})


def test_from_wire_refuses_a_non_mapping() -> None:
    with pytest.raises(TypeError):
        User.from_wire(["id", "u1"])  # type: ignore[arg-type]


def test_subclass_gets_typed_fields() -> None:
    user = RoleUser.from_wire({"id": 3, "role": "admin", "team": "core"})
    assert isinstance(user, RoleUser)
    assert user.role == "admin"
    assert user.id == "3"
    assert dict(user.extra) == {"team": "core"}
    assert user.to_wire() == {"id": "3", "role": "admin", "team": "core"}
    assert RoleUser.from_wire({"id": "4"}).role == "member"
    # a plain User is converted, extra fields becoming declared ones
    plain = User.from_wire({"id": "5", "role": "editor"})
    converted = RoleUser.coerce(plain)
    assert isinstance(converted, RoleUser)
    assert converted.role == "editor"
    assert dict(converted.extra) == {}


async def test_subclass_through_reflex_session_comes_back_typed(make_auth, make_browser) -> None:
    auth = make_auth(user_type=RoleUser)
    browser = make_browser(auth)
    jar = browser.jar()
    created = await auth.create_session(jar, {"id": 42, "name": "Ada", "role": "admin", "x": 1})
    browser.receive(jar)
    assert isinstance(created.user, RoleUser)

    session = await auth.get_session(browser.jar())
    assert session is not None
    assert type(session.user) is RoleUser
    assert session.user.role == "admin"
    assert session.user.id == "42"
    assert session.user.name == "Ada"
    assert dict(session.user.extra) == {"x": 1}
    assert session == created
    # decrypt_session also uses the user type
    decrypted = auth.decrypt_session(browser.token)
    assert decrypted is not None
    assert type(decrypted.user) is RoleUser


# -- Session ---------------------------------------------------------------------------------


def test_wire_keys_are_camel_case() -> None:
    data = wire.to_view(make_session(), expose_tokens=True)
    assert set(data) == {
        "user",
        "accessToken",
        "refreshToken",
        "expiresAt",
        "expiryDate",
        "createdAt",
        "lastActivity",
    }
    assert data["expiresAt"] == 1_767_830_400_000
    assert data["createdAt"] == 1_767_225_600_123
    assert data["lastActivity"] == 1_767_225_600_000
    assert data["accessToken"] == "access-abc"
    assert data["refreshToken"] == "refresh-xyz"
    assert data["user"] == {"id": "u1", "email": "ada@example.com", "name": "Ada"}


def test_absent_tokens_are_left_out() -> None:
    data = wire.to_view(make_session(access_token=None, refresh_token=None), expose_tokens=True)
    assert "accessToken" not in data
    assert "refreshToken" not in data


def test_client_view_hides_tokens_unless_exposed() -> None:
    session = make_session()
    view = wire.to_view(session)
    assert "accessToken" not in view
    assert "refreshToken" not in view
    assert "access-abc" not in repr(view)
    assert "refresh-xyz" not in repr(view)
    assert "id" not in view  # the session id is not shown to the browser
    assert view["user"] == session.user.to_wire()
    exposed = wire.to_view(session, expose_tokens=True)
    assert exposed["accessToken"] == "access-abc"
    assert exposed["refreshToken"] == "refresh-xyz"


@pytest.mark.parametrize("expires_at", [1_767_830_400_000, 1_767_830_400_789, 0, 4_102_444_800_001])
def test_expiry_date_is_iso_utc_and_matches_expires_at(expires_at: int) -> None:
    date = make_session(expires_at=expires_at).expiry_date
    assert date.endswith("Z")
    assert "+" not in date
    parsed = datetime.strptime(date, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert round(parsed.timestamp() * 1000) == expires_at


def test_expiry_date_known_value() -> None:
    assert make_session(expires_at=1_767_830_400_000).expiry_date == "2026-01-08T00:00:00.000Z"


def test_session_is_immutable_and_replace_returns_a_copy() -> None:
    session = make_session()
    with pytest.raises(dataclasses.FrozenInstanceError):
        session.expires_at = 0  # type: ignore[misc]
    later = session.replace(expires_at=session.expires_at + 1000)
    assert later.expires_at == session.expires_at + 1000
    assert session.expires_at == 1_767_830_400_000


def test_deep_merge_merges_nested_objects_and_keeps_everything_else() -> None:
    base = {"a": 1, "nested": {"x": 1, "y": {"deep": True, "keep": "me"}}, "list": [1, 2]}
    updates = {"nested": {"y": {"deep": False}, "z": 3}, "list": [3], "new": None}
    result = deep_merge(base, updates)
    assert result == {
        "a": 1,
        "nested": {"x": 1, "y": {"deep": False, "keep": "me"}, "z": 3},
        "list": [3],
        "new": None,
    }
    # the inputs are not changed
    assert base == {"a": 1, "nested": {"x": 1, "y": {"deep": True, "keep": "me"}}, "list": [1, 2]}
    assert updates == {"nested": {"y": {"deep": False}, "z": 3}, "list": [3], "new": None}
