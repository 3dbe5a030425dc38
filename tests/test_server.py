"""The webhook server in-process: ingest, durable jobs, bad input, health, metrics."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from engine.edge.verify import sign, verify_signature
from engine.edge.web import create_app
from engine.settings import SettingsError
from engine.store.sqlite import SQLiteStore
from tests.conftest import DATA, REPO, shared
from tests.double import GitHubDouble
from tests.rulekit import payload
from tests.serverkit import SECRET, server_settings, signed, wait_until, write_rule
from tests.storekit import refuse_writes


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    shutil.copy(REPO / "rules" / "docs-label.yaml", folder)
    shutil.copy(REPO / "rules" / "welcome-first-time.yaml", folder)
    shutil.copy(DATA / "server-rules" / "greet-issues.yaml", folder)
    return folder


def test_signature_test_vector_from_githubs_docs() -> None:
    text = shared("github", "webhooks", "HEADERS.md").read_text()
    assert "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17" in text
    body = b"Hello, World!"
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert sign(body, "It's a Secret to Everybody") == expected
    assert verify_signature(body, expected, ["old secret", "It's a Secret to Everybody"])
    assert not verify_signature(body, expected, ["wrong"])


def test_end_to_end_signed_real_payload_comments_on_the_double(
    tmp_path: Path, rules_dir: Path, github: GitHubDouble
) -> None:
    data = payload("pull_request", "opened.2")
    github.add_installation(1, "Codertocat")
    github.world.add_pull(
        "Codertocat/Hello-World",
        2,
        files=["docs/guide.md"],
        labels=["bug"],
        head_sha=data["pull_request"]["head"]["sha"],
    )
    settings = server_settings(tmp_path, rules_dir, github)
    with TestClient(create_app(settings)) as client:
        body, headers = signed(data, "pull_request", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
        response = client.post("/webhooks/github", content=body, headers=headers)
        assert response.status_code == 202
        assert response.json() == {
            "delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
            "event": "pull_request",
            "matched": ["welcome-first-time"],
            "pending": ["docs-label"],
            "duplicate": False,
        }
        issue = github.world.repo("Codertocat", "Hello-World").issues[2]
        wait_until(lambda: issue.comments)
        store = SQLiteStore.from_url(settings.database_url)
        wait_until(lambda: len(store.runs("72d3162e-cc78-11e3-81ab-4c9367dc0958")) == 2)
    assert [c["body"].split("\n")[0] for c in issue.comments] == [
        "Thanks @Codertocat, labelled as documentation."
    ]
    assert issue.labels == ["bug", "documentation"]
    # fetched once: the worker decided the paths filter and the files node reused the list
    assert len(github.calls("pulls/list-files")) == 1
    runs = store.runs("72d3162e-cc78-11e3-81ab-4c9367dc0958")
    by_rule = {r["rule"]: r for r in runs}
    assert {r["rule"]: r["status"] for r in runs} == {
        "docs-label": "success",
        "welcome-first-time": "success",
    }
    assert [n["status"] for n in by_rule["docs-label"]["record"]["nodes"]] == [
        "success",
        "success",
        "success",
    ]
    assert [n["status"] for n in by_rule["welcome-first-time"]["record"]["nodes"]] == [
        "skipped",
        "skipped",
    ]
    delivery = store.delivery("72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert delivery is not None and delivery.repository == "Codertocat/Hello-World"
    assert delivery.match_trace == {
        "matched": ["welcome-first-time"],
        "pending": ["docs-label"],
        "not_matched": [],
        "not_candidates": 1,
    }
    assert "x-hub-signature-256" not in delivery.headers


def test_duplicate_delivery_answers_200_and_starts_nothing(tmp_path: Path, rules_dir: Path) -> None:
    settings = server_settings(tmp_path, rules_dir)
    with TestClient(create_app(settings, start_workers=False)) as client:
        body, headers = signed(payload("issues", "opened.1"), "issues", "dup-1")
        first = client.post("/webhooks/github", content=body, headers=headers)
        second = client.post("/api/v1/public/webhooks/github", content=body, headers=headers)
    assert (first.status_code, first.json()["duplicate"], first.json()["matched"]) == (
        202,
        False,
        ["greet-issues"],
    )
    assert (second.status_code, second.json()) == (
        200,
        {"delivery": "dup-1", "event": "issues", "matched": [], "duplicate": True},
    )
    store = SQLiteStore.from_url(settings.database_url)
    assert len(store.jobs("dup-1")) == 1


def test_ping_answers_200_and_form_encoded_bodies_are_accepted(
    tmp_path: Path, rules_dir: Path
) -> None:
    settings = server_settings(tmp_path, rules_dir)
    form = urlencode({"payload": json.dumps(payload("ping", "ping.1"))}).encode()
    with TestClient(create_app(settings, start_workers=False)) as client:
        body, headers = signed(form, "ping", "ping-1")
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        response = client.post("/webhooks/github", content=body, headers=headers)
    assert (response.status_code, response.json()["event"]) == (200, "ping")


def test_previous_secret_is_accepted_during_rotation(tmp_path: Path, rules_dir: Path) -> None:
    settings = server_settings(tmp_path, rules_dir, webhook_secrets=("new-secret", "old-secret"))
    with TestClient(create_app(settings, start_workers=False)) as client:
        for i, secret in enumerate(["new-secret", "old-secret"]):
            body, headers = signed(
                payload("issues", "opened.1"), "issues", f"rot-{i}", secret=secret
            )
            assert client.post("/webhooks/github", content=body, headers=headers).status_code == 202


def test_server_refuses_to_start_without_a_secret(tmp_path: Path, rules_dir: Path) -> None:
    with pytest.raises(SettingsError, match="GITHUB_WEBHOOK_SECRET is not set"):
        create_app(server_settings(tmp_path, rules_dir, webhook_secrets=()))
    app = create_app(
        server_settings(tmp_path, rules_dir, webhook_secrets=(), insecure_no_signature=True),
        start_workers=False,
    )
    with TestClient(app) as client:
        body, headers = signed(payload("issues", "opened.1"), "issues", "insecure-1")
        del headers["X-Hub-Signature-256"]
        assert client.post("/webhooks/github", content=body, headers=headers).status_code == 202


def _bad_requests() -> list[tuple[str, Any, int, str]]:
    good = json.dumps(payload("issues", "opened.1")).encode()

    def req(body: bytes = good, drop: tuple[str, ...] = (), **set_headers: str) -> dict[str, Any]:
        headers = {
            "Content-Type": "application/json",
            "X-GitHub-Event": "issues",
            "X-GitHub-Delivery": "bad-1",
            "X-Hub-Signature-256": sign(body, SECRET),
        }
        headers.update({k.replace("_", "-"): v for k, v in set_headers.items()})
        for name in drop:
            headers.pop(name, None)
        return {"content": body, "headers": headers}

    def resign(body: bytes, **set_headers: str) -> dict[str, Any]:
        return req(body, **set_headers)

    form_without_payload = urlencode({"data": "{}"}).encode()
    return [
        (
            "missing signature",
            req(drop=("X-Hub-Signature-256",)),
            401,
            "missing X-Hub-Signature-256 header",
        ),
        (
            "empty signature",
            req(**{"X-Hub-Signature-256": ""}),
            401,
            "missing X-Hub-Signature-256 header",
        ),
        (
            "wrong secret",
            req(**{"X-Hub-Signature-256": sign(good, "wrong")}),
            401,
            "does not match",
        ),
        (
            "sha1 signature only",
            req(**{"X-Hub-Signature-256": "sha1=" + "0" * 40}),
            401,
            "does not match",
        ),
        (
            "truncated signature",
            req(**{"X-Hub-Signature-256": sign(good, SECRET)[:-2]}),
            401,
            "does not match",
        ),
        (
            "signature of another body",
            req(**{"X-Hub-Signature-256": sign(good + b" ", SECRET)}),
            401,
            "does not match",
        ),
        (
            "not hex signature",
            req(**{"X-Hub-Signature-256": "sha256=" + "z" * 64}),
            401,
            "does not match",
        ),
        ("truncated JSON", resign(good[:-10]), 400, "malformed JSON"),
        ("empty body", resign(b""), 400, "malformed JSON"),
        ("JSON array", resign(b"[1, 2]"), 400, "must be a JSON object"),
        ("JSON string", resign(b'"text"'), 400, "must be a JSON object"),
        ("non-UTF-8 body", resign(b'{"a": "\xff\xfe"}'), 400, "not UTF-8"),
        ("deeply nested JSON", resign(b"[" * 100_000 + b"]" * 100_000), 400, "malformed JSON"),
        (
            "wrong content type",
            req(Content_Type="text/plain"),
            415,
            "unsupported content type 'text/plain'",
        ),
        ("xml content type", req(Content_Type="application/xml"), 415, "unsupported content type"),
        ("no content type", req(drop=("Content-Type",)), 415, "unsupported content type"),
        (
            "multipart",
            req(Content_Type="multipart/form-data; boundary=x"),
            415,
            "unsupported content type",
        ),
        ("oversize body", resign(b" " * (25 * 1024 * 1024 + 1)), 413, "larger than"),
        ("missing event header", req(drop=("X-GitHub-Event",)), 400, "X-GitHub-Event"),
        ("empty event header", req(X_GitHub_Event=""), 400, "X-GitHub-Event"),
        ("missing delivery header", req(drop=("X-GitHub-Delivery",)), 400, "X-GitHub-Delivery"),
        ("empty delivery header", req(X_GitHub_Delivery=" "), 400, "X-GitHub-Delivery"),
        ("delivery id with spaces", req(X_GitHub_Delivery="a b"), 400, "not a delivery id"),
        (
            "unknown event",
            req(X_GitHub_Event="pull_requests"),
            400,
            "unknown event 'pull_requests'",
        ),
        (
            "form body without payload",
            resign(form_without_payload, Content_Type="application/x-www-form-urlencoded"),
            400,
            "no payload field",
        ),
        (
            "form payload not JSON",
            resign(
                urlencode({"payload": "{nope"}).encode(),
                Content_Type="application/x-www-form-urlencoded",
            ),
            400,
            "malformed JSON",
        ),
        (
            "form body not UTF-8",
            resign(b"payload=%7B%7D\xff", Content_Type="application/x-www-form-urlencoded"),
            400,
            "not UTF-8",
        ),
    ]


BAD = _bad_requests()


def test_bad_input_table_is_large_enough() -> None:
    assert len(BAD) >= 25


def test_every_malformed_request_gets_its_4xx_and_the_server_keeps_serving(
    tmp_path: Path, rules_dir: Path
) -> None:
    settings = server_settings(tmp_path, rules_dir)
    with TestClient(
        create_app(settings, start_workers=False), raise_server_exceptions=True
    ) as client:
        for name, request, status, message in BAD:
            response = client.post("/webhooks/github", **request)
            assert response.status_code == status, name
            assert message in response.json()["error"], name
            assert response.headers["content-type"].startswith("application/json"), name
        body, headers = signed(payload("issues", "opened.1"), "issues", "after-the-storm")
        assert client.post("/webhooks/github", content=body, headers=headers).status_code == 202
        metrics = client.get("/metrics").text
    store = SQLiteStore.from_url(settings.database_url)
    assert [d.delivery_id for d in store.deliveries()] == ["after-the-storm"]
    assert 'hookwise_deliveries_rejected_total{reason="signature_invalid"} 5.0' in metrics


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/webhooks/github", 405), ("GET", "/nowhere", 404), ("PUT", "/health", 405)],
)
def test_routing_errors_are_json(
    tmp_path: Path, rules_dir: Path, method: str, path: str, status: int
) -> None:
    with TestClient(
        create_app(server_settings(tmp_path, rules_dir), start_workers=False)
    ) as client:
        response = client.request(method, path)
    assert response.status_code == status
    assert "error" in response.json()


def test_installation_events_keep_the_installations_table(tmp_path: Path, rules_dir: Path) -> None:
    settings = server_settings(tmp_path, rules_dir)
    store = SQLiteStore.from_url(settings.database_url)

    def send(client: TestClient, event: str, name: str) -> dict[str, Any]:
        data = payload(event, name)
        body, headers = signed(data, event, f"{event}-{name}")
        assert client.post("/webhooks/github", content=body, headers=headers).status_code in (
            200,
            202,
        )
        return data

    with TestClient(create_app(settings, start_workers=False)) as client:
        created = send(client, "installation", "created.1")
        installation_id = created["installation"]["id"]
        row = store.installation(installation_id)
        assert row is not None and row["account"] == created["installation"]["account"]["login"]
        assert row["repositories"] == sorted(r["full_name"] for r in created["repositories"])
        added = send(client, "installation_repositories", "added.1")
        assert added["installation"]["id"] == installation_id
        row = store.installation(installation_id)
        assert row is not None
        assert set(row["repositories"]) == {
            r["full_name"] for r in created["repositories"] + added["repositories_added"]
        }
        suspended = send(client, "installation", "suspend.1")
        row = store.installation(suspended["installation"]["id"])
        assert row is not None and row["suspended_at"] is not None
        assert store.active_installations() == 1
        removed = send(client, "installation_repositories", "removed.1")
        row = store.installation(removed["installation"]["id"])
        assert row is not None
        assert not {r["full_name"] for r in removed["repositories_removed"]} & set(
            row["repositories"]
        )
        deleted = payload("installation", "deleted.1")
        store.upsert_installation(
            deleted["installation"]["id"], account="octocat", account_type="User"
        )
        send(client, "installation", "deleted.1")
        gone = store.installation(deleted["installation"]["id"])
        assert gone is not None and gone["deleted_at"] is not None


def test_health_and_metrics(tmp_path: Path, rules_dir: Path) -> None:
    settings = server_settings(tmp_path, rules_dir)
    with TestClient(create_app(settings)) as client:
        health = client.get("/health")
        body, headers = signed(payload("issues", "opened.1"), "issues", "m-1")
        client.post("/webhooks/github", content=body, headers=headers)
        metrics = client.get("/metrics")
    assert health.status_code == 200
    assert health.json()["checks"] == {"database_writable": True, "workers_alive": True}
    text = metrics.text
    for name in [
        'hookwise_deliveries_received_total{event="issues"} 1.0',
        "hookwise_queue_depth",
        "hookwise_ingest_seconds_bucket",
        "hookwise_run_seconds_bucket",
        "hookwise_active_installations",
        "hookwise_github_token_refreshes",
    ]:
        assert name in text


def test_health_is_503_when_the_database_is_not_writable(tmp_path: Path, rules_dir: Path) -> None:
    settings = server_settings(tmp_path, rules_dir)
    app = create_app(settings, start_workers=False)
    with TestClient(app) as client:
        refuse_writes(app.state.hookwise.store.path)
        response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["checks"]["database_writable"] is False


def test_failed_verifications_are_limited_per_address_but_deliveries_never(
    tmp_path: Path, rules_dir: Path
) -> None:
    settings = server_settings(tmp_path, rules_dir, rate_webhooks=3)
    with TestClient(create_app(settings, start_workers=False)) as client:
        good = []
        for i in range(10):  # GitHub never retries a 429: verified deliveries always pass
            body, headers = signed(payload("issues", "opened.1"), "issues", f"rl-{i}")
            good.append(client.post("/webhooks/github", content=body, headers=headers).status_code)
        bad = []
        for i in range(5):
            body, headers = signed(payload("issues", "opened.1"), "issues", f"bad-{i}", secret="x")
            response = client.post("/webhooks/github", content=body, headers=headers)
            bad.append(response.status_code)
        body, headers = signed(payload("issues", "opened.1"), "issues", "rl-after")
        after = client.post("/webhooks/github", content=body, headers=headers)
    assert good == [202] * 10
    assert bad == [401, 401, 401, 429, 429]
    assert int(response.headers["retry-after"]) >= 1
    # the address is spent for failures, but a verified delivery from it is still accepted
    assert after.status_code == 202


def test_source_allow_list(tmp_path: Path, rules_dir: Path) -> None:
    settings = server_settings(tmp_path, rules_dir, allowed_cidrs=("192.30.252.0/22",))
    with TestClient(create_app(settings, start_workers=False)) as client:
        body, headers = signed(payload("issues", "opened.1"), "issues", "cidr-1")
        response = client.post("/webhooks/github", content=body, headers=headers)
    assert (response.status_code, response.json()) == (
        403,
        {"error": "source address is not allowed"},
    )


def test_request_ids_are_returned(tmp_path: Path, rules_dir: Path) -> None:
    with TestClient(
        create_app(server_settings(tmp_path, rules_dir), start_workers=False)
    ) as client:
        assert (
            client.get("/health", headers={"X-Request-ID": "abc"}).headers["x-request-id"] == "abc"
        )
        assert len(client.get("/health").headers["x-request-id"]) == 32
        huge = client.get("/health", headers={"X-Request-ID": "a" * 5000})
        assert len(huge.headers["x-request-id"]) == 32  # not echoed: generated anew
        odd = client.get("/health", headers={"X-Request-ID": "a b<script>"})
        assert len(odd.headers["x-request-id"]) == 32


def test_delivery_and_jobs_are_committed_together(tmp_path: Path, rules_dir: Path) -> None:
    settings = server_settings(tmp_path, rules_dir)
    with TestClient(create_app(settings, start_workers=False)) as client:
        body, headers = signed(payload("issues", "opened.1"), "issues", "tx-1")
        client.post("/webhooks/github", content=body, headers=headers)
    db = sqlite3.connect(tmp_path / "hookwise.db")
    rows = db.execute(
        "SELECT d.delivery_id, j.rule, j.state FROM deliveries d JOIN jobs j USING (delivery_id)"
    ).fetchall()
    assert rows == [("tx-1", "greet-issues", "queued")]


def test_the_apps_own_deliveries_never_match(tmp_path: Path, github: GitHubDouble) -> None:
    slug = github.spec.example("integration")["slug"]
    rules = write_rule(
        tmp_path / "own-rules",
        "bots-welcome",
        "name: bots-welcome\non:\n  events: [issues]\n  ignore-bots: false\n"
        "nodes:\n  log:\n    uses: core.log\n    with: {message: hi}\n",
    )
    settings = server_settings(tmp_path, rules, github)
    with TestClient(create_app(settings, start_workers=False)) as client:
        answers = []
        for i, login in enumerate([f"{slug}[bot]", "other-app[bot]"]):
            data = payload("issues", "opened.1")
            data["sender"] = {"login": login, "type": "Bot"}
            body, headers = signed(data, "issues", f"own-{i}")
            answers.append(
                client.post("/webhooks/github", content=body, headers=headers).json()["matched"]
            )
    assert answers == [[], ["bots-welcome"]]  # other bots may trigger; the App itself never
    assert github.calls("apps/get-authenticated")


def test_a_delivery_that_cannot_be_stored_gets_503_not_202(tmp_path: Path, rules_dir: Path) -> None:
    settings = server_settings(tmp_path, rules_dir)
    app = create_app(settings, start_workers=False)
    with TestClient(app) as client:
        refuse_writes(app.state.hookwise.store.path)
        body, headers = signed(payload("issues", "opened.1"), "issues", "full-disk-1")
        response = client.post("/webhooks/github", content=body, headers=headers)
        refuse_writes(app.state.hookwise.store.path, False)
        again = client.post("/webhooks/github", content=body, headers=headers)
    assert (response.status_code, response.json()) == (
        503,
        {"error": "the delivery could not be stored; it was not accepted"},
    )
    assert (again.status_code, again.json()["duplicate"]) == (202, False)


@pytest.mark.parametrize(
    ("event", "payload_body"),
    [
        ("sub_issues", {"action": "sub_issue_added", "sub_issue_id": 1}),
        ("issue_dependencies", {"action": "blocked_by_added"}),
        ("repository_dispatch", {"action": "deploy", "branch": "main"}),
    ],
)
def test_events_of_the_corrected_catalogue_are_accepted(
    tmp_path: Path, rules_dir: Path, event: str, payload_body: dict[str, Any]
) -> None:
    settings = server_settings(tmp_path, rules_dir)
    with TestClient(create_app(settings, start_workers=False)) as client:
        body, headers = signed(payload_body, event, f"catalogue-{event}")
        response = client.post("/webhooks/github", content=body, headers=headers)
    assert response.status_code == 202, response.text
    assert response.json()["event"] == event
