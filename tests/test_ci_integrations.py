"""The files other people's CI uses: the pre-commit hook and the composite Action name the
`hookwise validate` command and the rule folders as they are."""

from __future__ import annotations

import re

import yaml

from tests.conftest import REPO


def test_the_pre_commit_hook_runs_validate_on_rule_files() -> None:
    (hook,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert (hook["id"], hook["entry"], hook["language"]) == (
        "hookwise-validate",
        "hookwise validate",
        "python",
    )
    files = re.compile(hook["files"])
    assert files.search("rules/docs-only.yaml")
    assert files.search(".github/hookwise/greet.yml")
    assert not files.search(".github/workflows/ci.yml")


def test_the_action_installs_hookwise_and_annotates() -> None:
    action = yaml.safe_load((REPO / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    scripts = " ".join(step["run"] for step in action["runs"]["steps"])
    assert "validate --format github" in scripts and "validate --format sarif" in scripts
    assert set(action["inputs"]) == {"paths", "version", "sarif"}
