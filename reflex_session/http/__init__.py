"""HTTP adapters over the core: the session API (``handlers``) and the page guard (``middleware``).

They use Starlette (which Reflex already ships) and nothing of Reflex itself.
"""

from .handlers import SessionAPI
from .middleware import SessionMiddleware

__all__ = ["SessionAPI", "SessionMiddleware"]
