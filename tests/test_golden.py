"""The golden corpus: every file under data/rules/ok validates clean; every case under
data/rules/err produces exactly the text output stored beside it in <case>.out.

Regenerate the expected outputs with `UPDATE_GOLDEN=1 pytest tests/test_golden.py`, then
read the diff: the wording of messages is part of the contract.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from engine.lang.diagnostics import CHECKS
from tests.conftest import DATA

OK = DATA / "rules" / "ok"
ERR = DATA / "rules" / "err"
WARN = DATA / "rules" / "warn"
ERR_CASES = sorted(p.name for p in ERR.iterdir() if p.suffix in (".yaml", ".yml") or p.is_dir())


@pytest.mark.parametrize("name", sorted(p.name for p in OK.glob("*.yaml")))
def test_ok_files_validate_clean(cli, monkeypatch, name: str) -> None:
    monkeypatch.chdir(OK)
    code, out, _ = cli("validate", name)
    assert (code, out) == (0, "checked 1 file: no problems\n")


@pytest.mark.parametrize("case", ERR_CASES)
def test_err_case_output(cli, monkeypatch, case: str) -> None:
    monkeypatch.chdir(ERR)
    expected_file = ERR / (Path(case).stem + ".out")
    code, out, err = cli("validate", case)
    if os.environ.get("UPDATE_GOLDEN"):
        expected_file.write_text(out)
    assert err == ""
    assert code == 1
    assert out == expected_file.read_text()


@pytest.mark.parametrize("case", sorted(p.name for p in WARN.glob("*.yaml")))
def test_warn_case_output(cli, monkeypatch, case: str) -> None:
    """Warnings are reported but do not fail validation."""
    monkeypatch.chdir(WARN)
    expected_file = WARN / (Path(case).stem + ".out")
    code, out, err = cli("validate", case)
    if os.environ.get("UPDATE_GOLDEN"):
        expected_file.write_text(out)
    assert (code, err) == (0, "")
    assert out == expected_file.read_text()


def test_err_corpus_covers_every_check() -> None:
    seen = set()
    for out in [*ERR.glob("*.out"), *WARN.glob("*.out")]:
        seen.update(
            re.findall(r"^\S+:\d+:\d+: (?:error|warning) \[([a-z0-9-]+)\]", out.read_text(), re.M)
        )
    assert len(ERR_CASES) >= 40
    assert sorted(set(CHECKS) - seen) == []


def test_every_out_file_has_a_case() -> None:
    stems = {Path(c).stem for c in ERR_CASES}
    assert sorted(p.stem for p in ERR.glob("*.out") if p.stem not in stems) == []
