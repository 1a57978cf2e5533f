"""The README's core example must run as printed (a README that lies is a bug)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _runnable_block(heading: str = "## Using the core without Reflex") -> str:
    text = README.read_text()
    section = text.split(heading, 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, f"the example under {heading!r} is missing from the README"
    return match.group(1)


def test_readme_core_example_runs_and_prints_the_login_redirect() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _runnable_block()],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.strip()
        == "/login?callbackUrl=%2Fdashboard%2Fsettings%3Ftab%3D2&reason=loginRequired"
    )


def test_readme_store_mode_example_runs_as_written(tmp_path: Path) -> None:
    """Once it used ``os`` without importing it and a top-level ``await``."""
    result = subprocess.run(
        [sys.executable, "-c", _runnable_block("## Store mode: sessions you can take back")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},  # no DATABASE_URL: the in-memory SQLite default
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "True", "None"]


def test_readme_names_the_two_commands_that_ci_runs() -> None:
    text = README.read_text()
    assert "scripts/demo.sh" in text
    assert "scripts/test.sh" in text
    ci = (README.parent / ".ci" / "run").read_text()
    assert "scripts/test.sh" in ci
