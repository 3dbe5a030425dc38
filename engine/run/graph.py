"""The node-graph scheduler: which nodes start, which are skipped, when the run is done. Pure.

GitHub Actions' rules for jobs: a node runs when every node it needs has finished and its
`if` holds; the default `if` is `success()`. An `if` that calls no status function is read as
`success() && (if)`, so a node whose needed node failed or was skipped is skipped too, unless
its `if` calls always(), failure() or cancelled(). A failed node with `continue-on-error`
counts as succeeded for its dependents and does not fail the run.
https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-syntax#jobsjob_idif
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.expr.evaluate import EvaluationError, RunState, evaluate, truthy
from engine.expr.explain import read_values
from engine.expr.tree import uses_status_function
from engine.lang.model import Rule

SUCCESS = "success"
FAILURE = "failure"
SKIPPED = "skipped"
CANCELLED = "cancelled"
STATUSES = (SUCCESS, FAILURE, SKIPPED, CANCELLED)


@dataclass(frozen=True)
class Outcome:
    """How a node finished."""

    status: str
    continue_on_error: bool = False  # a failure that its dependents treat as success
    error: str | None = None
    retryable: bool = False  # a failure that may pass if the whole job is tried again
    wait: float | None = None  # GitHub asked to wait this long first (a rate limit)

    @property
    def counts_as_success(self) -> bool:
        """Whether dependents see this node as succeeded."""
        return self.status == SUCCESS or (self.status == FAILURE and self.continue_on_error)

    @property
    def failed_hard(self) -> bool:
        """A failure that fails the run and makes failure() true downstream."""
        return self.status == FAILURE and not self.continue_on_error


@dataclass
class Step:
    """What to do next: nodes to start, nodes decided without running, whether the run is done."""

    start: list[str] = field(default_factory=list)
    decided: dict[str, Outcome] = field(default_factory=dict)
    done: bool = False


def schedule(
    rule: Rule,
    outcomes: Mapping[str, Outcome],
    running: set[str],
    contexts: Mapping[str, Any],
    *,
    cancelled: bool = False,
) -> Step:
    """Decide the next step from the outcomes so far and the nodes still running."""
    step = Step()
    known = dict(outcomes)
    if cancelled:
        for node_id in rule.order:
            if node_id not in known and node_id not in running:
                step.decided[node_id] = Outcome(CANCELLED, error="the run was cancelled")
        step.done = not running
        return step
    changed = True
    while changed:  # a skipped node may unblock others in the same step
        changed = False
        for node_id in rule.order:
            if node_id in known or node_id in running or node_id in step.start:
                continue
            node = rule.nodes[node_id]
            if any(need not in known for need in node.needs):
                continue
            state = RunState(
                upstream_ok=all(known[n].counts_as_success for n in node.needs),
                upstream_failed=any(known[a].failed_hard for a in node.upstream),
            )
            decision = _condition(node.condition, contexts, state)
            if decision is True:
                step.start.append(node_id)
            else:
                outcome = (
                    Outcome(
                        SKIPPED,
                        error=_skip_reason(node.condition, node.condition_source, state, contexts),
                    )
                    if decision is False
                    else Outcome(FAILURE, error=decision)
                )
                step.decided[node_id] = outcome
                known[node_id] = outcome
                changed = True
    step.done = not running and not step.start and all(n in known for n in rule.order)
    return step


def _condition(condition: Any, contexts: Mapping[str, Any], state: RunState) -> bool | str:
    """True to run, False to skip, or an error message when `if` cannot be evaluated."""
    if condition is None:
        return state.upstream_ok
    if not uses_status_function(condition) and not state.upstream_ok:
        return False
    try:
        return truthy(evaluate(condition, contexts, state))
    except EvaluationError as exc:
        return f"if: {exc}"


def _skip_reason(
    condition: Any, source: str, state: RunState, contexts: Mapping[str, Any]
) -> str:
    if not state.upstream_ok and source.strip() in ("success()", "${{ success() }}"):
        return "a needed node did not succeed"
    calls_status = condition is not None and uses_status_function(condition)
    if not state.upstream_ok and not calls_status:
        return f"a needed node did not succeed and `if: {source.strip()}` calls no status function"
    reads = read_values(condition, contexts) if condition is not None else []
    return f"`if: {source.strip()}` is false" + (f" ({'; '.join(reads)})" if reads else "")


def run_status(outcomes: Mapping[str, Outcome], *, cancelled: bool = False) -> str:
    """The run's status: cancelled, failure (a node failed without continue-on-error), success."""
    if cancelled:
        return CANCELLED
    if any(o.failed_hard for o in outcomes.values()):
        return FAILURE
    return SUCCESS
