"""Every redirect the library makes says why, in a way that cannot be forged into other text.

The reason travels in the URL as one word of a fixed vocabulary (``reason=expired``); a role
refusal may name roles, read back only when the app's own rules name them. A signed-in user on a
public-only page goes to the page's safe return-to, not always home (issue 14, item 1).
"""

from __future__ import annotations

from typing import Any

import pytest
from testkit import SECRET

from reflex_session import (
    ConfigError,
    Notice,
    Reason,
    ReflexSession,
    message_for,
    read_notice,
    route,
    with_reason,
)


def make_auth(**settings: Any) -> ReflexSession[Any]:
    settings.setdefault(
        "routes",
        [
            route.public("/login"),
            route.public("/register"),
            route.auth("/dashboard/*"),
            route.auth("/admin/*", role="admin"),
            route.auth("/ops/*", role=["ops", "admin"]),
            route.hybrid("/denied"),
        ],
    )
    return ReflexSession(secret_key=SECRET, **settings)


AUTH = make_auth()
USER = AUTH.new_session({"id": "u", "role": "user"})


# -- the vocabulary --------------------------------------------------------------------------


def test_with_reason_adds_one_reason_and_keeps_the_rest() -> None:
    assert with_reason("/login", Reason.EXPIRED) == "/login?reason=expired"
    assert (
        with_reason("/login?callbackUrl=%2Fa%3Fb%3D1", Reason.REVOKED)
        == "/login?callbackUrl=%2Fa%3Fb%3D1&reason=revoked"
    )
    # a reason already there is replaced, never doubled; a fragment stays last
    twice = with_reason("/login?reason=loginRequired&role=x#top", Reason.SIGNED_OUT)
    assert twice == "/login?reason=signedOut#top"
    # roles only for a refusal
    assert with_reason("/", Reason.FORBIDDEN, ("admin",)) == "/?reason=forbidden&role=admin"
    assert with_reason("/login", Reason.EXPIRED, ("admin",)) == "/login?reason=expired"


@pytest.mark.parametrize("reason", [r.value for r in Reason])
def test_every_reason_reads_back(reason: str) -> None:
    notice = read_notice(reason)
    assert notice is not None
    assert notice.reason.value == reason
    assert notice.message  # every reason has words


@pytest.mark.parametrize(
    "forged",
    [
        "Your account is locked: call +1 555 0100",
        "<script>alert(1)</script>",
        "EXPIRED",
        "expired ",
        "",
        None,
        ["expired"],
        "forbidden_role",
    ],
)
def test_anything_outside_the_vocabulary_says_nothing(forged: object) -> None:
    assert read_notice(forged) is None


def test_roles_are_named_only_when_the_app_names_them() -> None:
    known = AUTH.guard.known_roles
    assert known == {"admin", "ops"}
    assert read_notice("forbidden", "admin", known_roles=known) == Notice(
        Reason.FORBIDDEN, ("admin",)
    )
    assert read_notice("forbidden", "ops,admin", known_roles=known).roles == ("ops", "admin")
    # a role the app never asks for: the refusal still reads, without words from the link
    crafted = read_notice("forbidden", "call-555-0100", known_roles=known)
    assert crafted == Notice(Reason.FORBIDDEN, ())
    assert read_notice("forbidden", "admin,call-us", known_roles=known) == Notice(
        Reason.FORBIDDEN, ()
    )
    # roles only go with a refusal
    assert read_notice("expired", "admin", known_roles=known) == Notice(Reason.EXPIRED, ())


def test_messages_default_to_english_and_can_be_replaced() -> None:
    assert message_for(Notice(Reason.EXPIRED)) == "Your session expired. Please sign in again."
    assert message_for(Notice(Reason.REVOKED)) == "You were signed out on another device."
    assert message_for(Notice(Reason.LOGIN_REQUIRED)) == "Please sign in to continue."
    assert (
        message_for(Notice(Reason.FORBIDDEN, ("admin",)))
        == "You need the admin role for that page."
    )
    assert (
        message_for(Notice(Reason.FORBIDDEN, ("ops", "admin")))
        == "You need the ops or admin role for that page."
    )
    french = {"expired": "Votre session a expiré.", "forbidden_role": "Rôle requis : {roles}."}
    assert message_for(Notice(Reason.EXPIRED), french) == "Votre session a expiré."
    assert message_for(Notice(Reason.FORBIDDEN, ("admin",)), french) == "Rôle requis : admin."
    # a reason the mapping leaves out falls back to English
    assert message_for(Notice(Reason.SIGNED_OUT), french) == "You signed out."


# -- the route rules say why -------------------------------------------------------------------


def test_a_visitor_on_a_protected_page_is_asked_to_sign_in() -> None:
    decision = AUTH.decide("/dashboard/x?y=1", None)
    assert decision.location == "/login?callbackUrl=%2Fdashboard%2Fx%3Fy%3D1&reason=loginRequired"


def test_a_refusal_names_the_roles_the_page_needs() -> None:
    assert AUTH.decide("/admin", USER).location == "/?reason=forbidden&role=admin"
    assert AUTH.decide("/ops/x", USER).location == "/?reason=forbidden&role=ops%2Cadmin"


def test_the_app_chooses_its_forbidden_page() -> None:
    auth = make_auth(forbidden_path="/denied")
    assert auth.decide("/admin/users", USER).location == "/denied?reason=forbidden&role=admin"
    localised = make_auth(forbidden_path="/denied", locales=("fr",))
    assert localised.decide("/fr/admin", USER).location == "/fr/denied?reason=forbidden&role=admin"


@pytest.mark.parametrize(
    ("settings", "setting"),
    [
        ({"forbidden_path": "denied"}, "forbidden_path"),
        ({"forbidden_path": "//evil.example"}, "forbidden_path"),
        # a forbidden page that itself needs a role would send the refused user in a loop
        ({"forbidden_path": "/admin/denied"}, "forbidden_path"),
        # a public-only page bounces every signed-in user home
        ({"forbidden_path": "/login"}, "forbidden_path"),
        ({"return_to_param": "reason"}, "return_to_param"),
        ({"return_to_param": "role"}, "return_to_param"),
    ],
)
def test_settings_that_cannot_work_are_refused(settings: dict[str, Any], setting: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make_auth(**settings)
    assert caught.value.setting == setting


# -- a public-only page follows the session to its return-to -----------------------------------


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/login?callbackUrl=%2Fdashboard%2Fx%3Fy%3D1", "/dashboard/x?y=1"),
        ("/register?callbackUrl=%2Fdashboard", "/dashboard"),
        ("/login", "/"),
        # an unsafe or looping return-to goes home, as at login
        ("/login?callbackUrl=https%3A%2F%2Fevil.example", "/"),
        ("/login?callbackUrl=%2F%2Fevil.example", "/"),
        ("/login?callbackUrl=%2Flogin", "/"),
        ("/login?callbackUrl=", "/"),
        # a public-only page is no destination: a link nesting register pages forty deep ended
        # in "too many redirects" (red team); now the first hop goes home
        ("/login?callbackUrl=%2Fregister%3FcallbackUrl%3D%252Fregister", "/"),
        ("/register?callbackUrl=%2Flogin%2F%3Fx%3D1", "/"),
    ],
)
def test_a_signed_in_user_on_the_login_page_goes_to_its_return_to(path: str, location: str) -> None:
    decision = AUTH.decide(path, USER)
    assert (decision.reason, decision.location) == ("home", location)


def test_the_return_to_keeps_its_locale() -> None:
    auth = make_auth(locales=("fr",))
    assert auth.decide("/fr/login?callbackUrl=%2Ffr%2Fdashboard", USER).location == (
        "/fr/dashboard"
    )
    assert auth.decide("/fr/login", USER).location == "/fr"
