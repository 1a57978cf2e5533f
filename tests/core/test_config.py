"""Configuration: every ConfigError case, the defaults, and secrets kept out of reprs."""

from __future__ import annotations

import secrets

import pytest
from testkit import SECRET

from reflex_session import ConfigError, ReflexSession, SessionCodec
from reflex_session.keys import derive_kid

OLD_1 = "previous-secret-number-one-0123456789abcdef"
OLD_2 = "previous-secret-number-two-0123456789abcdef"
DAY = 86400


@pytest.fixture(autouse=True)
def _no_secret_env(monkeypatch) -> None:
    monkeypatch.delenv("SESSION_SECRET", raising=False)
    monkeypatch.delenv("SESSION_PREVIOUS_SECRETS", raising=False)


# -- secrets ---------------------------------------------------------------------------------


def test_missing_secret_says_how_to_generate_one(clock) -> None:
    with pytest.raises(ConfigError) as info:
        ReflexSession(clock=clock)
    assert info.value.setting == "secret_key"
    message = str(info.value)
    assert "secrets.token_urlsafe" in message
    assert "SESSION_SECRET" in message


def test_empty_secret_is_missing(clock) -> None:
    with pytest.raises(ConfigError, match="token_urlsafe"):
        ReflexSession(secret_key="", clock=clock)


def test_short_secret_is_refused_with_a_hint(clock) -> None:
    short = "s" * 31
    with pytest.raises(ConfigError) as info:
        ReflexSession(secret_key=short, clock=clock)
    assert info.value.setting == "secret_key"
    assert "32" in str(info.value)
    assert "secrets.token_urlsafe" in str(info.value)
    assert short not in str(info.value)  # never echo a secret
    ReflexSession(secret_key="s" * 32, clock=clock)  # 32 bytes is enough


def test_secret_length_is_counted_in_utf8_bytes(clock) -> None:
    ReflexSession(secret_key="é" * 16, clock=clock)  # 16 characters, 32 bytes
    with pytest.raises(ConfigError):
        ReflexSession(secret_key="é" * 15 + "e", clock=clock)  # 31 bytes


def test_short_previous_secret_is_refused(clock) -> None:
    with pytest.raises(ConfigError) as info:
        ReflexSession(secret_key=SECRET, previous_secret_keys=["too-short"], clock=clock)
    assert "previous" in info.value.setting
    assert "too-short" not in str(info.value)


@pytest.mark.parametrize(
    "previous", [[SECRET], [OLD_1, OLD_1], [OLD_1, SECRET, OLD_2]], ids=["current", "twice", "mid"]
)
def test_duplicate_secret_is_refused(clock, previous) -> None:
    with pytest.raises(ConfigError) as info:
        ReflexSession(secret_key=SECRET, previous_secret_keys=previous, clock=clock)
    assert "twice" in str(info.value)
    assert SECRET not in str(info.value)
    assert OLD_1 not in str(info.value)


def test_non_string_secret_is_refused(clock) -> None:
    with pytest.raises(ConfigError):
        ReflexSession(secret_key=SECRET, previous_secret_keys=[b"x" * 40], clock=clock)  # type: ignore[list-item]


def test_secret_from_the_environment(monkeypatch, clock) -> None:
    env_secret = secrets.token_urlsafe(32)
    monkeypatch.setenv("SESSION_SECRET", env_secret)
    auth = ReflexSession(clock=clock)
    assert auth.codec.keyring.current.kid == derive_kid(env_secret)
    token = auth.encrypt_session(auth.new_session({"id": "u1"}))
    assert SessionCodec([env_secret], clock=clock).decode(token).session.user.id == "u1"
    # an explicit secret wins over the environment
    explicit = ReflexSession(secret_key=SECRET, clock=clock)
    assert explicit.codec.keyring.current.kid == derive_kid(SECRET)


def test_previous_secrets_from_the_environment(monkeypatch, clock) -> None:
    monkeypatch.setenv("SESSION_SECRET", SECRET)
    monkeypatch.setenv("SESSION_PREVIOUS_SECRETS", f" {OLD_1} ,{OLD_2},, ")
    auth = ReflexSession(clock=clock)
    assert auth.config.secrets == (OLD_1, OLD_2, SECRET)
    assert auth.codec.keyring.current.kid == derive_kid(SECRET)
    old_token = SessionCodec([OLD_1], clock=clock).encode(auth.new_session({"id": "u1"}))
    decoded = auth.codec.decode(old_token)
    assert decoded.stale_key is True
    assert decoded.session.user.id == "u1"


def test_short_previous_secret_from_the_environment_is_refused(monkeypatch, clock) -> None:
    monkeypatch.setenv("SESSION_SECRET", SECRET)
    monkeypatch.setenv("SESSION_PREVIOUS_SECRETS", "short")
    with pytest.raises(ConfigError):
        ReflexSession(clock=clock)


def test_explicit_previous_secrets_override_the_environment(monkeypatch, clock) -> None:
    monkeypatch.setenv("SESSION_PREVIOUS_SECRETS", OLD_1)
    auth = ReflexSession(secret_key=SECRET, previous_secret_keys=[OLD_2], clock=clock)
    assert auth.config.secrets == (OLD_2, SECRET)


# -- times -----------------------------------------------------------------------------------


@pytest.mark.parametrize("threshold", [3600, 3601, 10 * DAY])
def test_refresh_threshold_must_be_below_expiry(make_auth, threshold) -> None:
    with pytest.raises(ConfigError) as info:
        make_auth(session_expiry=3600, refresh_threshold=threshold)
    assert info.value.setting == "refresh_threshold"
    assert info.value.hint


def test_max_lifetime_must_cover_expiry(make_auth) -> None:
    with pytest.raises(ConfigError) as info:
        make_auth(session_expiry=3600, max_lifetime=3599)
    assert info.value.setting == "max_lifetime"
    make_auth(session_expiry=3600, max_lifetime=3600)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "3600", True, None])
def test_session_expiry_must_be_positive_whole_seconds(make_auth, bad) -> None:
    with pytest.raises(ConfigError):
        make_auth(session_expiry=bad)


@pytest.mark.parametrize("setting", ["refresh_threshold", "max_lifetime"])
@pytest.mark.parametrize("bad", [0, -5, 2.5])
def test_other_times_must_be_positive_whole_seconds(make_auth, setting, bad) -> None:
    with pytest.raises(ConfigError) as info:
        make_auth(**{setting: bad})
    assert info.value.setting == setting


@pytest.mark.parametrize(
    ("expiry", "threshold"),
    [(7 * DAY, DAY), (2 * DAY, DAY), (3 * DAY, DAY), (DAY, DAY // 2), (3600, 1800), (61, 30)],
)
def test_default_refresh_threshold(make_auth, expiry, threshold) -> None:
    auth = make_auth(session_expiry=expiry)
    assert auth.policy.refresh_threshold == threshold
    assert auth.config.refresh_threshold == threshold
    assert threshold == min(DAY, expiry // 2)


@pytest.mark.parametrize(
    ("expiry", "lifetime"),
    [(7 * DAY, 30 * DAY), (30 * DAY, 30 * DAY), (60 * DAY, 60 * DAY), (60, 30 * DAY)],
)
def test_default_max_lifetime(make_auth, expiry, lifetime) -> None:
    auth = make_auth(session_expiry=expiry)
    assert auth.policy.max_lifetime == lifetime
    assert lifetime == max(30 * DAY, expiry)


def test_reference_defaults(auth) -> None:
    assert auth.policy.session_expiry == 7 * DAY
    assert auth.policy.refresh_threshold == DAY
    assert auth.policy.max_lifetime == 30 * DAY
    assert auth.config.cookie_name == "session"
    assert auth.config.same_site == "lax"
    assert auth.config.auto_refresh is True
    assert auth.config.secure_cookie is None
    assert auth.config.login_path == "/login"
    assert auth.config.home_path == "/"
    assert auth.config.expose_tokens is False


# -- cookies and paths -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "",
        "a b",
        "a;b",
        "a=b",
        "sess,ion",
        "séssion",
        "__Host-x",
        "__Secure-x",
        "__x",
        'a"b',
        "session\n",  # a newline would end up inside the Set-Cookie header
        "session\r\nX-Injected: 1",
    ],
)
def test_bad_cookie_name(make_auth, name) -> None:
    with pytest.raises(ConfigError) as info:
        make_auth(cookie_name=name)
    assert info.value.setting == "cookie_name"


@pytest.mark.parametrize("name", ["session", "my_app-session", "SID", "s.1"])
def test_good_cookie_name(make_auth, name) -> None:
    assert make_auth(cookie_name=name).config.cookie_name == name


def test_same_site_none_needs_secure(make_auth) -> None:
    with pytest.raises(ConfigError) as info:
        make_auth(same_site="none", secure_cookie=False)
    assert info.value.setting == "same_site"
    make_auth(same_site="none", secure_cookie=True)


@pytest.mark.parametrize("value", ["Lax", "strictest", "", None])
def test_unknown_same_site(make_auth, value) -> None:
    with pytest.raises(ConfigError):
        make_auth(same_site=value)


def test_domain_with_a_host_prefixed_secure_cookie_is_refused(make_auth) -> None:
    with pytest.raises(ConfigError) as info:
        make_auth(cookie_domain="example.com", secure_cookie=True)
    assert info.value.setting == "cookie_domain"
    make_auth(cookie_domain="example.com", secure_cookie=True, host_prefix=False)


@pytest.mark.parametrize("setting", ["login_path", "home_path"])
@pytest.mark.parametrize(
    "value", ["login", "//evil.example", "https://evil.example/login", "", "\\login"]
)
def test_bad_paths(make_auth, setting, value) -> None:
    with pytest.raises(ConfigError) as info:
        make_auth(**{setting: value})
    assert info.value.setting == setting


@pytest.mark.parametrize(
    "origin",
    [
        "https://app.example/path",
        "https://app.example/a/b",
        "app.example",
        "ftp://app.example",
        "",
        "https://app.example\n",
    ],
)
def test_trusted_origin_must_be_scheme_host_port(make_auth, origin) -> None:
    with pytest.raises(ConfigError) as info:
        make_auth(trusted_origins=[origin])
    assert info.value.setting == "trusted_origins"


def test_good_trusted_origins(make_auth) -> None:
    auth = make_auth(trusted_origins=["https://app.example", "http://localhost:3000/"])
    assert auth.config.trusted_origins == ("https://app.example", "http://localhost:3000")


@pytest.mark.parametrize(
    ("setting", "value"),
    [("on_validate", "yes"), ("on_refresh", 1), ("user_type", dict), ("routes", ["/dash"])],
)
def test_wrong_kinds_of_settings(make_auth, setting, value) -> None:
    with pytest.raises(ConfigError) as info:
        make_auth(**{setting: value})
    assert info.value.setting == setting


def test_negative_cache_size(make_auth) -> None:
    with pytest.raises(ConfigError):
        make_auth(decode_cache_size=-1)


# -- no secret in any repr -------------------------------------------------------------------


def test_repr_never_contains_a_secret(clock) -> None:
    auth = ReflexSession(secret_key=SECRET, previous_secret_keys=[OLD_1], clock=clock)
    keyring = auth.codec.keyring
    texts = [
        repr(auth),
        str(auth),
        repr(auth.config),
        str(auth.config),
        repr(auth.codec),
        repr(keyring),
        repr(keyring.current),
        repr(auth.cookie_policy),
        repr(auth.policy),
    ]
    for text in texts:
        for secret in (SECRET, OLD_1):
            assert secret not in text
            assert secret[:16] not in text
        assert keyring.current.key.hex() not in text
    assert "hidden" in repr(auth.config)


# -- one home for settings: what used to slip through ----------------------------------------


def test_a_lone_locale_string_is_refused(make_auth) -> None:
    """``locales="en"`` used to become ``('e', 'n')``: ``/en/dashboard`` then matched no
    locale, and an auth rule on ``/dashboard`` did not guard it."""
    with pytest.raises(ConfigError, match="locales"):
        make_auth(locales="en")


def test_locales_guard_the_localised_path(make_auth) -> None:
    from reflex_session import route

    auth = make_auth(locales=["en", "pt-BR"], routes=[route.auth("/dashboard")])
    assert auth.config.locales == ("en", "pt-BR")
    assert auth.decide("/en/dashboard", None).action == "redirect"
    assert auth.decide("/pt-BR/dashboard", None).action == "redirect"


@pytest.mark.parametrize("bad", [["en", ""], ["en", 5], ["../x"], 5])
def test_bad_locales_are_refused(make_auth, bad) -> None:
    with pytest.raises(ConfigError, match="locales"):
        make_auth(locales=bad)


def test_unknown_default_type_is_a_config_error(make_auth) -> None:
    with pytest.raises(ConfigError, match="default_type"):
        make_auth(default_type="weird")


@pytest.mark.parametrize("bad", [-5, -0.1, 301, float("nan"), "5", True])
def test_leeway_must_be_a_small_non_negative_number(make_auth, bad) -> None:
    with pytest.raises(ConfigError, match="leeway"):
        make_auth(leeway=bad)


@pytest.mark.parametrize("good", [0, 2.5, 300])
def test_leeway_in_range_is_taken(make_auth, good) -> None:
    assert make_auth(leeway=good).config.leeway == good


@pytest.mark.parametrize(
    ("setting", "bad"),
    [("client_user_fields", "name"), ("trusted_origins", "https://a.example")],
)
def test_a_lone_string_is_not_a_list(make_auth, setting, bad) -> None:
    with pytest.raises(ConfigError, match=setting):
        make_auth(**{setting: bad})


def test_derived_settings_come_from_the_config(make_auth) -> None:
    """Policy and cookie policy are derived once, from the config, never copied."""
    auth = make_auth(session_expiry=3600, cookie_name="sid", same_site="strict")
    assert auth.policy is auth.config.policy
    assert auth.cookie_policy is auth.config.cookie_policy
    assert auth.policy.refresh_threshold == auth.config.refresh_threshold == 1800
    assert auth.cookie_policy.name_for(True) == "__Host-sid"


# -- the client options: milliseconds, as documented ---------------------------------------


def test_client_options_are_milliseconds(make_auth) -> None:
    """``ClientOptions`` says milliseconds; ``expiring_soon`` used to be read as seconds."""
    from reflex_session import ClientOptions

    policy = make_auth(session_expiry=3600).policy
    assert ClientOptions(expiring_soon=90_000).soon_ms(policy) == 90_000
    assert ClientOptions().soon_ms(policy) == 720_000  # a fifth of a one-hour session
    assert ClientOptions(activity_refresh_interval=5_000).activity_ms(policy) == 5_000
    assert ClientOptions().activity_ms(policy) == 1000 * policy.refresh_threshold


@pytest.mark.parametrize(
    "setting", ["expiring_soon", "refresh_interval", "activity_refresh_interval"]
)
@pytest.mark.parametrize("bad", [0, -1, 1.5, "90", True])
def test_client_option_times_must_be_positive_milliseconds(setting, bad) -> None:
    from reflex_session import ClientOptions

    with pytest.raises(ConfigError, match=setting):
        ClientOptions(**{setting: bad})
