"""From zero to a running App: the manifest (events and least permissions of the rules),
every node type's declared permissions checked against GitHub's OpenAPI description, and
`app create` turning a manifest code into a .env that a server starts with."""

from __future__ import annotations

import html
import json
import os
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.declarations.permissions import NODE_NEEDS
from engine.lang.files import load_rules
from engine.lang.manifest import ALWAYS_DELIVERED, EVENT_PERMISSIONS, LEVELS
from engine.nodes import default_registry
from tests.conftest import DATA, REPO, shared
from tests.double import GitHubDouble
from tests.rulekit import payload
from tests.serverkit import free_port, signed, start_process, stop_process, wait_until

URL = "https://hooks.example.com"
# what the example rules in rules/ need, pinned: a rule or node type that asks for more (or
# less) changes this on purpose
EXAMPLE_PERMISSIONS = {
    "checks": "write",  # conventional-title's check run
    "contents": "write",  # merging pull requests (automerge-dependency-patches, merge-when-ready)
    "issues": "write",  # comments, labels, issue edits and issues
    "members": "read",  # team-review-on-label's `actors: {teams: ...}`
    "metadata": "read",  # every App
    "pull_requests": "write",  # reviews and review requests
    "statuses": "write",  # wip-status
}
EXAMPLE_EVENTS = [
    "check_suite", "issue_comment", "issues", "pull_request", "pull_request_review",
    "pull_request_review_comment", "push",
]


def openapi_operations() -> dict[str, dict[str, Any]]:
    """operationId -> operation, from the shared subset and the supplement."""
    found: dict[str, dict[str, Any]] = {}
    for path in (shared("github", "rest-api-subset.openapi.json"), DATA / "openapi-supplement.json"):
        for item in json.loads(path.read_text())["paths"].values():
            for operation in item.values():
                if isinstance(operation, dict) and "operationId" in operation:
                    found[operation["operationId"]] = operation
    return found


def app_permission_levels() -> dict[str, list[str]]:
    doc = json.loads(shared("github", "rest-api-subset.openapi.json").read_text())
    properties = doc["components"]["schemas"]["app-permissions"]["properties"]
    return {name: spec["enum"] for name, spec in properties.items()}


# --- the manifest ----------------------------------------------------------------------------


@pytest.mark.parametrize("extra", [[], ["--no-repo-rules"]])
def test_the_manifest_of_the_example_rules(cli: Any, extra: list[str]) -> None:
    code, out, err = cli("app", "manifest", "--url", URL, "--rules", str(REPO / "rules"), *extra)
    assert code == 0, err
    manifest = json.loads(out)
    assert manifest["hook_attributes"] == {"url": f"{URL}/webhooks/github", "active": True}
    assert manifest["setup_url"] == f"{URL}/api/v1/public/webhooks/github/auth"
    assert manifest["callback_urls"] == [f"{URL}/api/v1/public/webhooks/github/auth"]
    assert manifest["setup_on_update"] is True and manifest["request_oauth_on_install"] is True
    assert manifest["public"] is False
    assert manifest["default_permissions"] == EXAMPLE_PERMISSIONS
    assert manifest["default_events"] == EXAMPLE_EVENTS
    rules = load_rules([str(REPO / "rules")], default_registry()).rules
    listened = {e for r in rules for e in (r.events or ())} - ALWAYS_DELIVERED
    assert listened <= set(manifest["default_events"])
    assert err == ""


def test_a_trailing_slash_and_an_org_page(cli: Any) -> None:
    code, out, _ = cli("app", "manifest", "--url", URL + "/", "--org", "octo org", "--format", "html")
    assert code == 0
    action = re.search(r'<form action="([^"]+)" method="post">', out)
    assert action is not None
    assert html.unescape(action.group(1)).startswith("https://github.com/organizations/octo%20org/settings/apps/new?state=")
    posted = re.search(r'name="manifest" value="([^"]*)"', out)
    assert posted is not None
    manifest = json.loads(html.unescape(posted.group(1)))
    assert manifest["hook_attributes"]["url"] == f"{URL}/webhooks/github"
    assert "<script" not in out


def test_an_installation_only_rule_set_subscribes_to_nothing(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        "name: r\non:\n  events: [installation]\nnodes:\n  log:\n    uses: core.log\n    with: {message: x}\n"
    )
    code, out, _ = cli("app", "manifest", "--url", URL, "--rules", str(tmp_path), "--no-repo-rules")
    assert code == 0
    manifest = json.loads(out)
    assert manifest["default_events"] == []
    assert manifest["default_permissions"] == {"metadata": "read"}


@pytest.mark.parametrize("url", ["hooks.example.com", "ftp://hooks.example.com", "https://", "https://h.example/?a=1"])
def test_a_bad_url_is_a_usage_error(cli: Any, url: str) -> None:
    code, _, err = cli("app", "manifest", "--url", url)
    assert code == 2 and "--url must be" in err


# --- the permissions node types declare -----------------------------------------------------


def test_every_github_node_type_declares_what_it_calls() -> None:
    registry = default_registry()
    calling = [t for t in registry if t.name.startswith(("github.", "dependabot.", "command."))]
    assert {t.name for t in calling} == set(NODE_NEEDS)
    for node_type in calling:
        assert node_type.permissions and node_type.operations, node_type.name


def test_declared_operations_and_permissions_agree_with_the_openapi_description() -> None:
    operations = openapi_operations()
    levels = app_permission_levels()
    stated = re.compile(r"`([a-z_]+):(read|write)` permission")
    for node_type in default_registry():
        held = dict(node_type.permissions)
        for name, level in node_type.permissions:
            assert level in levels[name], (node_type.name, name, level)
        for operation_id in node_type.operations:
            assert operation_id in operations, f"{node_type.name}: {operation_id} is not in the OpenAPI description"
            # where GitHub's description names the permission, the declaration covers it
            for name, level in stated.findall(operations[operation_id].get("description", "")):
                assert name in held, (node_type.name, operation_id, name)
                assert LEVELS.index(held[name]) >= LEVELS.index(level), (node_type.name, operation_id)


def test_the_openapi_check_can_fail() -> None:
    # checks/create says "must have the `checks:write` permission": a read would not do
    description = openapi_operations()["checks/create"]["description"]
    assert re.findall(r"`([a-z_]+):(read|write)` permission", description) == [("checks", "write")]


def test_every_event_of_the_catalogue_has_a_known_permission_or_is_said_unknown() -> None:
    catalogue = json.loads((REPO / "engine" / "data" / "webhook-events.json").read_text())["events"]
    levels = app_permission_levels()
    assert set(catalogue) - ALWAYS_DELIVERED == set(EVENT_PERMISSIONS)
    for event, permission in EVENT_PERMISSIONS.items():
        if permission is not None:
            assert permission[1] in levels[permission[0]], event


# --- app create --------------------------------------------------------------------------------


def make_code(github: GitHubDouble, code: str = "manifest-code-1") -> str:
    github.world.add_manifest_code(
        code,
        github.app_id,
        github.private_key_pem,
        slug="hookwise-octo",
        name="hookwise-octo",
        client_id=github.client_id,
        client_secret=github.client_secret,
        webhook_secret="whsec-from-github",
        html_url="https://github.com/apps/hookwise-octo",
    )
    return code


def test_app_create_writes_an_owner_only_env_and_the_server_starts_with_it(
    github: GitHubDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Any
) -> None:
    monkeypatch.setenv("GITHUB_API_BASE_URL", github.url)
    env_file = tmp_path / ".env"
    code, out, err = cli("app", "create", "--code", make_code(github), "--env-file", str(env_file))
    assert code == 0, err
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert "whsec-from-github" not in out and "PRIVATE KEY" not in out
    from engine.cli.envfile import parse_env

    values = parse_env(env_file.read_text())
    assert values["GITHUB_APP_ID"] == github.app_id
    assert values["GITHUB_APP_PRIVATE_KEY"] == github.private_key_pem
    assert values["GITHUB_WEBHOOK_SECRET"] == "whsec-from-github"
    assert values["GITHUB_API_BASE_URL"] == github.url
    assert {"GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET", "ENCRYPTION_KEY", "HOOKWISE_STATE_SECRET"} <= set(values)
    # the code works once; an existing file is never replaced without --force
    again, _, err = cli("app", "create", "--code", "manifest-code-1", "--env-file", str(tmp_path / "b.env"))
    assert again == 1 and "code works once" in err
    kept, _, err = cli("app", "create", "--code", make_code(github, "code-2"), "--env-file", str(env_file))
    assert kept == 1 and "pass --force" in err
    # the server reads it: App credentials (not dry-run), its own login asked of GitHub
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "HOOKWISE_"))}
    environment.update(DATABASE_URL=f"sqlite:///{tmp_path / 'h.db'}", HOOKWISE_CACHE_DIR="off")
    server = start_process(
        ["serve", "--port", str(port), "--rules", str(REPO / "rules"), "--env-file", str(env_file)],
        environment,
        tmp_path / "server.log",
        health=f"http://127.0.0.1:{port}/health",
    )
    try:
        health = httpx.get(f"http://127.0.0.1:{port}/health").json()
        assert health["dry_run"] is False
        # a delivery signed with the secret GitHub made is accepted, and its run signs in
        # to GitHub with the App's key (an installation token is made)
        github.add_installation(1, "Codertocat")
        github.world.add_pull("Codertocat/Hello-World", 2, files=["README.md"])
        body, headers = signed(payload("pull_request", "opened.2"), "pull_request", "d-env", secret="whsec-from-github")
        answer = httpx.post(f"http://127.0.0.1:{port}/webhooks/github", content=body, headers=headers)
        assert answer.status_code == 202, answer.text
        wait_until(lambda: github.calls("apps/create-installation-access-token"))
    finally:
        stop_process(server)


def test_make_run_reads_the_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text('GITHUB_WEBHOOK_SECRET="from-env-file"\n')
    dry = subprocess.run(
        ["make", "-n", "run", f"ENV_FILE={env_file}"], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert f"--env-file {env_file}" in dry.stdout
    assert "hookwise-development-secret" not in dry.stdout
    without = subprocess.run(
        ["make", "-n", "run", f"ENV_FILE={tmp_path / 'absent.env'}"], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert "--env-file" not in without.stdout


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('A="x\\ny"\n', {"A": "x\ny"}),
        ("export B='lit\\n'\n", {"B": "lit\\n"}),
        ("# c\n\nC=plain # note\n", {"C": "plain"}),
        ('D="quote \\" in"\n', {"D": 'quote " in'}),
        ('E="abc" # note\n', {"E": "abc"}),
        ("F='x' # note\r\n", {"F": "x"}),
    ],
)
def test_env_files_parse(text: str, expected: dict[str, str]) -> None:
    from engine.cli.envfile import parse_env

    assert parse_env(text) == expected


def test_a_one_line_private_key_is_accepted(github: GitHubDouble) -> None:
    from engine.settings import Settings

    one_line = github.private_key_pem.replace("\n", "\\n")
    settings = Settings.from_mapping({"GITHUB_APP_ID": "1", "GITHUB_APP_PRIVATE_KEY": one_line})
    assert settings.app_credentials() is not None



@pytest.mark.parametrize("value", ["p\u2028INJECTED=yes", "whs\rHOOKWISE_UI_TOKEN=x", "a\nB=c", 'q"uo\\te', "\x0bv\x1cw\x85"])
def test_a_value_written_reads_back_whole_and_adds_no_variable(tmp_path: Path, value: str) -> None:
    from engine.cli.envfile import parse_env, write_env_file

    target = tmp_path / ".env"
    write_env_file(str(target), {"P": value}, "header with a\u2028line break\rin it", force=False)
    assert parse_env(target.read_text()) == {"P": value}


def test_an_existing_or_dangling_link_is_not_replaced_without_force(tmp_path: Path) -> None:
    from engine.cli.envfile import write_env_file
    from engine.errors import InputError

    link = tmp_path / ".env"
    link.symlink_to(tmp_path / "nowhere")
    with pytest.raises(InputError, match="pass --force"):
        write_env_file(str(link), {"A": "b"}, "h", force=False)
    write_env_file(str(link), {"A": "b"}, "h", force=True)
    assert not link.is_symlink() and stat.S_IMODE(link.stat().st_mode) == 0o600
    assert not (tmp_path / "nowhere").exists()
    assert [p.name for p in tmp_path.iterdir()] == [".env"]  # no temporary file left
