"""Settings read once from a mapping (the environment, in server.py and the CLI)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Settings:
    """Server configuration (DESIGN §5)."""

    rules_path: str = "rules/"
    database_url: str = "sqlite:///hookwise.db"
    github_api_base_url: str = "https://api.github.com"
    app_id: str | None = None
    app_private_key: str | None = field(default=None, repr=False)
    webhook_secrets: tuple[str, ...] = field(default=(), repr=False)

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> Settings:
        """Settings from environment-style variables."""
        secrets = tuple(
            s
            for s in (env.get("GITHUB_WEBHOOK_SECRET"), env.get("GITHUB_WEBHOOK_SECRET_PREVIOUS"))
            if s
        )
        key = env.get("GITHUB_APP_PRIVATE_KEY") or None
        key_path = env.get("GITHUB_APP_PRIVATE_KEY_PATH")
        if key is None and key_path:
            with open(key_path, encoding="utf-8") as handle:
                key = handle.read()
        return cls(
            app_private_key=key,
            rules_path=env.get("HOOKWISE_RULES", "rules/"),
            database_url=env.get("DATABASE_URL", "sqlite:///hookwise.db"),
            github_api_base_url=env.get("GITHUB_API_BASE_URL", "https://api.github.com"),
            app_id=env.get("GITHUB_APP_ID") or None,
            webhook_secrets=secrets,
        )

    def with_rules(self, path: str) -> Settings:
        """A copy with another rules path."""
        return replace(self, rules_path=path)

    @property
    def dry_run(self) -> bool:
        """Without App credentials the server records GitHub writes instead of sending them."""
        return self.app_id is None
