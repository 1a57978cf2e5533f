"""10,000 hostile cookies through the whole HTTP stack: never a 5xx, never a session, memory flat.

``test_fuzz.py`` proves the *codec* total with hypothesis. This module sends cookies through
everything a request crosses before the codec — the ``Cookie`` header parser, the cookie jar,
the store-mode id lookup, Starlette's request and response objects, the session API's four verbs
and the page guard's redirect — in both modes, and checks what comes back out:

* every answer is the clean "no session" answer of its verb: ``GET``/``DELETE`` 200 with
  ``session: null``, ``POST``/``PATCH`` 401, the guarded page a 307 to the login page — never a
  5xx, never the page, never a session;
* the only ``Set-Cookie`` ever sent is our clearing line (``session=``; nothing of the request
  echoed), and no header has a CR or LF;
* nothing is logged but the rate-limited ``reflex_session.security`` rejection line (reason, key
  id, length) — no error, no traceback, no other logger above DEBUG;
* memory is flat: the resident set does not grow after the warm-up, nothing allocated during
  the last 2,000 cookies is still alive at the end (``tracemalloc``; bounds justified at
  :data:`RSS_BOUND`), and the two caches a cookie can enter (the codec's decode cache and store
  mode's id cache) are still empty.

The cookies come from a seeded generator (:class:`CookieFuzzer`): mutations of genuine cookies
of the app under test (character and bit flips, truncation, segment swaps between cookies,
dropped and duplicated segments, padding and alphabet changes), base64url garbage, huge values,
Unicode and raw bytes, JSON-ish text and hostile JOSE headers on a genuine body, cookies of
another app, expired cookies, separators and quotes, and ``Cookie`` headers with neighbours,
duplicates and quotes. A value that the header parser would read as one of the genuine cookies
(``<genuine>;junk``) is not hostile and is drawn again. A failure prints the seed, the index and
the mutation, so it replays exactly (``FUZZ_SEED=<seed>``).
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import random
import re
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psutil
from sec_helpers import (
    OTHER_SECRET,
    PAGE_BODY,
    Forge,
    build_auth,
    build_store_auth,
    call_asgi,
    our_cookie,
    page_app,
)

from reflex_session import ReflexSession
from reflex_session.cookies import parse_cookie_header
from reflex_session.jwe import b64url_decode, b64url_encode
from reflex_session.testing import FakeClock

#: Cookies per run (alternating between cookie mode and store mode), each sent five times.
COOKIES = 10_000
SEED = int(os.environ.get("FUZZ_SEED", "20260101"))

#: Memory is measured twice, because tracing every allocation makes a request about 3.5 times
#: slower: the process's resident set from the end of the warm-up (cookie 1,000) to the start of
#: the traced tail (cookie 8,000), and every allocation still alive after the traced tail (the
#: last 2,000 cookies, 10,000 requests).
WARM_UP = 1_000
TRACED = 2_000
#: Nothing a rejected cookie touches outlives its request: the decode cache
#: (``decode_cache_size`` entries) and the store-mode id cache (1,024 entries) only ever hold
#: cookies that *decoded*, the log limiter keeps three integers, and no store record is written
#: without a valid session. So the expected growth is zero (measured: 4 KiB of RSS and 7 KiB
#: traced, the ``json`` decoder's memo and asyncio's bookkeeping); the bounds leave room for
#: allocator noise and still catch a per-request leak: 35,000 requests leaking 60 bytes each
#: pass :data:`RSS_BOUND`, 10,000 requests leaking 7 bytes each pass :data:`TRACED_BOUND`.
RSS_BOUND = 2 * 1024 * 1024
TRACED_BOUND = 64 * 1024

B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
UNICODE = [
    "\u00e9",  # é (latin-1)
    "\u00ff",
    "\u0100",  # first code point outside latin-1
    "\u200b",  # zero width space
    "\u202e",  # right-to-left override
    "\ufeff",  # BOM
    "\ufffd",
    "\uff21",  # fullwidth A
    "\u2028",  # line separator
    "\u0085",  # next line
    "\U0001f600",
    "\u0301",  # combining accent
    "\udcff",  # lone surrogate (sent as surrogatepass bytes)
]
SEPARATORS = [";", ",", '"', "\\", " ", "=", "\t", "\x00", "\r", "\n", "\x7f", "%", "+", "/"]
JSONISH = [
    '{"alg":"none"}',
    '{"alg":"dir","enc":"A256GCM"}',
    '{"user":{"id":"admin","role":"admin"}}',
    "[]",
    "null",
    '{"jti":"x","exp":99999999999}',
    '{"__proto__":{"role":"admin"}}',
    "{" * 50,
    '"' * 7,
]
HOSTILE_HEADERS: list[dict[str, Any]] = [
    {"alg": "none", "enc": "A256GCM"},
    {"alg": "dir", "enc": "A256GCM", "zip": "DEF"},
    {"alg": "dir", "enc": "A256GCM", "kid": "../../etc/passwd"},
    {"alg": "dir", "enc": "A256GCM", "kid": None},
    {"alg": "dir", "enc": "A128GCM"},
    {"alg": "HS256", "typ": "JWT"},
    {"alg": "PBES2-HS512+A256KW", "enc": "A256GCM", "p2c": 2**31},
    {"alg": "dir", "enc": "A256GCM", "crit": ["exp"], "exp": 1},
    {"alg": "dir", "enc": "A256GCM", "jku": "https://evil.example/jwks"},
]


def b64json(value: Any) -> str:
    return b64url_encode(json.dumps(value, separators=(",", ":")).encode())


@dataclass
class CookieFuzzer:
    """Seeded hostile ``Cookie`` headers built from the genuine cookies of one app."""

    seed: int
    genuine: list[str]
    foreign: list[str]
    expired: list[str]
    name: str = "session"
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self._genuine_set = set(self.genuine)

    # -- mutations of a value: each returns text (sent as UTF-8, surrogates passed through) --

    def _token(self) -> str:
        return self.rng.choice(self.genuine)

    def flip_chars(self) -> str:
        chars = list(self._token())
        for _ in range(self.rng.randint(1, 3)):
            i = self.rng.randrange(len(chars))
            chars[i] = self.rng.choice(
                B64URL.replace(chars[i], "") if chars[i] in B64URL else B64URL
            )
        return "".join(chars)

    def flip_bits(self) -> str:
        parts = self._token().split(".")
        index = self.rng.choice([0, 2, 3, 4])
        raw = bytearray(b64url_decode(parts[index]))
        bit = self.rng.randrange(len(raw) * 8)
        raw[bit // 8] ^= 1 << (bit % 8)
        parts[index] = b64url_encode(bytes(raw))
        return ".".join(parts)

    def truncate(self) -> str:
        token = self._token()
        return token[: self.rng.randrange(1, len(token))]

    def extend(self) -> str:
        tail = "".join(self.rng.choices(B64URL + ".", k=self.rng.randint(1, 40)))
        return self._token() + self.rng.choice(["", ".", "..", "A"]) + tail

    def swap_segments(self) -> str:
        a, b = self._token().split("."), self.rng.choice(self.genuine).split(".")
        mixed = [self.rng.choice((x, y)) for x, y in zip(a, b, strict=True)]
        if mixed in (a, b):
            mixed[3], mixed[4] = mixed[4], mixed[3]
        return ".".join(mixed)

    def shuffle_segments(self) -> str:
        parts = self._token().split(".")
        self.rng.shuffle(parts)
        return ".".join(parts)

    def drop_or_duplicate(self) -> str:
        parts = self._token().split(".")
        i = self.rng.randrange(len(parts))
        if self.rng.random() < 0.5:
            del parts[i]
        else:
            parts.insert(i, parts[i])
        return ".".join(parts)

    def b64_garbage(self) -> str:
        count = self.rng.choice([1, 3, 4, 5, 5, 5, 6, 7])
        return ".".join(
            "".join(self.rng.choices(B64URL, k=self.rng.choice([0, 1, 16, 22, 43, 60, 200])))
            for _ in range(count)
        )

    def huge(self) -> str:
        if self.rng.random() < 0.5:
            return "".join(self.rng.choices(B64URL, k=self.rng.randint(4_000, 20_000)))
        token = self._token()
        return ".".join([token] * self.rng.randint(2, 12))

    def unicode(self) -> str:
        chars = list(self._token())
        for _ in range(self.rng.randint(1, 4)):
            chars.insert(self.rng.randrange(len(chars) + 1), self.rng.choice(UNICODE))
        return "".join(chars)

    def fullwidth(self) -> str:
        return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in self._token())

    def raw_bytes(self) -> str:
        data = bytes(self.rng.randrange(256) for _ in range(self.rng.randint(1, 300)))
        return data.decode("latin-1")

    def jsonish(self) -> str:
        text = self.rng.choice(JSONISH)
        if self.rng.random() < 0.5:
            return text
        return b64url_encode(text.encode()) + "." + ".".join(self._token().split(".")[1:])

    def hostile_header(self) -> str:
        header = dict(self.rng.choice(HOSTILE_HEADERS))
        return b64json(header) + "." + ".".join(self._token().split(".")[1:])

    def separators(self) -> str:
        chars = list(self._token())
        for _ in range(self.rng.randint(1, 3)):
            chars.insert(self.rng.randrange(1, len(chars) + 1), self.rng.choice(SEPARATORS))
        return "".join(chars)

    def padding_and_alphabet(self) -> str:
        token = self._token()
        choice = self.rng.randrange(4)
        if choice == 0:
            return token + "=" * self.rng.randint(1, 3)
        if choice == 1:
            return token.replace("-", "+").replace("_", "/")
        if choice == 2:
            return token.swapcase()
        return ".".join(p + "==" if p else p for p in token.split("."))

    def other_app(self) -> str:
        token = self.rng.choice(self.foreign)
        return token if self.rng.random() < 0.5 else token[:-1] + self.rng.choice("AQgw")

    def expired_cookie(self) -> str:
        return self.rng.choice(self.expired)

    def empty_or_blank(self) -> str:
        return self.rng.choice(["", " ", '""', "  \t", "=", "null", "undefined", "deleted"])

    @property
    def mutations(self) -> list[Callable[[], str]]:
        return [
            self.flip_chars,
            self.flip_bits,
            self.truncate,
            self.extend,
            self.swap_segments,
            self.shuffle_segments,
            self.drop_or_duplicate,
            self.b64_garbage,
            self.huge,
            self.unicode,
            self.fullwidth,
            self.raw_bytes,
            self.jsonish,
            self.hostile_header,
            self.separators,
            self.padding_and_alphabet,
            self.other_app,
            self.expired_cookie,
            self.empty_or_blank,
        ]

    # -- the Cookie header around the value ------------------------------------------------

    def header(self, value: str) -> bytes:
        raw = value.encode("utf-8", "surrogatepass")
        name = self.name.encode()
        shape = self.rng.random()
        if shape < 0.75:
            return name + b"=" + raw
        if shape < 0.85:
            return b"theme=dark; " + name + b"=" + raw + b"; _ga=GA1.2.3"
        if shape < 0.92:  # a duplicate: the first one is read, so it must not rescue anything
            return name + b"=" + raw + b"; " + name + b"=" + self._token().encode()
        return name + b'="' + raw + b'"'

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        while True:
            mutation = self.rng.choice(self.mutations)
            header = self.header(mutation())
            read = parse_cookie_header(header.decode("latin-1")).get(self.name)
            if read in self._genuine_set:
                continue  # "<genuine>;junk" is the genuine cookie: not a hostile one
            yield mutation.__name__, header


# -- the apps under test ----------------------------------------------------------------------


@dataclass
class Target:
    mode: str
    auth: ReflexSession[Any]
    fuzzer: CookieFuzzer
    api: Any = None
    pages: Any = None

    def __post_init__(self) -> None:
        self.api = self.auth.handlers()
        self.pages = self.auth.middleware(page_app)


async def genuine_cookies(auth: ReflexSession[Any], count: int) -> list[str]:
    cookies = []
    for index in range(count):
        jar = auth.jar(None)
        await auth.create_session(
            jar, {"id": f"user-{index}", "role": "user"}, access_token=f"tok-{index}"
        )
        value = jar.read()
        assert value
        cookies.append(value)
    return cookies


async def build_target(mode: str, clock: FakeClock, seed: int) -> Target:
    auth = build_store_auth(clock) if mode == "store" else build_auth(clock)
    genuine = await genuine_cookies(auth, 8)
    other = build_auth(clock, secret_key=OTHER_SECRET)
    foreign = [other.encrypt_session(other.new_session({"id": "user-1"})) for _ in range(4)]
    forge = Forge(clock)
    now = int(clock.time())
    expired = [forge.token(exp=now - 1), forge.token(iat=now - 7200, exp=now - 3600)]
    if mode == "store":
        expired.append(forge.seal({"jti": "sid-expired-000000000", "iat": now - 60, "exp": now}))
    fuzzer = CookieFuzzer(seed, genuine, foreign, expired)
    return Target(mode, auth, fuzzer)


PATCH_BODY = json.dumps({"user": {"name": "fuzz"}}).encode()
SECURITY_LINE = re.compile(
    r"session cookie rejected: reason=[a-z_]+ kid=\S{1,200} length=-?\d+"
    r"|\d+ more rejected session cookies not logged"
)


class LogWatch(logging.Handler):
    """Checks every record as it is emitted and keeps only the violations (no list of records
    grows with the run, so the memory check measures the library, not the test)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.violations: list[str] = []
        self.security_lines = 0

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        ok = (
            not record.exc_info
            and record.stack_info is None
            and record.levelno <= logging.WARNING
            and (record.levelno < logging.WARNING or record.name == "reflex_session.security")
            and (not record.name.startswith("reflex_session") or SECURITY_LINE.fullmatch(message))
        )
        if record.name == "reflex_session.security":
            self.security_lines += 1
        if not ok and len(self.violations) < 20:
            self.violations.append(f"{record.name} {record.levelname}: {message[:300]!r}")


@contextlib.contextmanager
def watching_logs() -> Iterator[LogWatch]:
    """Every record of the library (at DEBUG) and of any other logger (at WARNING) goes to a
    :class:`LogWatch` only — not to pytest's log capture, which would keep them all."""
    watch = LogWatch()
    root = logging.getLogger()
    ours = logging.getLogger("reflex_session")
    saved = (ours.level, ours.propagate)
    root.addHandler(watch)
    ours.addHandler(watch)
    ours.setLevel(logging.DEBUG)
    ours.propagate = False
    try:
        yield watch
    finally:
        root.removeHandler(watch)
        ours.removeHandler(watch)
        ours.setLevel(saved[0])
        ours.propagate = saved[1]


def check_headers(response: Any, where: str) -> None:
    for name, value in response.headers:
        assert b"\r" not in name + value, where
        assert b"\n" not in name + value, where
    cleared = our_cookie(response)
    assert cleared in (None, ""), f"{where}: a Set-Cookie with a value: {cleared[:80]!r}"
    for line in response.get_all("set-cookie"):
        assert line.split(";", 1)[0] == "session=", f"{where}: {line[:120]!r}"


async def send_everywhere(target: Target, header: bytes, where: str) -> None:
    """The cookie through GET, POST, PATCH and DELETE of the API and GET of a guarded page."""
    cookie = [(b"cookie", header)]
    for method in ("GET", "POST", "PATCH", "DELETE"):
        extra = [(b"content-type", b"application/json")] if method == "PATCH" else []
        response = await call_asgi(
            target.api,
            method,
            "/api/session",
            headers=[*cookie, *extra],
            body=PATCH_BODY if method == "PATCH" else b"",
        )
        here = f"{where} {method} /api/session"
        assert response.status < 500, f"{here}: {response.status} {response.body[:200]!r}"
        if method in ("GET", "DELETE"):
            assert response.status == 200, f"{here}: {response.status}"
            body = response.json()
            assert body["session"] is None, here
            assert body["status"] == "unauthenticated", here
        else:
            assert response.status == 401, f"{here}: {response.status} {response.body[:200]!r}"
            assert response.json() == {"error": "unauthenticated"}, here
        check_headers(response, here)
    response = await call_asgi(target.pages, "GET", "/dashboard/settings", headers=cookie)
    here = f"{where} GET /dashboard/settings"
    assert response.status == 307, f"{here}: {response.status}"
    assert response.body != PAGE_BODY, here
    assert response.get_all("location") == [
        "/login?callbackUrl=%2Fdashboard%2Fsettings&reason=loginRequired"
    ], here
    check_headers(response, here)


async def test_ten_thousand_hostile_cookies_through_the_http_stack() -> None:
    """10,000 seeded hostile cookies, half per mode, each through the API's four verbs and the
    page guard: always the clean "no session" answer, only our clearing ``Set-Cookie``, only
    the rate-limited security line in the log, and a flat heap (see the module docstring)."""
    clock = FakeClock()
    targets = [
        await build_target(mode, clock, SEED + i) for i, mode in enumerate(("cookie", "store"))
    ]
    streams = [iter(t.fuzzer) for t in targets]
    used: dict[str, int] = {}
    process = psutil.Process()
    rss_growth = traced = 0
    with watching_logs() as watch:
        try:
            for index in range(COOKIES):
                if index == WARM_UP:
                    gc.collect()
                    rss_growth = -process.memory_info().rss
                if index == COOKIES - TRACED:
                    gc.collect()
                    rss_growth += process.memory_info().rss
                    tracemalloc.start(1)
                target = targets[index % 2]
                mutation, header = next(streams[index % 2])
                used[mutation] = used.get(mutation, 0) + 1
                where = f"seed={target.fuzzer.seed} mode={target.mode} #{index} {mutation}"
                await send_everywhere(target, header, where)
            gc.collect()
            traced = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
    assert watch.violations == [], "\n".join(watch.violations)
    assert watch.security_lines > 0, "no rejection was logged: the log check proves nothing"
    assert len(used) == len(targets[0].fuzzer.mutations), f"mutations never drawn: {used}"
    for target in targets:
        assert target.auth.codec.cache_len == 0, f"{target.mode}: a hostile cookie was cached"
        if target.auth.config.store is not None:
            assert len(target.auth.backend._ids) == 0, "a hostile cookie entered the id cache"
    assert rss_growth < RSS_BOUND, f"RSS grew by {rss_growth} bytes after the warm-up"
    assert traced < TRACED_BOUND, f"{traced} bytes allocated in the last {TRACED} cookies live on"
    # the genuine cookies the fuzzer mutated still open their sessions: nothing was broken
    for target in targets:
        for token in target.fuzzer.genuine:
            response = await call_asgi(
                target.api,
                "GET",
                "/api/session",
                headers=[(b"cookie", b"session=" + token.encode())],
            )
            assert response.json()["status"] == "authenticated", target.mode


def test_the_fuzzer_is_deterministic_and_never_yields_a_genuine_cookie() -> None:
    """The generator's own contract: the same seed gives the same cookies (a failure replays),
    and no header it yields is read as one of the genuine cookies."""
    genuine = [
        ".".join(
            [b64json({"alg": "dir", "enc": "A256GCM", "kid": "k"}), ""]
            + [b64url_encode(bytes([n]) * size) for n, size in ((1, 12), (2, 40), (3, 16))]
        )
    ]
    first = CookieFuzzer(7, genuine, genuine, genuine)
    second = CookieFuzzer(7, genuine, genuine, genuine)
    a = [h for _, (_, h) in zip(range(500), first, strict=False)]
    b = [h for _, (_, h) in zip(range(500), second, strict=False)]
    assert a == b
    for header in a:
        assert parse_cookie_header(header.decode("latin-1")).get("session") != genuine[0]
