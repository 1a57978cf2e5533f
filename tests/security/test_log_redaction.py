"""No session cookie, binding cookie or client token in a log line while the layer is installed.

Reflex 0.10.1 logs a whole ``Event`` -- ``router_data`` holds every request header (``cookie``
with our HttpOnly session cookie and the browser binding cookie) and the client token -- when an
event names a handler that does not exist (``event_processor.py`` ``_process_queue``: a stale
frontend after a deploy), and the raw client payload in ``EventNamespace.on_event``; the servers
log the socket URL with ``?token=``. :mod:`reflex_session.reflex.logsafety` redacts them.

* unit: :func:`redact` on the strings those paths produce (a real ``Event`` formatted as Reflex
  formats it, the socket.io environ, the access lines, JSON, header dumps);
* integration: Reflex's real unknown-handler path (``on_connect`` then ``on_event`` through a
  real ``BaseStateEventProcessor``), read back from ``caplog`` and from Reflex's own Rich and JSON
  sinks (``capsys``); the same run without the layer is the control: the secrets are there;
* the record mechanics: arguments, tracebacks, uvicorn's and granian's access formatters, the
  console adapter, idempotent install.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from reflex_base.event import Event

from reflex_session import ReflexSession
from reflex_session.binding import BindingCookie, new_value
from reflex_session.reflex import runtime
from reflex_session.reflex.install import install
from reflex_session.reflex.logsafety import (
    REDACTED,
    RedactingFilter,
    install_log_redaction,
    redact,
    redact_record,
    uninstall_log_redaction,
)

STALE_HANDLER = "reflex___state____state.handler_removed_by_the_last_deploy"


@dataclass(frozen=True)
class Secrets:
    """One browser's secrets, as the server sees them on a websocket handshake."""

    session_name: str
    session_value: str  # a real JWE, as the library writes it
    binding_name: str
    binding_value: str  # 43 base64url characters, as binding.new_value() mints them
    token: str  # a Reflex client token (uuid4, like state.js generateUUID() and token_manager)

    @property
    def cookie_header(self) -> str:
        return (
            f"theme=dark; {self.session_name}={self.session_value}; "
            f"{self.binding_name}={self.binding_value}"
        )

    @property
    def values(self) -> tuple[str, ...]:
        return (self.session_value, self.binding_value, self.token)

    def assert_absent(self, text: str) -> None:
        # Rich may wrap long lines: look at the text with all whitespace removed, too
        squeezed = "".join(text.split())
        for value in self.values:
            assert value not in text, f"leaked {value[:12]}...: {text}"
            assert value not in squeezed, f"leaked {value[:12]}... (across a wrap): {text}"


@pytest.fixture(params=[False, True], ids=["http", "https"])
def secrets(request: pytest.FixtureRequest, auth: ReflexSession[Any]) -> Secrets:
    https: bool = request.param
    policy = auth.cookie_policy
    return Secrets(
        session_name=policy.name_for(policy.is_secure(https)),
        session_value=auth.encrypt_session(
            auth.new_session({"id": "user-1", "email": "ada@example.com"})
        ),
        binding_name=BindingCookie.for_session_cookie(policy).name(https),
        binding_value=new_value(),
        token=str(uuid.uuid4()),
    )


@pytest.fixture
def layer(auth: ReflexSession[Any]) -> Iterator[None]:
    """The layer as ``install()`` installs it (same call), removed after the test."""
    install_log_redaction(cookie_names=(auth.config.cookie_name,))
    yield
    uninstall_log_redaction()


@pytest.fixture
def no_layer() -> None:
    uninstall_log_redaction()


def reflex_event(s: Secrets) -> Event:
    """The Event as ``EventNamespace.on_event`` hands it to the processor (router_data merged)."""
    return Event(
        name=STALE_HANDLER,
        router_data={
            "pathname": "/dashboard",
            "query": {},
            "asPath": "/dashboard",
            "sid": "hKd0cYh3P8m1AAAB",
            "headers": {
                "host": "localhost:8000",
                "connection": "Upgrade",
                "cookie": s.cookie_header,
                "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0",
                "sec-websocket-protocol": "0.10.1",
                "asgi-scope-client": "127.0.0.1",
            },
            "ip": "127.0.0.1",
            "token": s.token,
        },
        payload={"value": 3},
    )


# -- (a) unit: the strings Reflex and the servers produce ----------------------------------------


def test_a_reflex_event_repr_loses_the_cookies_and_token_but_keeps_the_rest(
    secrets: Secrets, layer: None
) -> None:
    """The unknown-handler line (event_processor.py:882) as Reflex formats it: cookie values and
    the token go, cookie names and everything else stay."""
    line = f"Error processing event queue entry for {reflex_event(secrets)} [txid=0a1b2c3d4e5f]:"
    clean = redact(line)
    secrets.assert_absent(clean)
    assert f"Event(name='{STALE_HANDLER}'" in clean
    assert (
        f"'cookie': 'theme={REDACTED}; {secrets.session_name}={REDACTED}; "
        f"{secrets.binding_name}={REDACTED}'"
    ) in clean
    assert f"'token': '{REDACTED}'" in clean
    for kept in ("'host': 'localhost:8000'", "'pathname': '/dashboard'", "payload={'value': 3}"):
        assert kept in clean
    assert clean.endswith("[txid=0a1b2c3d4e5f]:")  # txids (12 hex digits) are not tokens


def redaction_cases(s: Secrets) -> dict[str, str]:
    """Every shape the cookie and the token take in the paths found in Reflex and the servers."""
    environ = {
        "REQUEST_METHOD": "GET",
        "QUERY_STRING": f"EIO=4&transport=websocket&token={s.token}",
        "HTTP_COOKIE": s.cookie_header,
        "asgi.scope": {
            "type": "websocket",
            "headers": [(b"host", b"localhost"), (b"cookie", s.cookie_header.encode())],
        },
    }
    payload = {"name": STALE_HANDLER, "payload": {}, "router_data": {"token": s.token}}
    return {
        "on_event, no token (app.py:2391)": f"Event data: {payload}",
        "on_event, JSON string (app.py:2400)": f" Event data: {json.dumps(payload)}",
        "socket.io environ": repr(environ),
        "uvicorn websocket line": (
            f'127.0.0.1:50312 - "WebSocket /_event/?EIO=4&transport=websocket&token={s.token}" '
            "[accepted]"
        ),
        "url-encoded query": f"/_event/?q=token%3D{s.token}",
        "header dump": f"GET / HTTP/1.1\r\nHost: x\r\nCookie: {s.cookie_header}\r\nAccept: */*",
        "granian header format": f"{s.cookie_header} - GET /",
        "task name (event_processor.py:775)": f"Error in reflex_event|a.b|{s.token}|0a1b2c3d4e5f",
        "emit_update (app.py:2364)": f"Attempting to send delta to disconnected client {s.token!r}",
        "redis lock key": f"[SMR] [0.001] {s.token}_reflex___state____state_lock acquired",
        "keyword repr": f"EventContext(token='{s.token}', txid='0a1b2c3d4e5f')",
        "uppercase token": f"client {s.token.upper()} gone",
        "bare session cookie": f"decoding {s.session_value} failed",
    }


@pytest.mark.parametrize(
    "case", list(redaction_cases(Secrets("n", "v", "b", "w", "t")))
)  # labels only; the values are built per test from real secrets
def test_a_every_shape_is_redacted(case: str, secrets: Secrets, layer: None) -> None:
    text = redaction_cases(secrets)[case]
    clean = redact(text)
    secrets.assert_absent(clean)
    assert REDACTED in clean
    assert redact(clean) == clean, "redaction is idempotent"


def test_a_names_and_prose_are_kept(layer: None) -> None:
    """Only values go: prose that merely names a cookie or a token is kept as it is, and a line
    with no trigger at all comes back as the same object (the fast path)."""
    for line in (
        "No token provided in connection for session hKd0cYh3P8m1AAAB",
        "missing cookie: reloading",
        "cookie_name='session' is not a plain cookie name",
    ):
        assert redact(line) == line
    for line in (
        "session store unavailable during a sync; will retry",
        "tab state without a binding on a live socket (state lost?): reloading",
        "Frontend version 0.10.0 for session s does not match the backend version 0.10.1.",
    ):
        assert redact(line) is line


@pytest.mark.parametrize(
    "line",
    [
        '127.0.0.1:5 - "POST /_event/?EIO=4&transport=polling&sid=AbC-dEf_123 HTTP/1.1" 200',
        "environ {'QUERY_STRING': 'EIO=4&transport=polling&sid=AbC-dEf_123'}",
        "/_event/?q=sid%3DAbC-dEf_123",
        "{'sid': 'AbC-dEf_123', 'namespace': '/_event'}",
    ],
)
def test_a_long_polling_sid_is_redacted(line: str, layer: None) -> None:
    """Red team (stop 22): under ``transport="polling"`` the Engine.IO ``sid`` in a request
    line names a live socket a stranger could poll; it goes with the tokens."""
    clean = redact(line)
    assert "AbC-dEf_123" not in clean
    assert REDACTED in clean
    assert redact(clean) == clean


def test_a_rich_marker_survives_markup(secrets: Secrets, layer: None) -> None:
    """On Rich consoles ``[redacted]`` would be read as a markup tag; the console marker is
    escaped, and redaction stays idempotent with it."""
    from rich.console import Console

    marker = "\\[redacted]"
    text = redact(f"token={secrets.token} {secrets.cookie_header}", marker)
    assert redact(text, marker) == text
    out = io.StringIO()
    Console(file=out, width=500).print(text)
    assert "token=[redacted]" in out.getvalue()
    secrets.assert_absent(out.getvalue())


# -- (b) integration: Reflex's real unknown-handler path ------------------------------------------


@contextlib.asynccontextmanager
async def reflex_backend() -> AsyncIterator[Any]:
    """A real ``rx.App`` with its event namespace and a running ``BaseStateEventProcessor``
    (what ``App._setup_event_processor`` starts in the server's lifespan)."""
    from reflex_base.event.processor.base_state_processor import BaseStateEventProcessor

    with fresh_app() as app:
        processor = BaseStateEventProcessor(
            middleware=app, backend_exception_handler=app.backend_exception_handler
        )
        app._event_processor = processor
        async with processor.configure(
            state_manager=app.state_manager, event_namespace=app.event_namespace
        ):
            yield app.event_namespace


@contextlib.contextmanager
def fresh_app() -> Iterator[Any]:
    """An ``rx.App`` in a fork of the registration context (one App per context, says Reflex)."""
    import reflex as rx
    from reflex_base.registry import RegistrationContext

    token = RegistrationContext.set(RegistrationContext.get().fork())
    try:
        yield rx.App()
    finally:
        RegistrationContext.reset(token)


async def stale_frontend_sends_an_event(s: Secrets, logged: Any) -> None:
    """Connect a socket as the browser does, then send an event whose handler is gone."""
    async with reflex_backend() as namespace:
        sid = "hKd0cYh3P8m1AAAB"
        environ = {
            "QUERY_STRING": f"EIO=4&transport=websocket&token={s.token}",
            "HTTP_COOKIE": s.cookie_header,
            "asgi.scope": {
                "type": "websocket",
                "client": ("127.0.0.1", 50312),
                "headers": [(b"host", b"localhost:8000"), (b"cookie", s.cookie_header.encode())],
            },
        }
        await namespace.on_connect(sid, environ)
        await namespace.on_event(
            sid, {"name": STALE_HANDLER, "payload": {}, "router_data": {"pathname": "/"}}
        )
        for _ in range(200):  # the processor's queue task logs it
            if "Error processing event queue entry" in logged():
                break
            await asyncio.sleep(0.01)


async def test_b_unknown_handler_line_is_logged_without_cookie_or_token(
    secrets: Secrets, layer: None, caplog: pytest.LogCaptureFixture
) -> None:
    """The app's own logging (records propagate to the root logger: caplog there)."""
    caplog.set_level(logging.DEBUG)
    await stale_frontend_sends_an_event(secrets, lambda: caplog.text)
    lines = [r for r in caplog.records if "Error processing event queue entry" in r.getMessage()]
    assert len(lines) == 1, caplog.text
    secrets.assert_absent(caplog.text)
    for r in caplog.records:
        secrets.assert_absent(r.getMessage())
    record = lines[0]
    assert record.name == "reflex_base.event.processor.event_processor"
    message = record.getMessage()
    assert f"Event(name='{STALE_HANDLER}'" in message
    assert f"{secrets.session_name}={REDACTED}" in message
    assert f"'token': '{REDACTED}'" in message
    assert "No registered handler found" in caplog.text  # the traceback is still there
    assert record.exc_info is not None  # and still an exception (nothing to hide in it)


@pytest.mark.parametrize("json_mode", [False, True], ids=["rich", "json"])
async def test_b_reflex_own_sinks_print_it_without_cookie_or_token(
    secrets: Secrets,
    json_mode: bool,
    layer: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Under ``reflex run`` Reflex prints through its own Rich (or JSON) handler on the
    ``reflex`` logger, not propagating to the root: the line reaches the terminal redacted."""
    from reflex_base.utils import log as reflex_log

    monkeypatch.setenv("REFLEX_LOG_JSON", "true" if json_mode else "false")
    reflex_log.configure()
    try:
        seen: list[str] = []

        def printed() -> str:
            captured = capsys.readouterr()
            seen.append(captured.out + captured.err)
            return "".join(seen)

        await stale_frontend_sends_an_event(secrets, printed)
    finally:
        reflex_log._reset()
    output = "".join(seen)
    assert "Error processing event queue entry" in output
    assert "No registered handler found" in output
    secrets.assert_absent(output)
    assert REDACTED in output


async def test_b_on_event_without_token_logs_the_payload_redacted(
    secrets: Secrets, layer: None, caplog: pytest.LogCaptureFixture
) -> None:
    """``on_event`` from an unknown sid logs the raw payload (app.py:2391)."""
    caplog.set_level(logging.WARNING)
    async with reflex_backend() as namespace:
        await namespace.on_event(
            "unknown-sid",
            {"name": STALE_HANDLER, "router_data": {"token": secrets.token}, "payload": {}},
        )
    assert "with no associated token" in caplog.text
    secrets.assert_absent(caplog.text)


def test_b_frontend_exception_handler(
    secrets: Secrets, layer: None, caplog: pytest.LogCaptureFixture
) -> None:
    """A frontend error report quoting the token (sessionStorage is readable by the page)."""
    from reflex.app import default_frontend_exception_handler

    caplog.set_level(logging.ERROR)
    default_frontend_exception_handler(RuntimeError(f"socket for token {secrets.token} failed"))
    assert "[Reflex Frontend Exception]" in caplog.text
    secrets.assert_absent(caplog.text)


# -- (c) the control: without the layer, the same run leaks -----------------------------------


async def test_c_without_the_layer_reflex_logs_the_cookie_and_the_token(
    secrets: Secrets, no_layer: None, caplog: pytest.LogCaptureFixture
) -> None:
    """What (b) guards against, observed: the tests above are not passing vacuously."""
    caplog.set_level(logging.DEBUG)
    await stale_frontend_sends_an_event(secrets, lambda: caplog.text)
    assert "Error processing event queue entry" in caplog.text
    for value in secrets.values:
        assert value in caplog.text


# -- the record mechanics ---------------------------------------------------------------------


def test_arguments_keep_their_shape_for_uvicorn_access_formatter(
    secrets: Secrets, layer: None
) -> None:
    """uvicorn's AccessFormatter unpacks ``record.args``: secrets in string arguments are redacted
    in place, so the access line still formats."""
    from uvicorn.logging import AccessFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s'))
    logger = logging.getLogger("uvicorn.access.test-redaction")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        path = f"/_event/?EIO=4&transport=polling&token={secrets.token}"
        logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:50312", "GET", path, "1.1", 200)
    finally:
        logger.removeHandler(handler)
    line = stream.getvalue()
    assert line.startswith('127.0.0.1:50312 - "GET /_event/?EIO=4&transport=polling&token=[')
    assert "200 OK" in line
    secrets.assert_absent(line)


def test_granian_access_log_with_a_cookie_header_format(secrets: Secrets, layer: None) -> None:
    """granian formats its access line from a dict; a format may print any request header."""
    from granian.log import log_request_builder

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    access = logging.getLogger("granian.access")
    access.addHandler(handler)
    old_level, old_propagate = access.level, access.propagate
    access.setLevel(logging.INFO)
    access.propagate = False
    headers = {"cookie": secrets.cookie_header}
    request = {
        "addr_remote": "127.0.0.1",
        "path": "/_event/",
        "qs": f"EIO=4&transport=websocket&token={secrets.token}",
        "method": "GET",
        "scheme": "http",
        "protocol": "HTTP/1.1",
        "headers": headers.get,
    }
    try:
        log = log_request_builder('%(path)s?%(query_string)s "%(header{cookie})s" %(status)d')
        log(0.0, 0.0, request, 101)
    finally:
        access.removeHandler(handler)
        access.setLevel(old_level)
        access.propagate = old_propagate
    line = stream.getvalue()
    assert line.startswith("/_event/?EIO=4&transport=websocket&token=")
    assert line.rstrip().endswith("101")
    secrets.assert_absent(line)


def test_a_traceback_that_shows_a_secret_is_folded_redacted(
    secrets: Secrets, layer: None, caplog: pytest.LogCaptureFixture
) -> None:
    """``exc_info`` is dropped only when its text would show a secret (Reflex's sinks format
    ``exc_info`` themselves); the redacted traceback stays in the message."""
    logger = logging.getLogger("reflex.test-redaction")
    caplog.set_level(logging.DEBUG)
    try:
        raise ValueError(f"bad router data {reflex_event(secrets).router_data}")
    except ValueError:
        logger.exception("handler failed")
    try:
        raise KeyError("No registered handler found for event: x")
    except KeyError:
        logger.exception("handler failed")
    leaky, clean = caplog.records[-2:]
    assert leaky.exc_info is None
    assert "Traceback (most recent call last)" in leaky.getMessage()
    assert "ValueError: bad router data" in leaky.getMessage()
    assert clean.exc_info is not None
    secrets.assert_absent(caplog.text)


def test_unformattable_arguments_do_not_leak_through_logging_error(
    secrets: Secrets, layer: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad ``%`` format makes logging print "--- Logging error ---" with the raw arguments to
    stderr; the layer formats it first, so that never happens with a secret in it."""
    logger = logging.getLogger("reflex.test-redaction")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    try:
        logger.warning("%s and %s", f"token={secrets.token}")
    finally:
        logger.removeHandler(handler)
    secrets.assert_absent(stream.getvalue() + capsys.readouterr().err)
    assert "unformattable log arguments" in stream.getvalue()


def test_the_filter_alone_covers_records_made_elsewhere(secrets: Secrets, layer: None) -> None:
    """Records rebuilt with ``makeLogRecord`` (a QueueListener, a socket receiver) skip the record
    factory; the filter on the handlers catches them."""
    record = logging.makeLogRecord(
        {"msg": "event %s", "args": (f"{reflex_event(secrets)}",), "levelno": logging.ERROR}
    )
    assert RedactingFilter().filter(record) is True
    secrets.assert_absent(record.getMessage())
    redact_record(record)  # twice is harmless
    secrets.assert_absent(record.getMessage())


def test_reflex_console_functions_print_redacted(
    secrets: Secrets, layer: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """``reflex_base.utils.console.print`` and friends write with Rich, not logging."""
    from reflex_base.utils import console

    console.print(f"connected with token={secrets.token} and {secrets.cookie_header}")
    console._print_stderr(f"Event data: {reflex_event(secrets)}")
    captured = capsys.readouterr()
    assert "token=[redacted]" in captured.out  # the Rich marker is escaped: printed as is
    assert "Eventdata:Event(" in "".join(captured.err.split())  # Rich wraps long lines
    secrets.assert_absent(captured.out + captured.err)


def test_install_is_idempotent_and_uninstall_restores(auth: ReflexSession[Any]) -> None:
    from reflex_base.utils import console

    uninstall_log_redaction()
    original_factory = logging.getLogRecordFactory()
    original_print = console.print
    root = logging.getLogger()
    handler = logging.NullHandler()
    root.addHandler(handler)
    try:
        install_log_redaction(cookie_names=(auth.config.cookie_name,))
        factory, wrapped_print = logging.getLogRecordFactory(), console.print
        install_log_redaction(cookie_names=(auth.config.cookie_name,))
        assert logging.getLogRecordFactory() is factory is not original_factory
        assert console.print is wrapped_print is not original_print
        assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
        assert sum(isinstance(f, RedactingFilter) for f in logging.getLogger("reflex").filters) == 1
        uninstall_log_redaction()
        assert logging.getLogRecordFactory() is original_factory
        assert console.print is original_print
        assert not handler.filters
    finally:
        root.removeHandler(handler)
        uninstall_log_redaction()


def test_install_wires_the_layer(make_auth: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """``install(app, auth)`` installs the layer, with the app's own cookie name."""
    monkeypatch.setattr(runtime, "_installed", list(runtime._installed))  # install() records
    monkeypatch.delenv("REFLEX_REDIS_URL", raising=False)
    auth = make_auth(cookie_name="sid")
    uninstall_log_redaction()
    try:
        with fresh_app() as app:
            install(app, auth)
        line = redact("Cookie: sid=abc; sid_bind=def; theme=dark")
        assert line == f"Cookie: sid={REDACTED}; sid_bind={REDACTED}; theme={REDACTED}"
        assert redact("x sid_bind=def") == f"x sid_bind={REDACTED}"  # by name, anywhere
        record = logging.getLogRecordFactory()("t", logging.INFO, "f", 1, "token=%s", ("x",), None)
        assert record.getMessage() == f"token={REDACTED}"
    finally:
        uninstall_log_redaction()
