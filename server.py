"""The ASGI entry point: `uvicorn server:app` (settings come from the environment)."""

from __future__ import annotations

import os

from engine.server.app import configure_logging, create_app
from engine.settings import Settings

settings = Settings.from_mapping(os.environ)
configure_logging(settings)
app = create_app(settings)
