"""The one ``ReflexSession`` an app installed, and the install options, for the Reflex layer.

State classes are created by Reflex, not by us, so they cannot be handed the session object in a
constructor; :func:`reflex_session.reflex.install` registers it here once at app start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..config import ClientOptions
from ..errors import ConfigError

if TYPE_CHECKING:
    from reflex.app import App

    from ..auth import ReflexSession

__all__ = [
    "ClientOptions",
    "get_app",
    "get_auth",
    "get_extension",
    "get_options",
    "set_extension",
    "set_runtime",
]


_state: dict[str, Any] = {}


def set_runtime(app: App, auth: ReflexSession[Any], options: ClientOptions) -> None:
    """Register the app, its ``ReflexSession`` and the client options (``install`` does it once)."""
    _state.update(app=app, auth=auth, options=options)


def get_auth() -> ReflexSession[Any]:
    """The installed ``ReflexSession``.

    Raises :class:`ConfigError` saying how to fix it when ``install`` was not called, rather than a
    bare ``KeyError`` deep inside an event.
    """
    try:
        return _state["auth"]  # type: ignore[no-any-return]
    except KeyError:
        raise ConfigError(
            "install",
            "no ReflexSession is installed",
            "call reflex_session.reflex.install(app, auth) in your app module after rx.App()",
        ) from None


def get_app() -> App:
    """The app ``install`` was given (raises like :func:`get_auth` before ``install``)."""
    get_auth()
    return _state["app"]  # type: ignore[no-any-return]


def get_options() -> ClientOptions:
    """The client options ``install`` was given; the defaults before ``install``."""
    return _state.get("options") or ClientOptions()


def set_extension(name: str, value: Any) -> None:
    """App-provided functions the layer calls (``authenticate``, ``register``)."""
    _state[f"ext:{name}"] = value


def get_extension(name: str) -> Any:
    """The app-provided function registered as ``name``, or ``None`` if the app gave none."""
    return _state.get(f"ext:{name}")
