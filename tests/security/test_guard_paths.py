"""The page guard must judge the page the static server will serve, whatever the spelling.

A Reflex production build is a folder of prerendered pages served by Starlette's ``StaticFiles``
(``html=True``): the page ``/admin`` is the file ``admin.html`` or ``admin/index.html``, and a
request for either *file name* gets the page's HTML. If the guard judged ``/admin.html`` as a path
of its own, no ``/admin/*`` or exact ``/profile`` rule would cover it and an anonymous visitor
would read the protected page (CWE-647, authorization on a non-canonical path; the same class as
the ``/x/../admin`` spellings in ``test_advisories.py``).

Every spelling below reaches the guard anonymously and must be answered with a redirect to the
login page — never a 200 and never the page's HTML.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sec_helpers import build_auth, call_asgi, clock_fixture
from starlette.staticfiles import StaticFiles

from reflex_session import ReflexSession, route
from reflex_session.rules import RouteRule, canonical_path
from reflex_session.testing import FakeClock

FIXTURES = (clock_fixture,)  # used by name

ROUTES = [
    route.public("/login"),
    route.auth("/dashboard/*"),
    route.auth("/admin/*", role="admin"),
    route.auth("/profile"),  # an exact rule: the one a ".html" spelling dodged most easily
    route.hybrid("/"),
]

PROTECTED = ("admin", "dashboard", "profile")


def spellings(page: str) -> list[str]:
    """Ways to ask the static server for ``/<page>`` (as the URL the client sends)."""
    first = f"%{ord(page[0]):02X}"  # "/admin" -> "/%61dmin"
    return [
        f"/{page}",
        f"/{page}/",
        f"/{page}.html",
        f"/{page}.HTML",
        f"/{page}.Html",
        f"/{page}/index.html",
        f"/{page}/index.html/",
        f"/{page}/INDEX.HTML",
        f"/{page}/index",
        f"/{page}/index/",
        f"/{page}%2Ehtml",
        f"/{page}%2ehtml",
        f"/{page}/index%2Ehtml",
        f"/{page}%2Findex.html",
        f"/{first}{page[1:]}.html",
        f"/{first}{page[1:]}/index.html",
        f"http://testserver//{page}.html",  # a bare "//x" would be a host to httpx
        f"/{page}.html?tab=2",
    ]


CASES = [(page, url) for page in PROTECTED for url in spellings(page)]


@pytest.fixture
def static_build(tmp_path: Path) -> Path:
    """A production build: every page both as ``<page>.html`` and ``<page>/index.html``."""
    (tmp_path / "index.html").write_text("<html>HOME</html>")
    (tmp_path / "404.html").write_text("<html>NOT FOUND</html>")
    for page in ("login", *PROTECTED):
        (tmp_path / f"{page}.html").write_text(f"<html>SECRET {page} (file)</html>")
        (tmp_path / page).mkdir()
        (tmp_path / page / "index.html").write_text(f"<html>SECRET {page} (folder)</html>")
    return tmp_path


@pytest.fixture
def auth(clock: FakeClock) -> ReflexSession[Any]:
    return build_auth(clock, routes=ROUTES)


@pytest.fixture
async def client(auth: ReflexSession[Any], static_build: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = auth.middleware(StaticFiles(directory=static_build, html=True))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as c:
        yield c


def cookie(auth: ReflexSession[Any], role: str) -> dict[str, str]:
    session = auth.new_session({"id": f"{role}-1", "role": role})
    return {"cookie": f"session={auth.encrypt_session(session)}"}


@pytest.mark.parametrize(("page", "url"), CASES, ids=[url for _, url in CASES])
async def test_anonymous_spellings_of_a_protected_page_redirect_to_login(
    client: httpx.AsyncClient, page: str, url: str
) -> None:
    response = await client.get(url)
    assert response.status_code == 307, f"{url} -> {response.status_code}: {response.text!r}"
    assert response.headers["location"].startswith("/login"), response.headers["location"]
    assert "SECRET" not in response.text


@pytest.mark.parametrize(
    "path",
    [
        "/admin.html",
        "/admin/index.html",
        "/admin/./index.html",
        "/x/../admin.html",
        "/admin/index.html/.",  # resolved to admin/index.html by the server: not a "static" file
        "/x/..//admin/index.html",
    ],
)
async def test_raw_asgi_spellings_are_guarded(
    auth: ReflexSession[Any], static_build: Path, path: str
) -> None:
    """The same, as ``curl --path-as-is`` sends it (no client-side dot-segment removal)."""
    app = auth.middleware(StaticFiles(directory=static_build, html=True))
    response = await call_asgi(app, "GET", path)
    assert b"SECRET" not in response.body
    assert response.status == 307, (path, response.status)
    assert response.get_all("location")[0].startswith("/login")


async def test_return_to_is_the_page_not_its_file(client: httpx.AsyncClient) -> None:
    response = await client.get("/admin.html?tab=2")
    assert (
        response.headers["location"] == "/login?callbackUrl=%2Fadmin%3Ftab%3D2&reason=loginRequired"
    )


async def test_the_home_page_file_is_judged_as_home(clock: FakeClock, static_build: Path) -> None:
    auth = build_auth(clock, routes=[route.public("/login"), route.auth("/")])
    app = auth.middleware(StaticFiles(directory=static_build, html=True))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as c:
        for url in ("/", "/index.html", "/INDEX.HTML", "/index", "/%69ndex.html"):
            response = await c.get(url)
            assert response.status_code == 307, (url, response.status_code)
            assert response.headers["location"] == "/login?reason=loginRequired", url
            assert "HOME" not in response.text


async def test_signed_in_users_still_get_the_files(
    auth: ReflexSession[Any], client: httpx.AsyncClient
) -> None:
    """Judging ``/admin.html`` as ``/admin`` must not over-block: an admin gets the file, a
    signed-in non-admin is sent home (``forbidden``), as for ``/admin`` itself."""
    for url, body in (
        ("/admin.html", "SECRET admin (file)"),
        ("/admin/index.html", "SECRET admin (folder)"),
        ("/admin/", "SECRET admin (folder)"),
    ):
        allowed = await client.get(url, headers=cookie(auth, "admin"))
        assert allowed.status_code == 200, url
        assert allowed.text == f"<html>{body}</html>"
        refused = await client.get(url, headers=cookie(auth, "user"))
        assert refused.status_code == 307, url
        assert refused.headers["location"] == "/?reason=forbidden&role=admin"
    signed_in_login = await client.get("/login.html", headers=cookie(auth, "user"))
    assert signed_in_login.status_code == 307
    assert signed_in_login.headers["location"] == "/"


async def test_what_is_guarded_is_decided_before_the_page_name_is_stripped(
    clock: FakeClock, static_build: Path
) -> None:
    """Only the decision path changed: which requests are pages (not build assets, not Reflex's
    endpoints) is decided on the served path, so ``/app.js.html`` — a page whose name has a dot —
    and ``/ping.html`` are still guarded, while ``/app.js`` is still a plain asset."""
    auth = build_auth(clock, routes=[route.public("/login")], default_type="auth")
    (static_build / "app.js").write_text("console.log(1)")
    (static_build / "app.js.html").write_text("<html>SECRET js page</html>")
    (static_build / "ping.html").write_text("<html>SECRET ping page</html>")
    app = auth.middleware(StaticFiles(directory=static_build, html=True))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as c:
        asset = await c.get("/app.js")
        assert asset.status_code == 200
        assert asset.text == "console.log(1)"
        for url in ("/app.js.html", "/ping.html", "/admin.html"):
            response = await c.get(url)
            assert response.status_code == 307, (url, response.status_code)
            assert "SECRET" not in response.text


# -- the canonical path itself, as the Reflex navigation hook sees it (still percent-encoded) --

CANONICAL = [
    ("/admin", "/admin"),
    ("/admin/", "/admin"),
    ("/admin.html", "/admin"),
    ("/admin.HTML", "/admin"),
    ("/admin/index.html", "/admin"),
    ("/admin/index.html/", "/admin"),
    ("/admin/index", "/admin"),
    ("/admin/Index.Html", "/admin"),
    ("/admin%2Ehtml", "/admin"),
    ("/admin%2ehtml", "/admin"),
    ("/admin%2Findex%2Ehtml", "/admin"),
    ("/%61dmin.html", "/admin"),
    ("/x/../admin.html", "/admin"),
    ("//admin.html", "/admin"),
    ("/admin/users.html", "/admin/users"),
    ("/index.html", "/"),
    ("/index", "/"),
    ("/", "/"),
    # not page spellings: left alone
    ("/adminindex", "/adminindex"),
    ("/admin/myindex.html", "/admin/myindex"),
    ("/admin.htmlx", "/admin.htmlx"),
    ("/admin%252Ehtml", "/admin%2Ehtml"),  # double-encoded: the server looks for that name
    ("/app.js", "/app.js"),
]


@pytest.mark.parametrize(("raw", "expected"), CANONICAL, ids=[r for r, _ in CANONICAL])
def test_canonical_path_strips_page_file_names(raw: str, expected: str) -> None:
    assert canonical_path(raw) == expected


@pytest.mark.parametrize(
    "path", ["/admin.html", "/admin/index.html", "/%61dmin%2Ehtml", "/profile.html", "/profile/"]
)
def test_decide_judges_the_page(auth: ReflexSession[Any], path: str) -> None:
    """``decide`` is shared with client-side navigation, which passes the raw URL path."""
    assert auth.decide(path, None).reason == "login"


@pytest.mark.parametrize(
    "pattern", ["/admin.html", "/admin/index", "/admin/index.html", "/index", "/reports/index/*"]
)
def test_a_rule_naming_a_page_file_is_refused(pattern: str) -> None:
    """Such a rule could never match a canonical path: it would silently guard nothing."""
    with pytest.raises(ValueError, match="page file"):
        RouteRule(pattern, "auth")
