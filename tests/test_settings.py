"""Settings from the environment: defaults, rotation, and clear errors for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.edge.web import create_app
from engine.github.api import ConfigError
from engine.settings import Settings, SettingsError
from tests.conftest import REPO


def test_defaults_match_the_design() -> None:
    settings = Settings.from_mapping({})
    assert (settings.rules_path, settings.database_url, settings.github_api_base_url) == (
        "rules/",
        "sqlite:///hookwise.db",
        "https://api.github.com",
    )
    assert (settings.jwt_audience, settings.dry_run, settings.workers) == ("authenticated", True, 16)


def test_secrets_rotate_and_stay_out_of_repr() -> None:
    env = {
        "GITHUB_WEBHOOK_SECRET": "s3cret-new",
        "GITHUB_WEBHOOK_SECRET_PREVIOUS": "s3cret-old",
        "ENCRYPTION_KEY": "key-one, key-two",
        "GITHUB_APP_SLUG": "my-app",
        "JWT_SECRET": "jwt-s3cret",
    }
    settings = Settings.from_mapping(env)
    assert settings.webhook_secrets == ("s3cret-new", "s3cret-old")
    assert settings.encryption_keys == ("key-one", "key-two")
    assert settings.app_login == "my-app[bot]"
    shown = repr(settings)
    assert "s3cret" not in shown and "key-one" not in shown


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HOOKWISE_WORKERS": "four"}, "HOOKWISE_WORKERS must be a whole number, not 'four'"),
        ({"HOOKWISE_LEASE_SECONDS": "soon"}, "HOOKWISE_LEASE_SECONDS must be a number, not 'soon'"),
        (
            {"GITHUB_APP_PRIVATE_KEY_PATH": "/no/such/key.pem"},
            "GITHUB_APP_PRIVATE_KEY_PATH: cannot read /no/such/key.pem",
        ),
    ],
)
def test_bad_values_are_clear_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Settings.from_mapping(env)


def test_a_malformed_private_key_stops_the_server(tmp_path: Path) -> None:
    settings = Settings(
        rules_path=str(REPO / "rules"),
        database_url=f"sqlite:///{tmp_path / 'h.db'}",
        webhook_secrets=("s",),
        app_id="1",
        app_private_key="-----BEGIN RSA PRIVATE KEY-----\nnope\n-----END RSA PRIVATE KEY-----",
    )
    with pytest.raises(ConfigError, match="GITHUB_APP_PRIVATE_KEY is not a PEM RSA private key"):
        create_app(settings)
