"""Cookie codec benchmark: reflex-session against the encrypted-cookie floor and common libraries.

Run from the repository root::

    .venv/bin/python benchmarks/codec.py            # ~15 s, human-readable table
    .venv/bin/python benchmarks/codec.py --quick    # ~2 s smoke run
    .venv/bin/python benchmarks/codec.py --json     # one JSON object per line, nothing else

Every row encodes and decodes the *same* typical session: the claims are exactly what
``wire.to_claims`` puts in the cookie, so the floor serialises the same JSON bytes.

Rows:

``floor``
    The least any encrypted cookie must do: ``json.dumps`` -> ``AESGCM.encrypt`` (precreated
    object, fresh 96-bit IV) -> base64url of IV and ciphertext joined by a dot; and back (split,
    base64url-decode, decrypt, ``json.loads``). No header, no claim checks, no objects.
``reflex-session``
    ``codec.encode(session)`` / ``codec.decode(token)`` with the decode cache disabled
    (``decode_cache_size=0``): every decode really decrypts, checks the claims and builds a
    ``Session``. This is the cold path, what a never-seen cookie costs.
``reflex-session (cached)``
    ``codec.decode`` of a token decoded before (default cache), i.e. a cookie seen on an earlier
    request. No encode figure.
``joserfc JWE``
    ``joserfc.jwt.encode/decode`` with ``alg=dir, enc=A256GCM`` under the same 32-byte key, plus
    ``JWTClaimsRegistry.validate`` (exp, iat, jti), since ``jwt.decode`` alone checks no claims.
``PyJWT HS256``
    ``jwt.encode`` / ``jwt.decode(algorithms=["HS256"])`` (exp and iat are checked). Signed, not
    encrypted: the claims are readable by the client. For reference only.
``itsdangerous``
    ``URLSafeTimedSerializer.dumps`` / ``loads(max_age=...)``. Signed, not encrypted.

Ratios are row / floor. Targets: ours <= 2.0x floor for encode and decode, cached decode <= 0.5x
floor decode. A missed target is reported, never an exit status: this is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import logging
import os
import platform
import random
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from itertools import islice
from typing import Any

import itsdangerous
import jwt as pyjwt
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from joserfc import jwe as jose_jwe
from joserfc import jwt as jose_jwt
from joserfc.jwk import OctKey

from reflex_session import CookieTooLarge, ReflexSession, Session, wire
from reflex_session.codec import security_log
from reflex_session.jwe import header_segment

try:  # run as a script: benchmarks/ is sys.path[0]
    from _timing import Stats, interleaved
except ImportError:  # imported as benchmarks.codec
    from benchmarks._timing import Stats, interleaved

SECRET = "reflex-session benchmark secret - never use this one in production"
SESSION_EXPIRY = 7 * 24 * 3600
TARGET_OURS = 2.0  # ours / floor, encode and decode
TARGET_CACHED = 0.5  # cached decode / floor decode

#: The typical session: a short id, an e-mail, a name, a ~40-character avatar URL, and an access
#: and a refresh token of 40 characters each (an OAuth provider's opaque tokens).
USER = {
    "id": "42",
    "email": "ada.lovelace@example.com",
    "name": "Ada Lovelace",
    "image": "https://avatars.example.com/u/42?size=96",
}
ACCESS_TOKEN = "at_" + hashlib.sha256(b"access").hexdigest()[:37]
REFRESH_TOKEN = "rt_" + hashlib.sha256(b"refresh").hexdigest()[:37]

GARBAGE_TOKENS = 20_000
VALID_TOKENS = 5_000
CACHE_BOUND = 1024

ROWS = (
    "floor",
    "reflex-session",
    "reflex-session (cached)",
    "joserfc JWE",
    "PyJWT HS256",
    "itsdangerous",
)


def make_auth(cache_size: int) -> ReflexSession[Any]:
    # previous_secret_keys=() so SESSION_PREVIOUS_SECRETS in the environment cannot change the run
    return ReflexSession(
        secret_key=SECRET,
        previous_secret_keys=(),
        session_expiry=SESSION_EXPIRY,
        decode_cache_size=cache_size,
    )


def typical_session(auth: ReflexSession[Any]) -> Session[Any]:
    return auth.new_session(USER, access_token=ACCESS_TOKEN, refresh_token=REFRESH_TOKEN)


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


# -- candidates ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Candidate:
    name: str
    encode: Callable[[], object] | None
    decode: Callable[[], object]
    token: str  # a token of this row, for its size


def build_candidates() -> tuple[list[Candidate], dict[str, Any]]:
    cold = make_auth(0)
    warm = make_auth(CACHE_BOUND)
    session = typical_session(cold)
    claims = wire.to_claims(session)
    key = cold.codec.keyring.current.key  # the derived 32-byte A256GCM key

    # floor
    aead = AESGCM(key)

    def floor_encode(claims: dict[str, Any]) -> str:
        plaintext = json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        iv = os.urandom(12)
        return _b64e(iv) + "." + _b64e(aead.encrypt(iv, plaintext, None))

    def floor_decode(token: str) -> dict[str, Any]:
        iv, sealed = token.split(".")
        result: dict[str, Any] = json.loads(aead.decrypt(_b64d(iv), _b64d(sealed), None))
        return result

    floor_token = floor_encode(claims)

    # ours, cold and cached
    codec, cached_codec = cold.codec, warm.codec
    our_token = codec.encode(session)
    cached_token = cached_codec.encode(session)
    cached_codec.decode(cached_token)  # seen before

    # joserfc: dir + A256GCM under the same key; jwt.decode checks no claims, the registry does
    jose_key = OctKey.import_key(key)
    jose_registry = jose_jwe.JWERegistry(algorithms=["dir", "A256GCM"])
    jose_header = {"alg": "dir", "enc": "A256GCM"}
    jose_claims = jose_jwt.JWTClaimsRegistry(
        exp={"essential": True}, iat={"essential": True}, jti={"essential": True}
    )

    def jose_encode(claims: dict[str, Any]) -> str:
        return jose_jwt.encode(jose_header, claims, jose_key, registry=jose_registry)

    def jose_decode(token: str) -> dict[str, Any]:
        result = jose_jwt.decode(token, jose_key, registry=jose_registry)
        jose_claims.validate(result.claims)
        return result.claims

    jose_token = jose_encode(claims)

    # PyJWT HS256 (signed only)
    pyjwt_token = pyjwt.encode(claims, key, algorithm="HS256")

    # itsdangerous (signed only)
    serializer = itsdangerous.URLSafeTimedSerializer(SECRET)
    itsd_token = serializer.dumps(claims)

    candidates = [
        Candidate(
            "floor",
            lambda: floor_encode(claims),
            lambda: floor_decode(floor_token),
            floor_token,
        ),
        Candidate(
            "reflex-session",
            lambda: codec.encode(session),
            lambda: codec.decode(our_token),
            our_token,
        ),
        Candidate(
            "reflex-session (cached)",
            None,
            lambda: cached_codec.decode(cached_token),
            cached_token,
        ),
        Candidate(
            "joserfc JWE",
            lambda: jose_encode(claims),
            lambda: jose_decode(jose_token),
            jose_token,
        ),
        Candidate(
            "PyJWT HS256",
            lambda: pyjwt.encode(claims, key, algorithm="HS256"),
            lambda: pyjwt.decode(pyjwt_token, key, algorithms=["HS256"]),
            pyjwt_token,
        ),
        Candidate(
            "itsdangerous",
            lambda: serializer.dumps(claims),
            lambda: serializer.loads(itsd_token, max_age=SESSION_EXPIRY),
            itsd_token,
        ),
    ]

    # every row must round-trip the same claims, or the comparison means nothing
    plaintext, _ = codec.decode_claims(our_token)
    assert plaintext == claims, "our cookie does not carry claims_for(session)"
    assert floor_decode(floor_token) == claims
    assert jose_decode(jose_token) == claims
    assert pyjwt.decode(pyjwt_token, key, algorithms=["HS256"]) == claims
    assert serializer.loads(itsd_token, max_age=SESSION_EXPIRY) == claims
    # the cold row really decodes every time; the cached row really hits
    first, second = codec.decode(our_token), codec.decode(our_token)
    assert first is not second
    assert first.session == session
    assert codec.cache_len == 0
    assert cached_codec.decode(cached_token) is cached_codec.decode(cached_token)
    assert [c.name for c in candidates] == list(ROWS)

    context = {
        "auth": cold,
        "session": session,
        "claims": claims,
        "claims_json_bytes": len(json.dumps(claims, separators=(",", ":")).encode("utf-8")),
        "cookie_name": cold.cookie_policy.name_for(True),
        "cached_codec": cached_codec,
    }
    return candidates, context


def run_timings(
    candidates: list[Candidate], *, budget_s: float, batch_s: float
) -> dict[str, Stats]:
    cases: dict[str, Callable[[], object]] = {}
    for c in candidates:
        if c.encode is not None:
            cases[f"{c.name}/encode"] = c.encode
        cases[f"{c.name}/decode"] = c.decode
    return interleaved(cases, budget_s=budget_s, batch_s=batch_s)


def table_rows(candidates: list[Candidate], stats: dict[str, Stats]) -> list[dict[str, Any]]:
    floor_enc = stats["floor/encode"].median_us
    floor_dec = stats["floor/decode"].median_us
    rows = []
    for c in candidates:
        enc = stats.get(f"{c.name}/encode")
        dec = stats[f"{c.name}/decode"]
        rows.append(
            {
                "name": c.name,
                "encode_us": round(enc.median_us, 3) if enc else None,
                "decode_us": round(dec.median_us, 3),
                "encode_ratio": round(enc.median_us / floor_enc, 3) if enc else None,
                "decode_ratio": round(dec.median_us / floor_dec, 3),
            }
        )
    return rows


# -- cookie size and the max-claims check --------------------------------------------------------


def max_claims_check(auth: ReflexSession[Any], session: Session[Any]) -> dict[str, Any]:
    """Grow the user until the cookie no longer fits: the codec must refuse, never truncate."""
    codec = auth.codec

    def with_padding(n: int) -> Session[Any]:
        return session.replace(user=auth.user_type.coerce({**USER, "bio": "x" * n}))

    try:
        codec.encode(with_padding(8192))
    except CookieTooLarge as exc:
        limit = exc.limit
    else:  # pragma: no cover - would mean the limit check is gone
        return {"ok": False, "reason": "an 8 KiB user encoded without CookieTooLarge"}

    def fits(n: int) -> bool:
        try:
            codec.encode(with_padding(n))
        except CookieTooLarge:
            return False
        return True

    lo, hi = 0, 8192  # fits(lo), not fits(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    biggest = with_padding(lo)
    token = codec.encode(biggest)
    decoded = codec.read(token)
    claims_bytes = len(json.dumps(wire.to_claims(biggest), separators=(",", ":")).encode())
    return {
        "limit": limit,
        "max_token_bytes": len(token),
        "max_claims_json_bytes": claims_bytes,
        "round_trips": decoded is not None and decoded.session == biggest,
        "one_more_byte_refused": not fits(lo + 1),
        "ok": len(token) <= limit
        and decoded is not None
        and decoded.session == biggest
        and not fits(lo + 1),
    }


# -- memory ---------------------------------------------------------------------------------------


@contextmanager
def quiet_security_log() -> Iterator[None]:
    """Keep rejected-cookie lines off stderr; the logger still runs (and rate-limits) as usual."""
    handler = logging.NullHandler()
    propagate = security_log.propagate
    security_log.addHandler(handler)
    security_log.propagate = False
    try:
        yield
    finally:
        security_log.removeHandler(handler)
        security_log.propagate = propagate


def garbage_tokens(auth: ReflexSession[Any], count: int, seed: int = 20_260_101) -> list[str]:
    """Half random base64url in 5 segments, half our exact header with random IV/body/tag."""
    rng = random.Random(seed)
    header = header_segment(auth.codec.keyring.current.kid)
    tokens: set[str] = set()
    while len(tokens) < count:
        if len(tokens) % 2:
            segments = [_b64e(rng.randbytes(rng.randint(0, 300))) for _ in range(5)]
            tokens.add(".".join(segments))
        else:
            body = _b64e(rng.randbytes(rng.randint(1, 400)))
            iv, tag = _b64e(rng.randbytes(12)), _b64e(rng.randbytes(16))
            tokens.add(f"{header}..{iv}.{body}.{tag}")
    return list(tokens)


def memory_check(*, quick: bool) -> dict[str, Any]:
    """Garbage never enters the decode cache; valid tokens fill it only up to its bound.

    All 20,000 garbage tokens go through ``codec.read()`` in both modes; tracemalloc (which slows
    every allocation down several times) watches all of them in full mode and the first 4,000 in
    ``--quick`` mode, and watches the bounded-cache pass in full mode only.
    """
    auth = make_auth(CACHE_BOUND)
    codec = auth.codec
    seeds = [codec.encode(typical_session(auth)) for _ in range(8)]
    garbage = garbage_tokens(auth, GARBAGE_TOKENS)
    traced = 4_000 if quick else len(garbage)
    with quiet_security_log():
        seeded = all(codec.read(t) is not None for t in seeds)
        before = codec.cache_len
        tracemalloc.start()
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        accepted = sum(1 for t in islice(garbage, traced) if codec.read(t) is not None)
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        accepted += sum(1 for t in islice(garbage, traced, None) if codec.read(t) is not None)
        after = codec.cache_len

    # distinct valid tokens through a bounded cache (random IVs make every encode distinct)
    bounded = make_auth(CACHE_BOUND)
    session = typical_session(bounded)
    valid = [bounded.codec.encode(session) for _ in range(VALID_TOKENS)]
    assert len(set(valid)) == VALID_TOKENS
    retained_kib = None
    if quick:
        decoded_all = all(bounded.codec.decode(t).session == session for t in valid)
    else:
        tracemalloc.start()
        valid_base, _ = tracemalloc.get_traced_memory()
        decoded_all = all(bounded.codec.decode(t).session == session for t in valid)
        valid_current, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        retained_kib = round((valid_current - valid_base) / 1024, 1)
    bounded_len = bounded.codec.cache_len

    return {
        "name": "memory",
        "garbage_tokens": len(garbage),
        "garbage_accepted": accepted,
        "cache_bound": CACHE_BOUND,
        "cache_len_before": before,
        "cache_len_after": after,
        "garbage_cached": after != before,
        "tracemalloc_tokens": traced,
        "tracemalloc_peak_growth_kib": round((peak - base) / 1024, 1),
        "tracemalloc_net_growth_kib": round((current - base) / 1024, 1),
        "valid_tokens": VALID_TOKENS,
        "bounded_cache_len": bounded_len,
        "bounded_cache_retained_kib": retained_kib,
        "ok": seeded
        and accepted == 0
        and after == before
        and after <= CACHE_BOUND
        and decoded_all
        and bounded_len == CACHE_BOUND,
    }


# -- output ---------------------------------------------------------------------------------------


def _fmt(value: float | None, width: int, suffix: str = "") -> str:
    text = "-" if value is None else f"{value:.2f}{suffix}"
    return f"{text:>{width}}"


def verdicts(rows: list[dict[str, Any]]) -> list[tuple[str, float, float]]:
    by_name = {r["name"]: r for r in rows}
    ours, cached = by_name["reflex-session"], by_name["reflex-session (cached)"]
    return [
        ("ours encode", ours["encode_ratio"], TARGET_OURS),
        ("ours decode", ours["decode_ratio"], TARGET_OURS),
        ("cached decode", cached["decode_ratio"], TARGET_CACHED),
    ]


def print_human(
    rows: list[dict[str, Any]],
    stats: dict[str, Stats],
    candidates: list[Candidate],
    context: dict[str, Any],
    max_claims: dict[str, Any],
    memory: dict[str, Any],
    *,
    mode: str,
    elapsed_s: float,
) -> None:
    libs = ", ".join(
        f"{pkg} {version(pkg)}" for pkg in ("cryptography", "PyJWT", "joserfc", "itsdangerous")
    )
    any_stats = next(iter(stats.values()))
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    print(f"reflex-session codec benchmark ({mode}): Python {platform.python_version()}, {libs}")
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load} "
        "(absolute µs move with load; ratios much less)"
    )
    print(
        f"same session in every row: claims_for(session) = {context['claims_json_bytes']} bytes "
        f"of JSON; {any_stats.rounds} interleaved rounds, median of per-round means"
    )
    print()
    tokens = {c.name: c.token for c in candidates}
    header = (
        f"{'':<24} {'encode µs':>10} {'decode µs':>10} {'encode/floor':>13} "
        f"{'decode/floor':>13} {'token B':>8} {'spread':>7}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        name = row["name"]
        spreads = [
            stats[f"{name}/{op}"].spread for op in ("encode", "decode") if f"{name}/{op}" in stats
        ]
        print(
            f"{name:<24} {_fmt(row['encode_us'], 10)} {_fmt(row['decode_us'], 10)} "
            f"{_fmt(row['encode_ratio'], 13, 'x')} {_fmt(row['decode_ratio'], 13, 'x')} "
            f"{len(tokens[name]):>8} {max(spreads):>6.1%}"
        )
    print()
    parts = []
    for label, ratio, target in verdicts(rows):
        state = "MET" if ratio <= target else "NOT MET"
        parts.append(f"{label} {ratio:.2f}x <= {target:.1f}x: {state}")
    print("targets: " + "; ".join(parts))
    print("(spread = interquartile range of the per-round means / median, worse of the two ops)")
    print()

    token = tokens["reflex-session"]
    name = context["cookie_name"]
    print(
        f"cookie size (ours, typical session): value {len(token)} bytes; "
        f"{name}=<value> {len(name) + 1 + len(token)} bytes"
    )
    if "limit" in max_claims:
        print(
            f"max-claims check: value limit {max_claims['limit']} bytes for {name}; largest claims "
            f"that fit = {max_claims['max_claims_json_bytes']} bytes of JSON -> "
            f"{max_claims['max_token_bytes']}-byte cookie, round-trips: "
            f"{max_claims['round_trips']}; one byte more -> CookieTooLarge: "
            f"{max_claims['one_more_byte_refused']} => {'OK' if max_claims['ok'] else 'FAILED'}"
        )
    else:
        print(f"max-claims check: FAILED ({max_claims['reason']})")
    print()
    m = memory
    kib = m["bounded_cache_retained_kib"]
    retained = "" if kib is None else f"(the full cache holds {kib} KiB) "
    print(
        f"memory: {m['garbage_tokens']:,} distinct garbage tokens through codec.read(): "
        f"accepted {m['garbage_accepted']}, cache_len {m['cache_len_before']} -> "
        f"{m['cache_len_after']} (bound {m['cache_bound']}, garbage cached: "
        f"{m['garbage_cached']}); tracemalloc over {m['tracemalloc_tokens']:,} of them: peak "
        f"growth {m['tracemalloc_peak_growth_kib']} KiB, net {m['tracemalloc_net_growth_kib']} KiB"
    )
    print(
        f"memory: {m['valid_tokens']:,} distinct valid tokens decoded with cache size "
        f"{m['cache_bound']}: cache_len {m['bounded_cache_len']} "
        f"{retained}=> {'OK' if m['ok'] else 'FAILED'}"
    )
    print(f"total {elapsed_s:.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="~2 s smoke run (fewer rounds)")
    parser.add_argument("--json", action="store_true", help="one JSON object per row on stdout")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    budget_s, batch_s = (0.6, 0.001) if args.quick else (10.0, 0.002)
    candidates, context = build_candidates()
    stats = run_timings(candidates, budget_s=budget_s, batch_s=batch_s)
    rows = table_rows(candidates, stats)
    max_claims = max_claims_check(context["auth"], context["session"])
    memory = memory_check(quick=args.quick)

    if args.json:
        for row in rows:
            print(json.dumps(row))
        print(json.dumps(memory))
    else:
        print_human(
            rows,
            stats,
            candidates,
            context,
            max_claims,
            memory,
            mode="quick" if args.quick else "full",
            elapsed_s=time.perf_counter() - started,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
