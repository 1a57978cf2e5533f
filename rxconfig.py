"""Reflex configuration for the demo app (demo/demo.py); run it with scripts/demo.sh."""

import reflex as rx

config = rx.Config(
    app_name="demo",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[rx.plugins.RadixThemesPlugin()],
    disable_plugins=["reflex.plugins.sitemap.SitemapPlugin"],
)
