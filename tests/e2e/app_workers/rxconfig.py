"""The multi-worker e2e app (tests/e2e/test_workers.py): Redis state manager, store mode.

Reflex reads ``REFLEX_REDIS_URL`` (set by the test fixture) and then runs several granian
workers; the fixture fixes their number with ``GRANIAN_WORKERS``.
"""

import reflex as rx
from reflex_base.plugins.sitemap import SitemapPlugin

config = rx.Config(
    app_name="workers_app",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[rx.plugins.RadixThemesPlugin()],
    disable_plugins=[SitemapPlugin],
)
