"""Reflex configuration for the demo app (demo/demo.py)."""

import os

import reflex as rx

config = rx.Config(
    app_name="demo",
    db_url=os.environ.get("DATABASE_URL", "sqlite:///reflex.db"),
    telemetry_enabled=False,
    show_built_with_reflex=False,
)
