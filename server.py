"""The ASGI entry point: `uvicorn server:app` (settings come from the environment).

uvicorn believes X-Forwarded-For from 127.0.0.1 unless told otherwise: run it with
`--no-proxy-headers`, or `--forwarded-allow-ips` set to your proxies (what `hookwise serve`
does from HOOKWISE_TRUSTED_PROXIES)."""

from __future__ import annotations

import os

from engine.edge.web import configure_logging, create_app
from engine.settings import Settings

settings = Settings.from_mapping(os.environ)
configure_logging(settings)
app = create_app(settings)
