"""The interpreter: scheduling, failure propagation, retries, timeouts, cancellation, groups."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from engine.match.events import parse_event
from engine.run.executor import ExecutionOptions, execute
from engine.run.graph import Outcome, schedule
from engine.run.record import RunRecord
from tests import nodekit
from tests.rulekit import compile_rule

REGISTRY = nodekit.test_registry()
EVENT = parse_event(
    "issues",
    {
        "action": "opened",
        "issue": {"number": 7, "labels": [], "user": {"login": "octocat"}},
        "repository": {"full_name": "octo/repo"},
        "sender": {"login": "octocat", "type": "User"},
    },
    delivery="d-1",
)


@pytest.fixture(autouse=True)
def _reset() -> None:
    nodekit.reset()


def rule(nodes: str, extra: str = "") -> Any:
    text = f"name: g\non:\n  events: [issues]\n{extra}nodes:\n{nodes}"
    return compile_rule(text, registry=REGISTRY)


def run(rule_: Any, **options: Any) -> RunRecord:
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    opts = ExecutionOptions(sleep=fake_sleep, **options)
    record = asyncio.run(execute(rule_, EVENT, REGISTRY, opts))
    record.logs.append(f"sleeps={sleeps}")
    return record


def statuses(record: RunRecord) -> dict[str, str]:
    return {n.id: n.status for n in record.nodes}


OK = "    uses: core.log\n    with: {message: ok}\n"
FAIL = "    uses: core.fail\n    with: {message: boom}\n"


def test_diamond_fans_out_and_in_with_concurrent_middle() -> None:
    r = rule(
        "  a:\n    uses: test.sleep\n    with: {seconds: 0.01}\n"
        "  b:\n    needs: a\n    uses: test.sleep\n    with: {seconds: 0.05}\n"
        "  c:\n    needs: a\n    uses: test.sleep\n    with: {seconds: 0.05}\n"
        "  d:\n    needs: [b, c]\n    uses: core.log\n"
        "    with: {message: '${{ nodes.b.outputs.slept }}+${{ nodes.c.outputs.slept }}'}\n"
    )
    record = run(r)
    assert statuses(record) == {"a": "success", "b": "success", "c": "success", "d": "success"}
    assert record.status == "success"
    # b and c both start before either ends: they run concurrently, after a and before d
    assert nodekit.TIMELINE[:2] == ["start:a", "end:a"]
    assert sorted(nodekit.TIMELINE[2:4]) == ["start:b", "start:c"]
    assert sorted(nodekit.TIMELINE[4:6]) == ["end:b", "end:c"]
    assert record.node("d").outputs == {"message": "0.05+0.05"}


def test_failure_propagates_as_skipped() -> None:
    r = rule(f"  a:\n{FAIL}  b:\n    needs: a\n{OK}  c:\n    needs: b\n{OK}  d:\n{OK}")
    record = run(r)
    assert statuses(record) == {"a": "failure", "b": "skipped", "c": "skipped", "d": "success"}
    assert record.status == "failure"
    assert record.node("a").error == "boom"
    assert record.node("b").reason == "a needed node did not succeed"


def test_continue_on_error_lets_dependents_run_and_the_run_succeed() -> None:
    r = rule(f"  a:\n{FAIL}    continue-on-error: true\n  b:\n    needs: a\n{OK}")
    record = run(r)
    assert statuses(record) == {"a": "failure", "b": "success"}
    assert record.status == "success"


def test_continue_on_error_expression() -> None:
    r = rule(
        f"  a:\n{FAIL}    continue-on-error: ${{{{ github.action == 'opened' }}}}\n  b:\n    needs: a\n{OK}"
    )
    record = run(r)
    assert (statuses(record), record.status) == ({"a": "failure", "b": "success"}, "success")


def test_always_cleanup_runs_after_a_failure() -> None:
    r = rule(
        f"  a:\n{FAIL}  b:\n    needs: a\n{OK}"
        f"  cleanup:\n    needs: b\n    if: always()\n{OK}"
        f"  notify:\n    needs: a\n    if: ${{{{ failure() }}}}\n{OK}"
        f"  happy:\n    needs: a\n    if: ${{{{ success() }}}}\n{OK}"
    )
    record = run(r)
    assert statuses(record) == {
        "a": "failure",
        "b": "skipped",
        "cleanup": "success",
        "notify": "success",
        "happy": "skipped",
    }
    assert record.status == "failure"


def test_failure_function_is_false_when_nothing_failed() -> None:
    r = rule(f"  a:\n{OK}  notify:\n    needs: a\n    if: failure()\n{OK}")
    record = run(r)
    assert statuses(record) == {"a": "success", "notify": "skipped"}
    assert record.node("notify").reason == "`if: failure()` is false"


def test_if_without_status_function_is_anded_with_success() -> None:
    r = rule(
        f"  a:\n{FAIL}  b:\n    needs: a\n    if: github.action == 'opened'\n{OK}  c:\n    if: github.action == 'closed'\n{OK}"
    )
    record = run(r)
    assert statuses(record) == {"a": "failure", "b": "skipped", "c": "skipped"}
    assert record.node("c").reason == "`if: github.action == 'closed'` is false (github.action is 'opened')"


def test_if_evaluation_error_fails_the_node() -> None:
    r = rule(f"  a:\n    if: fromJSON('{{bad')\n{OK}  b:\n    needs: a\n    if: always()\n{OK}")
    record = run(r)
    assert statuses(record) == {"a": "failure", "b": "success"}
    assert "fromJSON: not valid JSON" in (record.node("a").error or "")


def test_retries_succeed_on_the_third_try_with_backoff() -> None:
    r = rule(
        "  a:\n    uses: test.flaky\n    with: {failures: 2}\n    retry: {attempts: 3, delay: 2s, backoff: 3}\n"
    )
    record = run(r)
    assert statuses(record) == {"a": "success"}
    assert (record.node("a").attempts, record.node("a").outputs) == (3, {"attempts": 3})
    assert record.logs[-1] == "sleeps=[2.0, 6.0]"


def test_retries_give_up_after_the_last_attempt() -> None:
    r = rule(
        "  a:\n    uses: test.flaky\n    with: {failures: 5}\n    retry: {attempts: 3, delay: 1s}\n"
    )
    record = run(r)
    assert (statuses(record), record.node("a").attempts, record.node("a").error) == (
        {"a": "failure"},
        3,
        "flaky failure 3",
    )


def test_errors_not_marked_retryable_are_not_retried() -> None:
    r = rule(
        "  a:\n    uses: test.flaky\n    with: {failures: 1, retryable: false}\n    retry: {attempts: 3}\n"
    )
    record = run(r)
    assert (statuses(record), record.node("a").attempts) == ({"a": "failure"}, 1)


def test_per_node_timeout_fails_the_node() -> None:
    r = rule(
        f"  slow:\n    uses: test.sleep\n    with: {{seconds: 5}}\n    timeout: 50ms\n  after:\n    needs: slow\n{OK}"
    )
    record = run(r)
    assert statuses(record) == {"slow": "failure", "after": "skipped"}
    assert record.node("slow").error == "timed out after 0.05s"
    assert record.status == "failure"


def test_run_deadline_cancels_unfinished_nodes() -> None:
    r = rule(
        f"  quick:\n{OK}  slow:\n    needs: quick\n    uses: test.sleep\n    with: {{seconds: 5}}\n"
        f"  after:\n    needs: slow\n    if: always()\n{OK}",
        extra="timeout: 200ms\n",
    )
    record = run(r)
    assert statuses(record) == {"quick": "success", "slow": "cancelled", "after": "cancelled"}
    assert record.status == "cancelled"
    assert record.error == "the run exceeded its timeout of 0.2s"


def test_evaluation_error_in_inputs_names_node_field_and_expression() -> None:
    r = rule("  a:\n    uses: core.log\n    with:\n      message: ${{ fromJSON('nope') }}\n")
    record = run(r)
    assert record.node("a").status == "failure"
    assert (
        record.node("a").error
        == "node \"a\": with.message: ${{ fromJSON('nope') }}: fromJSON: not valid JSON: 'nope'"
    )


def test_core_nodes() -> None:
    r = rule(
        "  calc:\n    uses: core.set\n    with:\n      outputs: {n: '${{ github.number }}', t: 'x${{ github.number }}'}\n"
        "  log:\n    needs: calc\n    uses: core.log\n    with: {message: 'n=${{ nodes.calc.outputs.n }}'}\n"
        "  stop:\n    needs: log\n    uses: core.fail\n    with: {message: 'stop at ${{ nodes.calc.outputs.t }}'}\n"
    )
    record = run(r)
    assert record.node("calc").outputs == {"n": 7, "t": "x7"}
    assert record.node("log").outputs == {"message": "n=7"}
    assert "log: n=7" in record.logs
    assert (record.node("stop").status, record.node("stop").error) == ("failure", "stop at x7")


def test_scheduler_is_pure_and_reports_ready_nodes() -> None:
    r = rule(f"  a:\n{OK}  b:\n{OK}  c:\n    needs: [a, b]\n{OK}")
    contexts: dict[str, Any] = {"nodes": {}}
    first = schedule(r, {}, set(), contexts)
    assert (first.start, first.decided, first.done) == (["a", "b"], {}, False)
    second = schedule(r, {"a": Outcome("success")}, {"b"}, contexts)
    assert (second.start, second.done) == ([], False)
    third = schedule(r, {"a": Outcome("success"), "b": Outcome("failure")}, set(), contexts)
    assert third.decided == {"c": Outcome("skipped", error="a needed node did not succeed")}
    assert third.done


def test_templates_are_parsed_once_when_the_rule_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    r = rule("  a:\n    uses: core.log\n    with: {message: 'n=${{ github.number }}'}\n")
    import engine.expr.parse as expressions

    def refuse(text: str) -> Any:
        raise AssertionError(f"parsed again at run time: {text!r}")

    import engine.expr.evaluate as evaluate

    monkeypatch.setattr(expressions, "parse", refuse)
    monkeypatch.setattr(expressions, "split_template", refuse)
    monkeypatch.setattr(evaluate, "split_template", refuse)
    record = run(r)
    assert (record.status, record.node("a").outputs) == ("success", {"message": "n=7"})
