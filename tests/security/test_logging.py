"""What an attacker's cookie can make us log: one line, no value, no secret, no traceback.

A rejected cookie costs one line on ``reflex_session.security`` (reason, key id, length). These
tests push a batch of hostile cookies through ``codec.read`` and through ``GET /api/session``
with every logger at DEBUG, then read every record back: no message (nor formatted traceback)
contains the cookie value or any 20-character piece of it, or the secret or the derived key; no
record carries ``exc_info`` or a stack; and every hostile GET is an ordinary ``200`` with
``session: null``. Log forging (CWE-117): no message an attacker influences may contain a line
break or another control character.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

import jwt
import pytest
from sec_helpers import (
    OTHER_SECRET,
    SECRET,
    Forge,
    auth_fixture,
    b64json,
    build_auth,
    call_asgi,
    clock_fixture,
    forge_fixture,
)

from reflex_session import ReflexSession
from reflex_session.jwe import b64url_encode
from reflex_session.keys import derive_key

WINDOW = 20

FIXTURES = (auth_fixture, clock_fixture, forge_fixture)  # used by name


def hostile_cookies(auth: ReflexSession[Any], forge: Forge) -> dict[str, str]:
    """Cookie values an attacker (or a confused client) sends, by label; none opens a session."""
    now = int(forge.clock.time())
    real = auth.encrypt_session(auth.new_session({"id": "user-1", "email": "ada@example.com"}))
    header, _, iv, ciphertext, tag = real.split(".")
    flipped = ciphertext[:10] + ("A" if ciphertext[10] != "A" else "B") + ciphertext[11:]
    other = Forge(forge.clock, OTHER_SECRET)
    echo = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"  # 40 chars, also used as the kid below
    echo_header = b64json({"alg": "dir", "enc": "A256GCM", "kid": echo})
    tag_variant = tag[:-1] + ("B" if tag[-1] == "A" else "A")
    return {
        "tampered": f"{header}..{iv}.{flipped}.{tag}",
        "other-secret": other.token(),
        "our-kid-other-key": forge.seal(forge.claims(), key=derive_key(OTHER_SECRET)),
        "expired": forge.token(exp=now - 10),
        "iat-future": forge.token(iat=now + 3600),
        "wrong-types": forge.token(user=["admin"]),
        "not-json": forge.seal(b"\x00\x01 not json at all"),
        "oversized": "A" * 5000,
        "repeated": (real + ".") * 20,
        "alg-none": forge.seal(
            forge.claims(), header=b64json({"alg": "none", "enc": "A256GCM", "kid": forge.kid})
        ),
        "pbes2": forge.seal(
            forge.claims(),
            header=b64json({"alg": "PBES2-HS256+A128KW", "enc": "A256GCM", "p2c": 10**9}),
        ),
        "zip": forge.seal(
            forge.claims(),
            header=b64json({"alg": "dir", "enc": "A256GCM", "kid": forge.kid, "zip": "DEF"}),
        ),
        "kid-echoes-cookie": f"{echo_header}..{iv}.{echo}.{tag}",
        "kid-sql": forge.seal(
            forge.claims(),
            header=b64json({"alg": "dir", "enc": "A256GCM", "kid": "' OR 1=1 --" + "x" * 30}),
        ),
        "jws-hs256": jwt.encode(forge.claims(), derive_key(SECRET), algorithm="HS256"),
        "jws-none": b64json({"alg": "none"}) + "." + b64json(forge.claims()) + ".",
        "non-canonical": f"{header}..{iv}.{ciphertext}.{tag_variant}",
        "truncated": real[: len(real) // 2],
        "extra-segment": real + ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "padded": f"{header}..{iv}.{ciphertext}.{tag}==",
        "standard-alphabet": real.replace("-", "+").replace("_", "/") + "+/+/+/+/+/+/+/+/+/+/",
        "null-bytes": "\x00" * 64,
        "fullwidth": "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in real),
        "json-literal": '{"alg":"none","typ":"JWT","user":{"id":"admin","role":"admin"}}',
        "secret-itself": SECRET,
        "key-itself": base64.urlsafe_b64encode(derive_key(SECRET)).decode(),
    }


def assert_clean(records: list[logging.LogRecord], values: list[str]) -> None:
    """No record leaks a value (or a 20-char piece of it), the secret or the key; no tracebacks."""
    key = derive_key(SECRET)
    forbidden = [
        SECRET,
        OTHER_SECRET,
        key.hex(),
        base64.urlsafe_b64encode(key).decode().rstrip("="),
        base64.b64encode(key).decode().rstrip("="),
    ]
    for record in records:
        assert not record.exc_info, f"traceback logged: {record.name}: {record.getMessage()}"
        assert record.exc_text is None
        assert record.stack_info is None
        text = record.getMessage()
        if record.exc_info:  # pragma: no cover - asserted above; kept for the message
            text += logging.Formatter().formatException(record.exc_info)
        for secret in forbidden:
            assert secret not in text, f"{record.name} logged a secret"
        for value in values:
            if len(value) < WINDOW:
                continue
            for start in range(0, max(0, len(text) - WINDOW) + 1):
                piece = text[start : start + WINDOW]
                assert piece not in value, f"{record.name} logged part of a cookie: {text!r}"


@pytest.fixture
def debug_everything(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)  # the root logger: every logger, every level
    for name in ("reflex_session", "reflex_session.security", "reflex_session.http"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def test_codec_read_never_logs_the_cookie(auth, forge, debug_everything) -> None:
    """``codec.read`` of every hostile value is ``None``, and the log holds one short line per
    rejection (reason, kid, length) — never the value, a piece of it, the secret or a
    traceback (OWASP Logging Cheat Sheet: session identifiers must not be logged; CWE-532)."""
    cookies = hostile_cookies(auth, forge)
    for label, value in cookies.items():
        assert auth.codec.read(value) is None, label
        assert auth.decrypt_session(value) is None, label
    records = debug_everything.records
    assert any(r.name == "reflex_session.security" for r in records), "nothing was logged"
    assert_clean(records, list(cookies.values()))


async def test_hostile_cookie_on_get_is_200_no_session_and_not_logged(
    auth, forge, debug_everything
) -> None:
    """``GET /api/session`` with each hostile cookie: ``200``, ``session: null``,
    ``unauthenticated``, at most a clearing ``Set-Cookie`` — never a 5xx (CWE-755) — and the
    log is as clean as for ``codec.read``, including the HTTP layer's own loggers."""
    cookies = hostile_cookies(auth, forge)
    api = auth.handlers()
    seen: list[str] = []
    for label, value in cookies.items():
        raw = value.encode("utf-8")
        seen += [value, raw.decode("latin-1")]  # what Starlette decodes the header bytes to
        response = await call_asgi(
            api, "GET", "/api/session", headers=[(b"cookie", b"session=" + raw)]
        )
        assert response.status == 200, (label, response.body)
        body = response.json()
        assert body["session"] is None, label
        assert body["status"] == "unauthenticated", label
        for line in response.get_all("set-cookie"):
            assert line.split(";", 1)[0] == "session=", (label, line)
    assert any(r.name == "reflex_session.security" for r in debug_everything.records)
    assert_clean(debug_everything.records, seen)


async def test_rejections_cannot_forge_log_lines(auth, forge, debug_everything) -> None:
    """Log forging / log injection (CWE-117; OWASP "Log Injection"): the rejection line quotes
    the token's ``kid``, which the attacker writes. A kid with CR/LF (or NEL, LINE SEPARATOR,
    ESC sequences) must not start a new, fake log line such as ``ERROR admin login ok`` —
    every message stays on one line with no control characters."""
    values = []
    for kid in (
        "\r\nERROR admin ok",
        "\nCRITICAL forged",
        "x\x1b[2J\x1b[1;1H",
        "\u2028forged line",
        "\x85forged line",
        "\x00\x07\x08",
    ):
        header = b64json({"alg": "dir", "enc": "A256GCM", "kid": kid})
        values.append(forge.seal(forge.claims(), header=header))
    for value in values:
        assert auth.codec.read(value) is None
    api = auth.handlers()
    for value in values:
        response = await call_asgi(
            api, "GET", "/api/session", headers=[(b"cookie", f"session={value}".encode())]
        )
        assert response.status == 200
    messages = [r.getMessage() for r in debug_everything.records]
    assert any("unknown_key" in m for m in messages)
    for message in messages:
        assert len(message.splitlines()) <= 1, f"forged log line: {message!r}"
        controls = [c for c in message if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0]
        assert controls == [], f"control characters in a log line: {message!r}"


def test_flood_is_rate_limited_and_counted(clock, debug_everything, monkeypatch) -> None:
    """Log flooding (CWE-400 / CWE-779; OWASP Logging Cheat Sheet, "denial of service through
    logs"): a burst of garbage cookies yields a bounded number of lines per second, and the
    remainder is not dropped silently — the next second starts with one line counting it."""
    now = [1000.0]

    class FrozenTime:
        @staticmethod
        def monotonic() -> float:
            return now[0]

    monkeypatch.setattr("reflex_session.codec.time", FrozenTime)
    auth = build_auth(clock)
    for index in range(500):
        assert auth.codec.read(f"garbage-{index:04d}-" + b64url_encode(b"x" * 30)) is None
    lines = [r.getMessage() for r in debug_everything.records if r.name.startswith("reflex")]
    assert len(lines) == 20
    now[0] += 1
    assert auth.codec.read("one more") is None
    lines = [r.getMessage() for r in debug_everything.records if r.name.startswith("reflex")]
    assert lines[20] == "480 more rejected session cookies not logged"
    assert len(lines) == 22
