"""Settings read once from a mapping (the environment, in server.py and the CLI)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from engine.errors import HookwiseError
from engine.github.credentials import AppCredentials
from engine.text import seconds_of


class SettingsError(HookwiseError):
    """A setting is missing or malformed; the server refuses to start."""


def _number(env: Mapping[str, str], name: str, default: float, kind: type = float) -> Any:
    """A number setting (kind int or float), or a SettingsError naming the variable."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return kind(raw)
    except ValueError:
        word = "a whole number" if kind is int else "a number"
        raise SettingsError(f"{name} must be {word}, not {raw!r}") from None


def _duration(env: Mapping[str, str], name: str) -> float | None:
    """A span setting (`90s`, `15m`, `1h`, `7d` or seconds), None when unset or 0."""
    raw = env.get(name)
    if raw is None or not raw.strip():
        return None
    try:
        seconds = seconds_of(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}: {exc}") from None
    return seconds or None


def _cache_dir(env: Mapping[str, str]) -> str | None:
    """HOOKWISE_CACHE_DIR, else $XDG_CACHE_HOME/hookwise or ~/.cache/hookwise; `off` for none."""
    given = env.get("HOOKWISE_CACHE_DIR")
    if given is not None:
        return None if given.strip().lower() in ("", "off", "none", "false") else given
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "hookwise")


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in env.get(name, "").split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    """Server configuration (docs/design.md §5); secrets are kept out of repr()."""

    rules_path: str = "rules/"
    rules_cache: str | None = None  # a folder for compiled rules (HOOKWISE_CACHE_DIR)
    database_url: str = "sqlite:///hookwise.db"
    github_api_base_url: str = "https://api.github.com"
    github_web_url: str = "https://github.com"
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    app_id: str | None = None
    app_private_key: str | None = field(default=None, repr=False)
    app_login: str | None = None  # the App's bot login (slug[bot]); its own events are ignored
    app_slug: str | None = None
    webhook_secrets: tuple[str, ...] = field(default=(), repr=False)
    insecure_no_signature: bool = False
    workers: int = 16  # jobs the server itself runs at once (0: it only accepts deliveries)
    lease_seconds: float = 60.0
    job_attempts: int = 3  # tries of a job whose failure may pass (GitHub 5xx, rate limits)
    commit_timeout: float = 8.0  # answer 503 when a delivery is not committed by then
    busy_timeout: float = 5.0  # the longest wait for a database lock
    queue_age_alarm: float = 300.0  # /health raises an alarm past this queue age (seconds)
    access_log: bool = False
    retention_days: float = 30.0
    # repository rules (.github/hookwise) and organisation defaults (<owner>/.github)
    repo_rules: bool = True
    command_help: bool = False  # answer /help with the rules' slash commands
    repo_rules_ttl: float = 600.0  # seconds a version is used before the branch is looked at
    repo_rules_max_files: int = 50
    repo_rules_max_bytes: int = 64 * 1024
    # what a server rule's run may produce (repository rules: at most 256 KiB and 1 MiB)
    max_node_output_bytes: int = 1 << 20
    max_run_record_bytes: int = 8 << 20
    # a write whose answer never came is looked for again only after this long
    write_settle_seconds: float = 60.0
    # GitHub's budget (engine.github.economy): seconds between an installation's writes, the
    # least wait after a secondary limit without retry-after, the longest wait a worker holds
    # (a longer one defers its job), and the answers kept for conditional requests
    github_write_gap: float = 1.0
    github_secondary_wait: float = 60.0
    github_max_hold: float = 5.0
    github_cache_entries: int = 10_000
    rate_webhooks: int = 60  # failed verifications per minute per client IP
    rate_auth: int = 100
    rate_api: int = 500  # per minute per user
    allowed_cidrs: tuple[str, ...] = ()
    log_level: str = "INFO"
    jwt_secret: str | None = field(default=None, repr=False)
    jwt_jwks_url: str | None = None
    jwt_audience: str = "authenticated"
    encryption_keys: tuple[str, ...] = field(default=(), repr=False)
    frontend_url: str | None = None
    state_secret: str | None = field(default=None, repr=False)
    ui_token: str | None = field(default=None, repr=False)  # the browser log's login
    recover_interval: float | None = None  # seconds between `recover` passes (None: off)
    # addresses of reverse proxies whose X-Forwarded-For is believed (none: the peer is the client)
    trusted_proxies: tuple[str, ...] = ()
    metrics_token: str | None = field(default=None, repr=False)  # Bearer token for /metrics
    api_docs: bool = False  # serve /docs and /openapi.json

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> Settings:
        """Settings from environment-style variables."""
        secrets = tuple(
            s
            for s in (env.get("GITHUB_WEBHOOK_SECRET"), env.get("GITHUB_WEBHOOK_SECRET_PREVIOUS"))
            if s
        )
        for name in ("GITHUB_WEBHOOK_SECRET", "GITHUB_WEBHOOK_SECRET_PREVIOUS"):
            value = env.get(name)
            if value and not value.strip():
                raise SettingsError(f"{name} is only whitespace; set a real secret")
        key = env.get("GITHUB_APP_PRIVATE_KEY") or None
        if key is not None and "\\n" in key and "\n" not in key:
            key = key.replace("\\n", "\n")  # a one-line key, as .env files and CI secrets hold it
        key_path = env.get("GITHUB_APP_PRIVATE_KEY_PATH")
        if key is None and key_path:
            try:
                with open(key_path, encoding="utf-8") as handle:
                    key = handle.read()
            except OSError as exc:
                raise SettingsError(
                    f"GITHUB_APP_PRIVATE_KEY_PATH: cannot read {key_path}: {exc.strerror}"
                ) from None
        ui_token = env.get("HOOKWISE_UI_TOKEN") or None
        if ui_token is not None and len(ui_token) < 16:
            raise SettingsError(
                "HOOKWISE_UI_TOKEN must have at least 16 characters (it guards every delivery's "
                "payload); make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        slug = env.get("GITHUB_APP_SLUG") or None
        return cls(
            rules_path=env.get("HOOKWISE_RULES", "rules/"),
            rules_cache=_cache_dir(env),
            database_url=env.get("DATABASE_URL", "sqlite:///hookwise.db"),
            github_api_base_url=env.get("GITHUB_API_BASE_URL", "https://api.github.com"),
            github_web_url=env.get("GITHUB_WEB_URL") or "https://github.com",
            client_id=env.get("GITHUB_CLIENT_ID") or None,
            client_secret=env.get("GITHUB_CLIENT_SECRET") or None,
            app_id=env.get("GITHUB_APP_ID") or None,
            app_private_key=key,
            app_slug=slug,
            app_login=env.get("HOOKWISE_APP_LOGIN") or (f"{slug}[bot]" if slug else None),
            webhook_secrets=secrets,
            insecure_no_signature=_flag(env, "HOOKWISE_INSECURE_NO_SIGNATURE"),
            workers=_number(env, "HOOKWISE_WORKERS", 16, int),
            lease_seconds=_number(env, "HOOKWISE_LEASE_SECONDS", 60.0),
            job_attempts=_number(env, "HOOKWISE_JOB_ATTEMPTS", 3, int),
            commit_timeout=_number(env, "HOOKWISE_COMMIT_TIMEOUT", 8.0),
            busy_timeout=_number(env, "HOOKWISE_BUSY_TIMEOUT", 5.0),
            queue_age_alarm=_number(env, "HOOKWISE_QUEUE_AGE_ALARM", 300.0),
            access_log=_flag(env, "HOOKWISE_ACCESS_LOG"),
            retention_days=_number(env, "HOOKWISE_RETENTION_DAYS", 30.0),
            repo_rules=env.get("HOOKWISE_REPO_RULES", "true").strip().lower()
            not in ("0", "false", "no", "off"),
            command_help=_flag(env, "HOOKWISE_COMMAND_HELP"),
            repo_rules_ttl=_number(env, "HOOKWISE_REPO_RULES_TTL", 600.0),
            repo_rules_max_files=_number(env, "HOOKWISE_REPO_RULES_MAX_FILES", 50, int),
            repo_rules_max_bytes=_number(env, "HOOKWISE_REPO_RULES_MAX_BYTES", 65536, int),
            max_node_output_bytes=_number(env, "HOOKWISE_MAX_NODE_OUTPUT_BYTES", 1 << 20, int),
            max_run_record_bytes=_number(env, "HOOKWISE_MAX_RUN_RECORD_BYTES", 8 << 20, int),
            write_settle_seconds=_number(env, "HOOKWISE_WRITE_SETTLE_SECONDS", 60.0),
            github_write_gap=_number(env, "HOOKWISE_GITHUB_WRITE_GAP", 1.0),
            github_secondary_wait=_number(env, "HOOKWISE_GITHUB_SECONDARY_WAIT", 60.0),
            github_max_hold=_number(env, "HOOKWISE_GITHUB_MAX_HOLD", 5.0),
            github_cache_entries=_number(env, "HOOKWISE_GITHUB_CACHE_ENTRIES", 10_000, int),
            rate_webhooks=_number(env, "HOOKWISE_RATE_LIMIT_WEBHOOKS", 60, int),
            rate_auth=_number(env, "HOOKWISE_RATE_LIMIT_AUTH", 100, int),
            rate_api=_number(env, "HOOKWISE_RATE_LIMIT_API", 500, int),
            allowed_cidrs=_list(env, "HOOKWISE_ALLOWED_CIDRS"),
            log_level=env.get("HOOKWISE_LOG_LEVEL", "INFO").upper(),
            jwt_secret=env.get("JWT_SECRET") or None,
            jwt_jwks_url=env.get("JWT_JWKS_URL") or None,
            jwt_audience=env.get("JWT_AUDIENCE") or "authenticated",
            encryption_keys=_list(env, "ENCRYPTION_KEY"),
            frontend_url=env.get("HOOKWISE_FRONTEND_URL") or None,
            state_secret=env.get("HOOKWISE_STATE_SECRET") or None,
            ui_token=ui_token,
            trusted_proxies=tuple(
                p.strip() for p in env.get("HOOKWISE_TRUSTED_PROXIES", "").split(",") if p.strip()
            ),
            metrics_token=env.get("HOOKWISE_METRICS_TOKEN") or ui_token,
            api_docs=_flag(env, "HOOKWISE_API_DOCS"),
            recover_interval=_duration(env, "HOOKWISE_RECOVER_INTERVAL"),
        )

    def with_rules(self, path: str) -> Settings:
        """A copy with another rules path."""
        return replace(self, rules_path=path)

    @property
    def reads_repository_rules(self) -> bool:
        """Repository rules are on and can be read (they need App credentials)."""
        return self.repo_rules and self.app_id is not None

    @property
    def dry_run(self) -> bool:
        """Without App credentials the server records GitHub writes instead of sending them."""
        return self.app_id is None

    def app_credentials(self) -> AppCredentials | None:
        """The App credentials, or None when there are none (dry-run mode)."""
        if not self.app_id:
            return None
        if not self.app_private_key:
            raise SettingsError("GITHUB_APP_ID is set but GITHUB_APP_PRIVATE_KEY(_PATH) is not")
        return AppCredentials.from_pem(self.app_id, self.app_private_key)
