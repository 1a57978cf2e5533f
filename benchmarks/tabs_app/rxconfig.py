"""The app of ``benchmarks/tabs.py`` (see ``tabs_app/tabs_app.py``)."""

import reflex as rx

config = rx.Config(
    app_name="tabs_app",
    telemetry_enabled=False,
    plugins=[rx.plugins.RadixThemesPlugin(), rx.plugins.SitemapPlugin()],
    # the tab states in this process, as the demo keeps them (rxconfig.py at the root says why):
    # the server's RSS is where a tab's cost shows
    state_manager_mode="memory",
)
