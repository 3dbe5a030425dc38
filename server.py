"""The ASGI entry point: `uvicorn server:app` (settings come from the environment)."""

from __future__ import annotations

import os

from engine.settings import Settings
from engine.web import configure_logging, create_app

settings = Settings.from_mapping(os.environ)
configure_logging(settings)
app = create_app(settings)
