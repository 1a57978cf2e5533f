"""The browser code ships as real JavaScript files beside ``reflex/client.py`` (issue 12).

The logic itself is unit-tested with ``node --test`` in ``tests/js`` and linted with ESLint
(``scripts/test.sh`` runs both). These tests hold the Python side of the contract: the files are
in the package (an installed library carries them), ``rx.asset`` links both into the compiling
app, the components import them from there, every per-app setting arrives as a prop, and no
JavaScript creeps back into a ``.py`` file where nothing lints or tests it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import SECRET

import reflex_session
from reflex_session import ReflexSession
from reflex_session.reflex import SessionState, client, runtime
from reflex_session.reflex.runtime import ClientOptions, set_runtime

PACKAGE = Path(reflex_session.__file__).parent
MODULE = "$/public/external/reflex_session/reflex/client/session_client.js"


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A session layer with non-default client options, compiled from an empty app folder."""
    saved = list(runtime._installed)
    set_runtime(
        None,  # type: ignore[arg-type]
        ReflexSession(secret_key=SECRET, session_expiry=600, refresh_threshold=120),
        ClientOptions(
            fetch_on_mount=False,
            refresh_interval=30_000,
            refetch_on_path_change=False,
            auto_activity_refresh=False,
            activity_refresh_interval=5_000,
            expiring_soon=90_000,  # ms, as the reference's props
        ),
    )
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    runtime._installed[:] = saved


def test_the_js_files_sit_beside_client_py() -> None:
    for name in (client.CLIENT_JS, client.CORE_JS):
        assert (PACKAGE / "reflex" / name).is_file(), name
    # the React side reaches the logic by a relative import: both files are linked side by side
    source = (PACKAGE / "reflex" / client.CLIENT_JS).read_text()
    assert f"from './{client.CORE_JS}'" in source


def test_compiling_links_both_files_and_imports_the_components_from_there(installed: Path) -> None:
    components = [client.session_client(), client.session_countdown(id="left")]
    for component in components:
        imports = component._get_all_imports()
        assert [v.tag for v in imports[MODULE]] == [component.tag]
    linked = installed / "assets" / "external" / "reflex_session" / "reflex" / "client"
    for name in (client.CLIENT_JS, client.CORE_JS):
        assert (linked / name).resolve() == (PACKAGE / "reflex" / name).resolve()


def test_every_setting_reaches_the_page_as_a_prop(installed: Path) -> None:
    props: list[str] = client.session_client().render()["props"]
    for state_var, prop in [
        (SessionState.sync_seq, "syncSeq"),
        (SessionState.sync_proof, "syncProof"),
        (SessionState.expires_at, "expiresAt"),
        (SessionState.last_activity, "lastActivity"),
        (SessionState.status, "status"),
        (SessionState.is_expiring_soon, "isExpiringSoon"),
    ]:
        assert f"{prop}:{state_var!s}" in props
    for setting in [
        'syncPath:"/api/session/sync"',
        'bindNames:["session_bind", "__Host-session_bind"]',
        'plantedNames:["session_bind", "__Host-session_bind", "session", "__Host-session"]',
        "soonMs:90000",
        "thresholdMs:5000",
        "intervalMs:30000",
        "fetchOnMount:false",
        "refetchOnPathChange:false",
        "activityRefresh:false",
    ]:
        assert setting in props
    (soon,) = [p for p in props if p.startswith("onExpiringSoon:")]
    assert "mark_expiring_soon" in soon


def test_the_defaults_follow_the_session_policy(installed: Path) -> None:
    set_runtime(None, ReflexSession(secret_key=SECRET, refresh_threshold=120), ClientOptions())  # type: ignore[arg-type]
    props: list[str] = client.session_client().render()["props"]
    assert "thresholdMs:120000" in props
    assert "intervalMs:0" in props
    assert "fetchOnMount:true" in props
