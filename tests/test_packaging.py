"""hookwise as other people install it: the wheel in a fresh venv, and the pre-commit hook
run by pre-commit itself (`pre-commit try-repo`). Both install from the package registry, as
a user's machine would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.conftest import REPO, shipped_rule_tests, shipped_rules

BAD_RULE = "name: bad\non:\n  events: [pull_requests]\nnodes: {}\n"


def run(argv: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, timeout=900, env={**os.environ, **env}
    )


@pytest.mark.slow
def test_the_wheel_installs_in_a_fresh_venv_and_validates_the_rules(tmp_path: Path) -> None:
    built = run([sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path / "dist"), str(REPO)], tmp_path)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("hookwise-*.whl")
    venv.create(tmp_path / "venv", with_pip=True)
    python = tmp_path / "venv" / "bin" / "python"
    installed = run([str(python), "-m", "pip", "install", "--quiet", str(wheel)], tmp_path)
    assert installed.returncode == 0, installed.stderr[-2000:]
    hookwise = tmp_path / "venv" / "bin" / "hookwise"
    # run from elsewhere, so that nothing of the checkout is imported
    checked = run([str(hookwise), "validate", str(REPO / "rules")], tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    files = len(shipped_rules()) + len(shipped_rule_tests())
    assert checked.stdout.startswith(f"checked {files} files: no problems")
    where = run([str(python), "-c", "import engine, sys; print(engine.__file__)"], tmp_path)
    assert str(tmp_path / "venv") in where.stdout
    # the server's own files travel in the wheel: templates, stylesheet, migrations
    listing = run([str(python), "-m", "zipfile", "-l", str(wheel)], tmp_path).stdout
    for name in ("edge/ui/templates/delivery.html", "edge/ui/static/ui.css", "migrations/sqlite/0005_redeliveries.sql"):
        assert name in listing
    # the rule tests run from the wheel alone: GitHub's example payloads travel in it
    tested = run([str(hookwise), "test", str(REPO / "rules")], tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert tested.stdout.splitlines()[-1].endswith(", 0 failed")
    (tmp_path / "bad.yaml").write_text(BAD_RULE)
    failed = run([str(hookwise), "validate", "bad.yaml"], tmp_path)
    assert failed.returncode == 1 and "bad.yaml:3:12: error [unknown-event]" in failed.stdout


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None, reason="pre-commit needs git")
def test_pre_commit_try_repo_runs_the_hook(tmp_path: Path) -> None:
    if not (REPO / ".git").exists():
        pytest.skip("pre-commit try-repo needs hookwise as a git checkout")
    project = tmp_path / "project"
    (project / "rules").mkdir(parents=True)
    shutil.copy(REPO / "rules" / "docs-label.yaml", project / "rules")
    (project / "README.md").write_text("not a rule\n")
    git = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    for argv in (["git", "init", "-q"], ["git", "add", "."], ["git", "commit", "-qm", "rules"]):
        assert run(argv, project, **git).returncode == 0
    pre_commit = str(Path(sys.executable).parent / "pre-commit")
    home = {"PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"), **git}
    passed = run([pre_commit, "try-repo", str(REPO), "hookwise-validate", "--all-files"], project, **home)
    assert passed.returncode == 0, passed.stdout[-3000:] + passed.stderr[-2000:]
    assert "hookwise validate" in passed.stdout and "Passed" in passed.stdout
    (project / "rules" / "bad.yaml").write_text(BAD_RULE)
    run(["git", "add", "."], project, **git)
    failed = run([pre_commit, "try-repo", str(REPO), "hookwise-validate", "--all-files"], project, **home)
    assert failed.returncode == 1
    assert "rules/bad.yaml:3:12: error [unknown-event]" in failed.stdout
