"""schemathesis against the app's own OpenAPI: no 5xx, no answer outside the description.

Bounded in examples per operation, so it runs within `make test`."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from engine.edge.web import create_app
from tests.conftest import REPO
from tests.serverkit import server_settings

_TMP = Path(tempfile.mkdtemp(prefix="hookwise-fuzz-"))
APP = create_app(
    server_settings(
        _TMP,
        REPO / "rules",
        jwt_secret="fuzzing-secret-that-is-long-enough-for-hs256",
        encryption_keys=(Fernet.generate_key().decode(),),
        app_slug="hookwise-fuzz",
        rate_webhooks=0,
        rate_auth=0,
        rate_api=0,
        api_docs=True,
    ),
    start_workers=False,
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@schema.parametrize()
@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi(case: schemathesis.Case) -> None:
    # "no 5xx and no schema violations": schemathesis' positive_data_acceptance check is left
    # out on purpose, since a schema-valid but unsigned webhook or forged state must be refused
    case.call_and_validate(checks=CHECKS)
