"""Red team (2026-12-07): Reflex's auto setters must not let a browser write the library's vars.

With ``state_auto_setters`` on (deprecated in Reflex 0.10, still honoured), Reflex gives every
state a browser-callable ``set_<var>`` per var, ``SessionState``'s own included. A visitor (or an
XSS) sending ``set_status("authenticated")`` then ``set_session({"user": {"role": "admin"}})``
over the tab's socket made the tab's ``is_authenticated`` and ``user_roles`` say so, and an app
handler that trusts them (as the README's examples do) ran for nobody.

The setting is read when a state class is created, so the check runs in a fresh interpreter with
``REFLEX_STATE_AUTO_SETTERS=true`` (setting it here would change every other test's states).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]

PROBE = textwrap.dedent(
    """
    import asyncio, json, sys
    import reflex as rx
    from layer_helpers import FakeApp, make_root, preprocess, sub
    from testkit import SECRET

    from reflex_session import ReflexSession
    from reflex_session.reflex import SessionState
    from reflex_session.reflex.devices import DevicesState
    from reflex_session.reflex.forms import AuthFormState
    from reflex_session.reflex.runtime import ClientOptions, set_runtime
    from reflex_session.testing import FakeClock


    class AppState(SessionState):
        note: str = ""
        report: str = ""

        @rx.event
        def set_session(self, workout: str) -> None:  # the app's own, despite the name
            self.note = workout

        @rx.event
        def load_report(self) -> None:
            if self.is_authenticated and "admin" in self.user_roles:
                self.report = "payroll"


    async def main() -> None:
        auth = ReflexSession(secret_key=SECRET, clock=FakeClock(), session_expiry=600)
        set_runtime(FakeApp(), auth, ClientOptions())
        root = make_root("/dashboard")
        out = {"setters": sorted(n for n in SessionState.event_handlers if n.startswith("set_"))}
        verdicts = {}
        for cls, setter in [
            (SessionState, "set_status"),
            (SessionState, "set_session"),
            (SessionState, "set_expires_at"),
            (SessionState, "set_sync_proof"),
            (AuthFormState, "set_error"),
            (DevicesState, "set_devices"),
            (AppState, "set_note"),
            (AppState, "set_session"),
        ]:
            name = f"{cls.get_full_name()}.{setter}"
            verdicts[name.rpartition(".")[0].rpartition(".")[2] + "." + setter] = (
                await preprocess(root, name)
            ) is None
        out["allowed"] = verdicts
        # what Reflex would do next: run each setter the middleware let through
        session_state = sub(root, SessionState)
        admin = {"user": {"id": "x", "role": "admin"}}
        forged = {"set_status": "authenticated", "set_session": admin}
        for setter, value in forged.items():
            if await preprocess(root, f"{SessionState.get_full_name()}.{setter}") is None:
                getattr(session_state, setter)(value)
        state = sub(root, AppState)
        out["load_report_allowed"] = (
            await preprocess(root, AppState.get_full_name() + ".load_report")
        ) is None
        state.load_report()
        out["report"] = state.report
        print(json.dumps(out))


    asyncio.run(main())
    """
)


def test_a_browser_cannot_call_the_setters_reflex_makes_for_the_librarys_vars(
    tmp_path: Path,
) -> None:
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    env = {
        **os.environ,
        "REFLEX_STATE_AUTO_SETTERS": "true",
        "PYTHONPATH": os.pathsep.join([str(TESTS / "reflex_layer"), str(TESTS), str(TESTS.parent)]),
    }
    done = subprocess.run(
        [sys.executable, str(script)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert "set_status" in out["setters"], "Reflex made no setters: the probe tests nothing"
    allowed = out["allowed"]
    # the library's vars: refused, on SessionState and on its forms and devices states
    refused = [name for name, ok in allowed.items() if not ok]
    assert sorted(refused) == sorted(
        [
            "reflex_session___reflex___state____session_state.set_status",
            "reflex_session___reflex___state____session_state.set_session",
            "reflex_session___reflex___state____session_state.set_expires_at",
            "reflex_session___reflex___state____session_state.set_sync_proof",
            "reflex_session___reflex___forms____auth_form_state.set_error",
            "reflex_session___reflex___devices____devices_state.set_devices",
        ]
    )
    # the app's own var keeps its setter, and the app's own handler its name
    assert allowed["__main______app_state.set_note"] is True
    assert allowed["__main______app_state.set_session"] is True
    # and nothing was forged: the app's handler finds no admin
    assert out["load_report_allowed"] is True
    assert out["report"] == ""
