"""dependabot.metadata: real Dependabot commit messages (tests/data/dependabot, sources in
SOURCES.md) parsed as the node reads them, and the node's refusals on the API double."""

from __future__ import annotations

from typing import Any

import pytest

from engine.nodes.dependabot import MetadataError, outputs, parse_message, update_type
from tests.conftest import DATA
from tests.double import GitHubDouble
from tests.test_github_nodes import REPO, node, pr_event, run_nodes

MESSAGES = DATA / "dependabot"


def message(name: str) -> str:
    return (MESSAGES / f"{name}.txt").read_text()


# file -> (names, type, update-type, previous, new, group)
PARSED = [
    ("django-major", ("django", "direct:production", "version-update:semver-major", "3.2.4", "4.0.3", "")),
    ("django-patch", ("django", "direct:production", "version-update:semver-patch", "4.2.11", "4.2.13", "")),
    # no update-type in the block: derived from the versions, as fetch-metadata does
    ("django-no-update-type", ("django", "direct:production", "version-update:semver-patch", "4.2.5", "4.2.7", "")),
    ("action-setup-patch", ("pnpm/action-setup", "direct:production", "version-update:semver-patch", "6.0.8", "6.0.9", "")),
    ("aws-credentials-major", ("aws-actions/configure-aws-credentials", "direct:production", "version-update:semver-major", "2", "3", "")),
    ("checkout-group-major", ("actions/checkout", "direct:production", "version-update:semver-major", "6", "7", "github-actions")),
    ("oasis-sdk-wrapped-patch", ("github.com/oasisprotocol/oasis-sdk/client-sdk/go", "direct:production", "version-update:semver-patch", "0.8.2", "0.8.3", "")),
]


@pytest.mark.parametrize(("name", "expected"), PARSED, ids=[p[0] for p in PARSED])
def test_real_messages_parse(name: str, expected: tuple[str, ...]) -> None:
    (dependency,) = parse_message(message(name))
    found = (
        dependency.name,
        dependency.type,
        dependency.update_type,
        dependency.previous_version,
        dependency.new_version,
        dependency.group,
    )
    assert found == expected


def test_windows_line_endings_and_the_outputs() -> None:
    deps = parse_message(message("django-patch").replace("\n", "\r\n"))
    out = outputs(deps, branch="dependabot/pip/src/django-4.2.13", title="Bump django from 4.2.11 to 4.2.13 in /src", base="main")
    assert out == {
        "dependency-names": "django",
        "dependency-type": "direct:production",
        "update-type": "version-update:semver-patch",
        "previous-version": "4.2.11",
        "new-version": "4.2.13",
        "package-ecosystem": "pip",
        "directory": "/src",
        "target-branch": "main",
        "dependency-group": "",
        "dependencies": [deps[0].to_json()],
    }


def test_a_group_reports_its_highest_update_type() -> None:
    text = message("checkout-group-major").replace(
        "...\n",
        "- dependency-name: actions/setup-node\n  dependency-version: 4.0.1\n"
        "  dependency-type: direct:production\n  update-type: version-update:semver-patch\n"
        "  dependency-group: github-actions\n...\n",
    )
    deps = parse_message(text)
    out = outputs(deps, branch="dependabot/github_actions/github-actions-abc", title="t", base="main")
    assert out["dependency-names"] == "actions/checkout, actions/setup-node"
    assert out["update-type"] == "version-update:semver-major"
    assert out["package-ecosystem"] == "github_actions" and out["directory"] == "/"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Bump x from 1.0.0 to 1.0.1\n\nSigned-off-by: someone", "no Dependabot metadata block"),
        ("t\n\n---\nupdated-dependencies: [\n...\n", "the metadata block is not valid YAML"),
        ("t\n\n---\nsomething: else\n...\n", "lists no updated-dependencies"),
        ("t\n\n---\nupdated-dependencies:\n- dependency-type: indirect\n...\n", "has no dependency-name"),
    ],
)
def test_messages_without_usable_metadata(text: str, reason: str) -> None:
    with pytest.raises(MetadataError, match=reason):
        parse_message(text)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("3.2.0", "4.0.1", "version-update:semver-major"),
        ("4.2.5", "4.2.7", "version-update:semver-patch"),
        ("v1.2", "v1.3", "version-update:semver-minor"),
        ("4.9", "4.10", "version-update:semver-minor"),
        ("1", "1", ""),
        ("", "2", ""),
    ],
)
def test_update_type_from_versions(old: str, new: str, expected: str) -> None:
    assert update_type(old, new) == expected


# --- the node on the double -------------------------------------------------------------


@pytest.fixture
def world(github: GitHubDouble) -> GitHubDouble:
    github.add_installation(1, "octo-org")
    return github


def test_the_node_reads_the_first_commit(world: GitHubDouble) -> None:
    world.world.dependabot_pull(
        REPO, 7, message("django-patch"), title="chore(deps): bump django from 4.2.11 to 4.2.13",
        branch="dependabot/pip/django-4.2.13",
    )
    record = run_nodes(world, node("dependabot.metadata"), pr_event(7))
    assert record.status == "success", record.nodes[0].error
    outputs_: dict[str, Any] = record.nodes[0].outputs
    assert (outputs_["update-type"], outputs_["new-version"]) == ("version-update:semver-patch", "4.2.13")
    assert outputs_["package-ecosystem"] == "pip"


def test_the_node_refuses_a_pull_request_not_opened_by_dependabot(world: GitHubDouble) -> None:
    world.world.add_pull(REPO, 7, title="Bump django from 3.2.0 to 4.0.1", user="mallory", head_ref="dependabot/pip/django-4.0.1")
    record = run_nodes(world, node("dependabot.metadata"), pr_event(7))
    assert record.status == "failure"
    assert record.nodes[0].error == (
        "pull request #7 was opened by mallory, not by Dependabot (dependabot[bot]); "
        "its metadata exists only on Dependabot's pull requests"
    )


@pytest.mark.parametrize(
    ("commits", "error"),
    [
        (
            # someone pushed to Dependabot's branch: two commits
            [{"sha": "f" * 40, "message": "sneak in a change", "author": "dependabot[bot]", "verified": True}],
            "pull request #7 has 2 commits; Dependabot's metadata describes a pull request of "
            "its one commit (ask `@dependabot rebase`)",
        ),
    ],
)
def test_the_node_refuses_a_pushed_commit(world: GitHubDouble, commits: list[dict[str, Any]], error: str) -> None:
    pull = world.world.dependabot_pull(
        REPO, 7, message("django-patch"), title="t", branch="dependabot/pip/django-4.2.13"
    )
    pull.commits.extend(commits)
    record = run_nodes(world, node("dependabot.metadata"), pr_event(7))
    assert (record.status, record.nodes[0].error) == ("failure", error)


@pytest.mark.parametrize(
    ("author", "verified", "error"),
    [
        ("mallory", True, "commit {sha} of pull request #7 is by mallory; Dependabot's metadata describes only its own commits"),
        # an author login is only the commit's email address: GitHub's signature decides
        ("dependabot[bot]", False, "commit {sha} of pull request #7 is not signed by GitHub (verification failed), so it may not be Dependabot's"),
    ],
)
def test_the_commit_must_be_dependabots_and_signed(world: GitHubDouble, author: str, verified: bool, error: str) -> None:
    pull = world.world.dependabot_pull(
        REPO, 7, message("django-patch"), title="t", branch="dependabot/pip/django-4.2.13"
    )
    pull.commits[0].update(author=author, verified=verified)
    record = run_nodes(world, node("dependabot.metadata"), pr_event(7))
    assert (record.status, record.nodes[0].error) == ("failure", error.format(sha=pull.commits[0]["sha"][:7]))


def test_the_node_outputs_the_commit_it_read(world: GitHubDouble) -> None:
    pull = world.world.dependabot_pull(
        REPO, 7, message("django-patch"), title="t", branch="dependabot/pip/django-4.2.13"
    )
    record = run_nodes(world, node("dependabot.metadata"), pr_event(7))
    assert record.nodes[0].outputs["sha"] == pull.commits[0]["sha"]


def test_a_group_with_an_unknown_update_size_is_unknown() -> None:
    text = message("checkout-group-major").replace(
        "  update-type: version-update:semver-major\n", ""
    ).replace(
        "...\n",
        "- dependency-name: actions/setup-node\n  dependency-type: direct:production\n"
        "  update-type: version-update:semver-patch\n...\n",
    )
    deps = parse_message(text)
    assert [d.update_type for d in deps] == ["version-update:semver-major", "version-update:semver-patch"]
    # checkout's type came from its versions (6 -> 7); drop those too and it is unknown
    text = text.replace("Updates `actions/checkout` from 6 to 7", "Updates `actions/checkout`")
    deps = parse_message(text)
    assert [d.update_type for d in deps] == ["", "version-update:semver-patch"]
    assert outputs(deps, branch="dependabot/github_actions/x", title="t", base="main")["update-type"] == ""


@pytest.mark.parametrize(
    ("block", "reason"),
    [
        ("updated-dependencies:\n- dependency-name: x\n  update-type: [version-update:semver-patch]", "update-type must be text"),
        ("a: &a [x, x, x]\nb: &b [*a, *a, *a]\nupdated-dependencies:\n- dependency-name: *b", "YAML anchor"),
    ],
)
def test_blocks_dependabot_never_writes_are_refused(block: str, reason: str) -> None:
    with pytest.raises(MetadataError, match=reason):
        parse_message(f"Bump x\n\n---\n{block}\n...\n")


def test_long_and_hostile_messages_are_refused_quickly() -> None:
    with pytest.raises(MetadataError, match="longer than 65,536 characters"):
        parse_message("x" * 70_000)
    with pytest.raises(MetadataError, match="no Dependabot metadata block"):
        parse_message("---\n" * 16_000)  # 64 KB of openers and no closer: a line scan, not a regex
