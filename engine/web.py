"""The web application (FastAPI). The full webhook surface comes with the server issue."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from engine.ruleset import load_rules
from engine.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    """Build the ASGI app for these settings (rules are loaded and checked at start-up)."""
    ruleset = load_rules([settings.rules_path])
    app = FastAPI(title="hookwise", version="0.1.0")
    app.state.settings = settings
    app.state.ruleset = ruleset

    @app.get("/health")
    def health() -> dict[str, Any]:
        """Liveness with the loaded rule count."""
        return {
            "status": "ok",
            "rules": len(ruleset.rules),
            "dry_run": settings.dry_run,
        }

    return app
