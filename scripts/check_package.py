"""Check what ``python -m build`` made, before anyone installs it.

Usage: ``python scripts/check_package.py DIST_DIR`` (``scripts/test.sh`` runs it on a fresh build,
then installs the wheel into a clean virtualenv and imports it there).

Why a check of our own: a wheel that builds can still be useless. The browser code ships as real
``.js`` files beside the Python modules (``rx.asset(shared=True)`` links them from there), and
hatchling leaves out anything a pattern misses, so a wheel without them imports fine and fails
only when a Reflex app compiles. The same goes for ``py.typed`` (users' mypy would see no types)
and the ``LICENSE`` that the metadata promises; the Redis store loads its ``.lua`` scripts from
beside its module too.
"""

from __future__ import annotations

import email.parser
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "reflex_session"


def expected_package_files() -> set[str]:
    """Every file of the package in the checkout that a user needs: sources, browser code,
    the Redis store's Lua scripts and the typing marker (no caches)."""
    wanted = {".py", ".js", ".lua", ".typed"}
    return {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / PACKAGE).rglob("*")
        if path.is_file() and path.suffix in wanted and "__pycache__" not in path.parts
    }


def check_wheel(wheel: Path, expected: set[str]) -> list[str]:
    problems: list[str] = []
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        missing = sorted(expected - names)
        if missing:
            problems.append(f"{wheel.name} lacks {missing}")
        stray = sorted(n for n in names if not n.startswith((f"{PACKAGE}/", f"{PACKAGE}-")))
        if stray:
            problems.append(f"{wheel.name} carries files outside the package: {stray[:5]}")
        if not any(n.endswith(".dist-info/licenses/LICENSE") for n in names):
            problems.append(f"{wheel.name} has no LICENSE in its .dist-info")
        (meta_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = email.parser.Parser().parsestr(archive.read(meta_name).decode())
    if meta.get("License-Expression") != "MIT":
        problems.append(f"{wheel.name}: License-Expression is {meta.get('License-Expression')!r}")
    if not (meta.get_payload() or "").lstrip().startswith("# reflex-session"):
        problems.append(f"{wheel.name}: the long description is not the README")
    requires = " ".join(meta.get_all("Requires-Dist") or [])
    for dependency in ("reflex", "pyjwt", "sqlmodel"):
        if dependency not in requires.lower():
            problems.append(f"{wheel.name} does not require {dependency}")
    return problems


def check_sdist(sdist: Path, expected: set[str]) -> list[str]:
    with tarfile.open(sdist) as archive:
        top = archive.getnames()[0].split("/")[0]
        names = {n.removeprefix(top + "/") for n in archive.getnames()}
    needed = expected | {"README.md", "LICENSE", "pyproject.toml"}
    missing = sorted(needed - names)
    return [f"{sdist.name} lacks {missing}"] if missing else []


def main(argv: list[str]) -> int:
    dist = Path(argv[1])
    wheels = sorted(dist.glob("*.whl"))
    sdists = sorted(dist.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        print(f"expected one wheel and one sdist in {dist}, found {wheels + sdists}")
        return 1
    expected = expected_package_files()
    problems = check_wheel(wheels[0], expected) + check_sdist(sdists[0], expected)
    for problem in problems:
        print(f"package check: {problem}")
    if not problems:
        print(f"package check: {wheels[0].name} and {sdists[0].name} hold {len(expected)} files")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
