"""The ASGI entry point: `uvicorn server:app`."""

from __future__ import annotations

import os

from engine.settings import Settings
from engine.web import create_app

app = create_app(Settings.from_mapping(os.environ))
