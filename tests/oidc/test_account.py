"""Who a provider sign-in is: the default identity never trusts an email, and the app's hooks
have the last word (pure: no provider needed)."""

from __future__ import annotations

from typing import Any

import pytest

from reflex_session.errors import ProviderError
from reflex_session.providers import (
    AccountHooks,
    SignInResult,
    default_profile,
    github,
    oidc,
    user_for,
)

PROVIDER = oidc("corp", "http://127.0.0.1:9", "client", "secret")


def result(provider: Any = PROVIDER, **claims: Any) -> SignInResult:
    return SignInResult(provider, {"sub": "248289761001", **claims}, {}, "/")


def test_the_identity_is_the_providers_subject_never_the_email() -> None:
    user = default_profile(result(email="ada@example.com", email_verified=True, name="Ada"))
    assert user == {
        "id": "corp:248289761001",
        "provider": "corp",
        "name": "Ada",
        "email": "ada@example.com",
    }


@pytest.mark.parametrize("verified", [False, None, "true", 1])
def test_an_unproven_email_is_not_passed_on_as_the_email(verified: Any) -> None:
    claims: dict[str, Any] = {"email": "victim@example.com"}
    if verified is not None:
        claims["email_verified"] = verified
    user = default_profile(result(**claims))
    assert "email" not in user
    assert user["unverified_email"] == "victim@example.com"


def test_github_has_no_verified_email_flag() -> None:
    gh = github("id", "secret")
    user = default_profile(
        SignInResult(gh, {"sub": "583231", "login": "octocat", "email": "o@example.com"}, {}, "/")
    )
    assert user["id"] == "github:583231"
    assert user["name"] == "octocat"
    assert "email" not in user


def test_only_an_https_picture_is_kept_and_long_names_are_cut() -> None:
    assert "image" not in default_profile(result(picture="javascript:alert(1)"))
    assert "image" not in default_profile(result(picture="http://plain.example/a.png"))
    assert default_profile(result(picture="https://img.example/a.png"))["image"].startswith("https")
    assert len(default_profile(result(name="x" * 5000))["name"]) == 200


async def test_the_hooks_may_be_sync_or_async() -> None:
    async def mapped(r: SignInResult) -> dict[str, Any]:
        return {"id": "u-1", "name": r.claims["sub"]}

    hooks = AccountHooks(map_profile=mapped, allow_sign_in=lambda r, user: user["id"] == "u-1")
    assert await user_for(result(), hooks) == {"id": "u-1", "name": "248289761001"}


@pytest.mark.parametrize("answer", [False, None, "yes", 1])
async def test_allow_sign_in_must_say_exactly_true(answer: Any) -> None:
    with pytest.raises(ProviderError) as refused:
        await user_for(result(), AccountHooks(allow_sign_in=lambda r, user: answer))
    assert refused.value.reason == "sign_in_refused"


@pytest.mark.parametrize("mapped", [None, {}, {"id": ""}, {"id": 42}, "u-1"])
async def test_a_mapper_without_a_user_id_signs_nobody_in(mapped: Any) -> None:
    with pytest.raises(ProviderError) as refused:
        await user_for(result(), AccountHooks(map_profile=lambda r: mapped))
    assert refused.value.reason == "sign_in_refused"


async def test_linking_is_off_unless_the_app_asks_and_then_its_answer_wins() -> None:
    verified = result(email="ada@example.com", email_verified=True)
    assert (await user_for(verified))["id"] == "corp:248289761001"  # no link by default

    accounts = {"ada@example.com": {"id": "local-7", "email": "ada@example.com"}}

    def link(r: SignInResult, user: dict[str, Any]) -> dict[str, Any] | None:
        return accounts.get(user.get("email", "")) if r.claims.get("email_verified") else None

    hooks = AccountHooks(link_account=link)
    assert (await user_for(verified, hooks))["id"] == "local-7"
    unverified = result(email="ada@example.com")
    assert (await user_for(unverified, hooks))["id"] == "corp:248289761001"
