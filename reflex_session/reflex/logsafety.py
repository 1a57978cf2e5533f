"""Keep the session cookie and the Reflex client token out of every log line.

Why this module exists
----------------------
Reflex puts the whole websocket handshake into every event: ``Event.router_data`` carries the
request headers (``cookie`` included, so our HttpOnly session cookie and the browser binding
cookie) and the client token (``router_data["token"]``, the key of the tab's server-side state).
Several Reflex 0.10.1 warning paths then log that event, or the raw client payload, verbatim:

* ``reflex_base/event/processor/event_processor.py`` ``_process_queue``: an event naming a handler
  that does not exist (a stale frontend after a deploy) logs ``f"Error processing event queue
  entry for {entry.event} ..."`` -- the whole ``Event`` repr, headers and token included;
* ``event_processor.py`` ``_resolve_future`` and the task names it logs
  (``reflex_event|<name>|<token>|<txid>``), ``reflex/app.py`` ``EventNamespace.on_event``
  (``"... Event data: {data}"``), ``emit_update`` (``{token!r}``), the token manager and the
  Redis state manager (keys ``<token>_<state>``), the frontend/backend exception handlers;
* the ASGI servers' access lines: the socket connects to ``/_event/?EIO=4&...&token=<token>``,
  which uvicorn (``uvicorn.error`` / ``uvicorn.access``) and granian (``granian.access``, whose
  format may also print any request header) log.

All of these go through :mod:`logging`: Reflex's runtime modules use ``logging.getLogger``, and
its Rich/JSON/file sinks (``reflex_base.utils.log``) are ordinary handlers on the ``reflex`` logger.
Only ``reflex_base.utils.console`` (``print``, and the deprecated ``warn``/``error``/... helpers,
which print with Rich) bypasses it; no runtime path found there logs an event, but it is covered
too. So the layer works on log *records*, in one place:

* :func:`redact` rewrites a fully formatted string (precompiled patterns, and a fast path that
  returns the string untouched when no trigger substring is present);
* :func:`redact_record` applies it to a :class:`logging.LogRecord` -- the formatted message, the
  traceback text and the stack text -- before any handler sees it;
* :func:`install_log_redaction` runs :func:`redact_record` from a record factory (every record, from
  every logger, whichever handlers are attached later: Reflex attaches its own sinks lazily, servers
  reconfigure logging in their workers) and, as a second line, from a :class:`RedactingFilter` on
  the handlers and loggers that exist at install time; it also wraps Reflex's few console
  functions that print without :mod:`logging` (``reflex_base.utils.console.print`` & co.).

What is redacted (each value becomes ``[redacted]``; names are kept, so the line stays useful):

* ``Cookie:`` / ``Set-Cookie:`` header lines: every ``name=value`` pair's value;
* mapping entries whose key ends in ``cookie``, ``token`` or ``authorization`` -- dict reprs
  (``'cookie': '...'``), JSON (``"token": "..."``), ASGI header tuples (``(b'cookie', b'...')``),
  keyword reprs (``token='...'``) -- cookie values pair by pair, the others whole;
* ``token=`` (also ``access_token=`` etc.) query and keyword parameters, and Engine.IO's
  ``sid=``, which names a live long-polling socket;
* anything shaped like a Reflex client token: a UUID (``state.js`` ``generateUUID()`` and the
  server's ``uuid4()`` are the only issuers of legitimate tokens);
* anything shaped like a JOSE compact token (``eyJ...``: our session cookie is a JWE);
* ``<name>...=value`` for the cookie names given to :func:`install_log_redaction` (the session
  cookie, and by prefix its ``_bind`` sibling and ``__Host-`` forms), wherever they appear.

This module is pure: it imports nothing from Reflex at module level (the console adapter imports
Reflex lazily, inside :func:`install_log_redaction`).
"""

from __future__ import annotations

import functools
import importlib
import logging
import re
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = [
    "REDACTED",
    "RedactingFilter",
    "install_log_redaction",
    "redact",
    "redact_record",
    "uninstall_log_redaction",
]

#: What a secret value becomes.
REDACTED = "[redacted]"
#: The same for Rich consoles, where ``[redacted]`` would be read as a markup tag and vanish.
_RICH_REDACTED = "\\[redacted]"
#: Set on our console wrappers, so a second install does not wrap them again.
_WRAPPED = "_reflex_session_redacting"
#: Loggers whose handlers (and themselves) get the filter at install time.
_LOGGERS = (
    "",
    "reflex",
    "reflex_base",
    "reflex_session",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "granian",
    "_granian",
    "granian.access",
    "engineio",
    "engineio.server",
    "socketio",
    "socketio.server",
    "asyncio",
)
#: Reflex's console functions that write without :mod:`logging` (the lowest-level sinks only:
#: the deprecated ``warn``/``error``/... helpers all end in one of these).
_CONSOLE_MODULES = ("reflex_base.utils.console", "reflex.utils.console")
_CONSOLE_FUNCTIONS = ("print", "_print_stderr", "print_to_log_file", "log", "_debug")

_KEYS = r"(?P<name>cookies?|tokens?|authorization|sid)"
# a quoted string body: escapes, or anything but the opening quote (backreference ``q``)
_QUOTED_BODY = r"(?P<val>(?:\\.|(?!(?P=q)).)*)(?P=q)"
# an unquoted value ends at a delimiter of URLs, reprs, cookie headers or Rich markup
_BARE_VALUE = r"""[^&\s'"#;,()\[\]{}\\]+"""

# Patterns lead with a literal where they can (no leading lookbehind or prefix class): the regex
# engine then skips ahead instead of trying every position. Keys match by their ending
# (``reflex-client-token``, ``HTTP_COOKIE``, ``access_token``), so no prefix is needed. The UUID
# pattern cannot lead with a literal; ``redact`` runs it only after ``_UUID_HINT`` (which can) hits.

#: JOSE compact serialisations (JWS: 3 segments, JWE: 5; the JWE key segment is empty for ``dir``).
_JOSE = re.compile(r"eyJ[\w-]{8,}(?:\.[\w-]*){2,4}")
#: A ``Cookie:`` or ``Set-Cookie:`` header line, up to the end of the line.
_HEADER_LINE = re.compile(r"(cookie\s*:[ \t]*)([^\r\n]*)", re.IGNORECASE)
#: ``'cookie': '...'``, ``"token": "..."``, ``(b'cookie', b'...')``: a quoted key, then a value.
_QUOTED_ENTRY = re.compile(
    rf"""(?P<head>{_KEYS}['"]\s*[:,]\s*b?)(?P<q>['"]){_QUOTED_BODY}""", re.IGNORECASE
)
#: ``token=...`` (query strings, also URL-encoded) and ``token='...'`` (keyword reprs).
_BARE_ENTRY = re.compile(
    rf"""(?P<head>{_KEYS}(?:=|%3D))(?:(?P<q>['"]){_QUOTED_BODY}|(?P<bare>{_BARE_VALUE}))""",
    re.IGNORECASE,
)
#: A Reflex client token: a UUID, in any version and case; ``_UUID_HINT`` is its cheap pre-check.
_UUID = re.compile(
    r"(?<![0-9a-fA-F])[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"(?![0-9a-fA-F])"
)
_UUID_HINT = re.compile(r"-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-")
#: One ``name=value`` pair of a cookie header (the value runs to the next ``;``).
_PAIR = re.compile(r"(?P<name>[^=;,\s]+)=[^;]*")


class _Patterns:
    """The patterns that depend on the configured cookie names (swapped whole, never mutated)."""

    def __init__(self, names: frozenset[str]) -> None:
        self.names = tuple(sorted(names, key=len, reverse=True))
        alternatives = "|".join(re.escape(n) for n in self.names)
        # ``session`` also covers ``session_bind`` and ``__Host-session`` (same name inside)
        self.named = re.compile(rf"((?:{alternatives})[\w-]*=)({_BARE_VALUE})") if names else None


_patterns = _Patterns(frozenset())


def redact(text: str, marker: str = REDACTED) -> str:
    """``text`` with every cookie value and client token replaced by ``marker``.

    Idempotent (``redact(redact(t)) == redact(t)``). Each rule runs only if its trigger substring
    occurs, so a line without ``cookie``, ``token``, ``authorization``, ``eyJ``, a configured
    cookie name or a UUID-like ``-xxxx-xxxx-`` costs a lowercase copy and a few ``in`` tests.
    """
    low = text.lower()
    patterns = _patterns
    cookie = "cookie" in low
    # an Engine.IO ``sid=`` names a live long-polling socket: redacted with the tokens
    keyword = (
        cookie
        or "token" in low
        or "authorization" in low
        or ("sid" in low and ("sid=" in low or "sid'" in low or 'sid"' in low or "sid%3d" in low))
    )
    jose = "eyJ" in text
    named = patterns.named is not None and any(n in text for n in patterns.names)
    uuid = "-" in text and _UUID_HINT.search(text) is not None
    if not (keyword or jose or named or uuid):
        return text
    if jose:
        text = _JOSE.sub(marker, text)
    if keyword:
        entry = functools.partial(_entry, marker=marker)
        if cookie:
            text = _HEADER_LINE.sub(lambda m: m[1] + _pairs(m[2], marker), text)
        text = _QUOTED_ENTRY.sub(entry, text)
        text = _BARE_ENTRY.sub(entry, text)
    if named and patterns.named is not None:
        text = patterns.named.sub(lambda m: m[1] + marker, text)
    if uuid:
        text = _UUID.sub(marker, text)
    return text


def _pairs(value: str, marker: str) -> str:
    """A cookie header value with each ``name=value`` pair's value replaced.

    Text without ``=`` is left alone: it is prose ("... no cookie: reloading"), not a pair, and
    a bare session cookie in it is still caught by the JOSE rule.
    """
    if "=" not in value:
        return value
    return _PAIR.sub(lambda m: f"{m['name']}={marker}", value)


def _entry(match: re.Match[str], *, marker: str) -> str:
    """One ``key: value`` / ``key=value`` entry, its value redacted (cookies pair by pair)."""
    if match["q"] is None:  # an unquoted ``token=value``
        return match["head"] + marker
    value = match["val"]
    if match["name"].lower().rstrip("s").endswith("cookie"):
        value = _pairs(value, marker)
    else:
        value = marker if value else value
    return f"{match['head']}{match['q']}{value}{match['q']}"


def redact_record(record: logging.LogRecord) -> None:
    """Redact ``record`` in place: its message (arguments included), traceback and stack text.

    A record with nothing to hide keeps its ``msg``, ``args`` and ``exc_info`` untouched. When
    the secrets sit in string arguments only, they are redacted there and the arguments keep
    their shape (uvicorn's access formatter unpacks them); otherwise ``msg`` becomes the redacted
    message and ``args`` is emptied. A traceback that would show a secret is folded, redacted,
    into the message and ``exc_info`` is dropped: Reflex's Rich and JSON sinks format
    ``exc_info`` themselves, so a redacted ``exc_text`` alone would not reach them. Never raises:
    if redaction itself fails, the record is replaced by a line saying so (fail closed).
    """
    try:
        _redact_record(record)
    except Exception:
        record.msg = "log record dropped: redaction failed"
        record.args = ()
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None


def _redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # what logging would print as "--- Logging error ---" (args included)
        message = f"{record.msg} (unformattable log arguments: {record.args!r})"
        record.msg, record.args = redact(message), ()
    else:
        clean = redact(message)
        if clean != message and not _redact_args(record):
            record.msg, record.args = clean, ()
    if "message" in record.__dict__:  # a formatter ran before us
        record.message = redact(record.message)
    trace = record.exc_text
    if not trace and record.exc_info and record.exc_info[0] is not None:
        trace = _FORMATTER.formatException(record.exc_info)
    if trace:
        clean = redact(trace)
        if clean != trace:
            record.msg, record.args = f"{record.getMessage()}\n{clean}", ()
            record.exc_info = None
            record.exc_text = None
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


_FORMATTER = logging.Formatter()


def _redact_args(record: logging.LogRecord) -> bool:
    """Redact the string arguments alone, if that is enough; ``False`` if it is not."""
    msg, args = record.msg, record.args
    if not args or not isinstance(msg, str) or redact(msg) != msg:
        return False
    new: tuple[object, ...] | dict[str, object]
    if isinstance(args, Mapping):
        new = {k: redact(v) if isinstance(v, str) else v for k, v in args.items()}
    elif isinstance(args, tuple):
        new = tuple(redact(a) if isinstance(a, str) else a for a in args)
    else:  # pragma: no cover - LogRecord only ever holds a tuple or a mapping
        return False
    try:
        candidate = msg % new
    except Exception:
        return False
    if redact(candidate) != candidate:
        return False
    record.args = new
    return True


class RedactingFilter(logging.Filter):
    """A :class:`logging.Filter` that redacts (never drops) every record it sees.

    Attached to handlers rather than loggers where it matters: a logger's filters do not run
    for records propagated from its children.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` in place and let it through (always ``True``)."""
        redact_record(record)
        return True


class _State:
    """What :func:`install_log_redaction` changed, so it is done once and can be undone."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.filter = RedactingFilter()
        self.previous_factory: Callable[..., logging.LogRecord] | None = None
        self.factory: Callable[..., logging.LogRecord] | None = None
        self.filtered: list[logging.Handler | logging.Logger] = []
        self.consoles: list[tuple[Any, str, Callable[..., Any]]] = []


_state = _State()


def install_log_redaction(cookie_names: Iterable[str] = ()) -> None:
    """Redact cookie values and client tokens from every log line of this process.

    ``cookie_names`` adds names whose values are redacted wherever ``name=value`` appears (also
    ``<name>_bind``-style siblings and ``__Host-``/``__Secure-`` forms, which share the prefix).
    Idempotent: a second call adds the new names and any handler that appeared since, nothing
    twice.
    """
    global _patterns
    with _state.lock:
        names = frozenset(_patterns.names) | {n for n in cookie_names if n}
        if names != frozenset(_patterns.names):
            _patterns = _Patterns(frozenset(names))
        if _state.factory is None:
            previous = logging.getLogRecordFactory()

            def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
                record = previous(*args, **kwargs)
                redact_record(record)
                return record

            _state.previous_factory, _state.factory = previous, factory
            logging.setLogRecordFactory(factory)
        for target in _targets():
            if _state.filter not in target.filters:
                target.addFilter(_state.filter)
                _state.filtered.append(target)
        _wrap_consoles()


def _targets() -> list[logging.Handler | logging.Logger]:
    """The named loggers, their handlers, and Reflex's own sinks (created lazily by Reflex)."""
    targets: list[logging.Handler | logging.Logger] = []
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if name:
            targets.append(logger)
        targets.extend(logger.handlers)
    try:  # Reflex's sinks: cached instances that reflex_base.utils.log attaches when it configures
        from reflex_base.utils import log as reflex_log

        targets += [reflex_log._console_handler(), reflex_log._json_handler()]
        if reflex_log._active_file_handler is not None:
            targets.append(reflex_log._active_file_handler)
    except Exception:  # noqa: S110 - not Reflex 0.10 (or no Reflex): the record factory remains
        pass
    return targets


def _wrap_consoles() -> None:
    """Wrap Reflex's console sinks that print without :mod:`logging` (once each)."""
    for module_name in _CONSOLE_MODULES:
        # the first is Reflex's own; the second re-exports it by ``import *`` (copies of the
        # functions), wrapped if already imported, else it will copy the wrapped ones
        if module_name != _CONSOLE_MODULES[0] and module_name not in sys.modules:
            continue
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        for name in _CONSOLE_FUNCTIONS:
            original = getattr(module, name, None)
            if original is None or getattr(original, _WRAPPED, False):
                continue
            setattr(module, name, _console_wrapper(original))
            _state.consoles.append((module, name, original))


def _console_wrapper(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def wrapper(msg: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(msg, str):
            msg = redact(msg, REDACTED if kwargs.get("markup") is False else _RICH_REDACTED)
        return original(msg, *args, **kwargs)

    setattr(wrapper, _WRAPPED, True)
    return wrapper


def uninstall_log_redaction() -> None:
    """Undo :func:`install_log_redaction` (for tests): factory, filters, console wrappers, names.

    The record factory is restored only if nobody wrapped it since (unwrapping theirs too would
    be worse than leaving ours in place).
    """
    global _patterns
    with _state.lock:
        if _state.factory is not None and logging.getLogRecordFactory() is _state.factory:
            assert _state.previous_factory is not None
            logging.setLogRecordFactory(_state.previous_factory)
        _state.factory = _state.previous_factory = None
        for target in _state.filtered:
            target.removeFilter(_state.filter)
        _state.filtered.clear()
        for module, name, original in reversed(_state.consoles):
            setattr(module, name, original)
        _state.consoles.clear()
        _patterns = _Patterns(frozenset())
