"""Reflex configuration for the demo app (demo/demo.py); run it with scripts/demo.sh."""

import os

import reflex as rx
from reflex_base.plugins.sitemap import SitemapPlugin

config = rx.Config(
    app_name="demo",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="indigo", radius="large"))],
    disable_plugins=[SitemapPlugin],
    # One worker keeps tab states in memory, several share them in Redis (REFLEX_REDIS_URL).
    # Not Reflex's default disk manager: it lists and stats every saved state file on each write
    # cycle, so its cost grows with the number of tabs (with 1,000 tabs, benchmarks/load.py
    # measured p99 x27-62 against x2.7 in memory at the same pace). Nothing is lost on a restart
    # that matters: the session lives in the cookie and every reconnect reads it again.
    state_manager_mode="redis" if os.environ.get("REFLEX_REDIS_URL") else "memory",
)
