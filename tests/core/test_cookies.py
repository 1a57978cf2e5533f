"""The cookie jar: parsing the Cookie header, and the Set-Cookie attributes we send."""

from __future__ import annotations

import pytest

from reflex_session import ConfigError, CookieJar, CookiePolicy
from reflex_session.cookies import parse_cookie_header


def parse_set_cookie(header: str) -> tuple[str, str, dict[str, str]]:
    """(name, value, attributes) with attribute names lower-cased; flags map to ""."""
    pair, *rest = header.split("; ")
    name, _, value = pair.partition("=")
    attributes: dict[str, str] = {}
    for item in rest:
        key, _, val = item.partition("=")
        assert key.lower() not in attributes, f"duplicate attribute {key}"
        attributes[key.lower()] = val
    return name, value, attributes


def only(jar: CookieJar) -> tuple[str, str, dict[str, str]]:
    (header,) = jar.set_cookie_headers
    return parse_set_cookie(header)


# -- parse_cookie_header ---------------------------------------------------------------------


def test_parse_simple_header() -> None:
    assert parse_cookie_header("a=1; b=two;c=3") == {"a": "1", "b": "two", "c": "3"}
    assert parse_cookie_header(None) == {}
    assert parse_cookie_header("") == {}


def test_first_occurrence_wins() -> None:
    assert parse_cookie_header("session=first; other=x; session=second") == {
        "session": "first",
        "other": "x",
    }


def test_quoted_values_are_unquoted() -> None:
    assert parse_cookie_header('a="quoted value"; b="x"; c=""') == {
        "a": "quoted value",
        "b": "x",
        "c": "",
    }
    assert parse_cookie_header('d="unbalanced') == {"d": '"unbalanced'}


def test_values_keep_their_equals_signs() -> None:
    assert parse_cookie_header("t=abc==; u=a=b") == {"t": "abc==", "u": "a=b"}


def test_garbage_pairs_are_ignored() -> None:
    header = "garbage; =novalue; a=1;;  ; b ; =; c=3"
    assert parse_cookie_header(header) == {"a": "1", "c": "3"}


def test_huge_header_is_ignored() -> None:
    small = "session=abc; " + "x=" + "y" * 100
    assert parse_cookie_header(small)["session"] == "abc"
    huge = "session=abc; " + "x=" + "y" * 20_000
    assert parse_cookie_header(huge) == {}


def test_jar_reads_its_cookie_from_the_header(auth) -> None:
    jar = auth.jar("other=1; session=tok; session=later")
    assert jar.read() == "tok"
    assert auth.jar("other=1").read() is None
    assert auth.jar("session=").read() is None
    # on https only the __Host- name counts: a plain "session" cookie is not ours
    assert auth.jar("session=tok", https=True).read() is None
    assert auth.jar("__Host-session=tok", https=True).read() == "tok"


# -- Set-Cookie attributes -------------------------------------------------------------------


async def test_default_attributes(auth, clock) -> None:
    jar = auth.jar(None)
    await auth.create_session(jar, {"id": "u1"})
    name, value, attributes = only(jar)
    assert name == "session"
    assert value == jar.read()
    assert attributes["path"] == "/"
    assert "httponly" in attributes
    assert attributes["samesite"] == "Lax"
    assert attributes["max-age"] == str(auth.policy.session_expiry)
    assert "secure" not in attributes  # plain http
    assert "domain" not in attributes
    assert "expires" not in attributes


@pytest.mark.parametrize(("same_site", "expected"), [("strict", "Strict"), ("none", "None")])
async def test_same_site_setting(make_auth, same_site, expected) -> None:
    auth = make_auth(same_site=same_site, secure_cookie=True)
    jar = auth.jar(None)
    await auth.create_session(jar, {"id": "u1"})
    assert only(jar)[2]["samesite"] == expected


async def test_max_age_is_the_remaining_life_never_more(auth, browser, clock) -> None:
    jar = browser.jar()
    created = await auth.create_session(jar, {"id": "u1"})
    browser.receive(jar)
    for step in (1.0, 0.4, 250.7, 3000.0, 1234.5):
        clock.advance(step)
        jar = browser.jar()
        session = await auth.update_session(jar, user={"n": step})
        assert session is not None
        assert session.expires_at == created.expires_at  # an update does not extend
        max_age = int(only(jar)[2]["max-age"])
        remaining = (created.expires_at - clock.time() * 1000) / 1000
        assert max_age <= remaining
        assert max_age > remaining - 1
        browser.receive(jar)


async def test_max_age_after_a_refresh_is_the_new_remaining_life(auth, browser, clock) -> None:
    jar = browser.jar()
    await auth.create_session(jar, {"id": "u1"})
    browser.receive(jar)
    clock.advance(auth.policy.refresh_threshold + 0.5)
    jar = browser.jar()
    session = await auth.get_session(jar)
    assert session is not None
    max_age = int(only(jar)[2]["max-age"])
    assert max_age <= (session.expires_at - clock.time() * 1000) / 1000
    assert max_age == auth.policy.session_expiry - 1  # the half second is not given away


async def test_https_gets_secure_and_host_prefix(auth) -> None:
    jar = auth.jar(None, https=True)
    await auth.create_session(jar, {"id": "u1"})
    name, value, attributes = only(jar)
    assert name == "__Host-session"
    assert "secure" in attributes
    assert attributes["path"] == "/"
    assert "domain" not in attributes
    assert "httponly" in attributes
    assert value == jar.read()


async def test_http_gets_plain_name_and_no_secure(auth) -> None:
    jar = auth.jar(None, https=False)
    await auth.create_session(jar, {"id": "u1"})
    name, _, attributes = only(jar)
    assert name == "session"
    assert "secure" not in attributes


@pytest.mark.parametrize("https", [False, True])
async def test_secure_cookie_true_is_secure_everywhere(make_auth, https) -> None:
    auth = make_auth(secure_cookie=True)
    jar = auth.jar(None, https=https)
    await auth.create_session(jar, {"id": "u1"})
    name, _, attributes = only(jar)
    assert name == "__Host-session"
    assert "secure" in attributes


@pytest.mark.parametrize("https", [False, True])
async def test_secure_cookie_false_is_never_secure(make_auth, https) -> None:
    auth = make_auth(secure_cookie=False)
    jar = auth.jar(None, https=https)
    await auth.create_session(jar, {"id": "u1"})
    name, _, attributes = only(jar)
    assert name == "session"
    assert "secure" not in attributes


@pytest.mark.parametrize(
    "policy",
    [
        CookiePolicy(domain="example.com"),
        CookiePolicy(domain="example.com", secure=True),
        CookiePolicy(domain="example.com", secure=True, host_prefix=False),
        CookiePolicy(domain="example.com", secure=False),
        CookiePolicy(secure=True),
    ],
)
@pytest.mark.parametrize("https", [False, True])
def test_domain_never_with_host_prefix(policy, https) -> None:
    jar = CookieJar({}, policy=policy, request_is_https=https)
    jar.write("v", 60)
    jar2 = CookieJar({}, policy=policy, request_is_https=https)
    jar2.clear()
    for header in jar.set_cookie_headers + jar2.set_cookie_headers:
        name, _, attributes = parse_set_cookie(header)
        if name.startswith("__Host-"):
            assert "domain" not in attributes
            assert "secure" in attributes
            assert attributes["path"] == "/"
        if name.startswith("__Secure-"):
            assert "secure" in attributes


async def test_cookie_domain_is_not_silently_dropped_in_production(make_auth) -> None:
    # Defaults: host_prefix=True, secure_cookie=None (Secure exactly on HTTPS). With a
    # cookie_domain this must either be refused at construction (as it is with
    # secure_cookie=True) or the HTTPS cookie must carry the Domain it was configured with.
    try:
        auth = make_auth(cookie_domain="example.com")
    except ConfigError:
        return
    plain = auth.jar(None, https=False)
    await auth.create_session(plain, {"id": "u1"})
    assert only(plain)[2].get("domain") == "example.com"
    secure = auth.jar(None, https=True)
    await auth.create_session(secure, {"id": "u1"})
    name, _, attributes = only(secure)
    assert not name.startswith("__Host-")
    assert attributes.get("domain") == "example.com", (name, attributes)


def test_domain_without_host_prefix_is_sent() -> None:
    policy = CookiePolicy(domain="example.com", secure=True, host_prefix=False)
    jar = CookieJar({}, policy=policy)
    jar.write("v", 60)
    name, _, attributes = only(jar)
    assert name == "__Secure-session"
    assert attributes["domain"] == "example.com"


@pytest.mark.parametrize("https", [False, True])
async def test_clear_expires_the_same_cookie(auth, browser, https) -> None:
    jar = auth.jar(None, https=https)
    await auth.create_session(jar, {"id": "u1"})
    set_name, _, set_attributes = only(jar)

    jar = auth.jar(f"{set_name}=whatever", https=https)
    jar.clear()
    name, value, attributes = only(jar)
    assert name == set_name
    assert value == ""
    assert attributes["max-age"] == "0"
    assert attributes["path"] == set_attributes["path"] == "/"
    assert attributes["expires"] == "Thu, 01 Jan 1970 00:00:00 GMT"
    assert "httponly" in attributes
    assert ("secure" in attributes) == ("secure" in set_attributes)
    assert jar.read() is None
    assert jar.changed


def test_one_header_per_cookie_name() -> None:
    jar = CookieJar({}, policy=CookiePolicy())
    jar.write("a", 60)
    jar.write("b", 60)
    jar.clear()
    assert len(jar.set_cookie_headers) == 1
    assert "Max-Age=0" in jar.set_cookie_headers[0]


def test_negative_max_age_is_clamped() -> None:
    policy = CookiePolicy()
    header = policy.header("v", max_age=-5, secure=False)
    assert parse_set_cookie(header)[2]["max-age"] == "0"


def test_untouched_jar_sends_nothing(auth) -> None:
    jar = auth.jar("session=abc")
    assert jar.set_cookie_headers == []
    assert jar.changed is False
