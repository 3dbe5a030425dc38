"""Running a rule's graph (async): retries, timeouts, the run deadline, cancellation.

The executor is the only code that awaits node implementations, and so the only code that
reaches GitHub (through the GitHubAPI it hands each node). The scheduler (engine.run.graph)
decides; this module acts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from engine.declarations.registry import Registry
from engine.expr.evaluate import EvaluationError, render_segments, truthy
from engine.expr.parse import ExpressionError
from engine.github.api import GitHubAPI
from engine.lang.model import Node, Rule, Scope, Template
from engine.match.condition import render_value
from engine.match.events import Event
from engine.nodes.context import NodeContext, NodeError, NodeSkipped
from engine.run.budget import MAX_ERROR, OutputLimits, cut, node_size, over_limit, truncate
from engine.run.contexts import base_contexts
from engine.run.graph import CANCELLED, FAILURE, SKIPPED, SUCCESS, Outcome, run_status, schedule
from engine.run.inputs import checked_inputs
from engine.run.record import NodeRecord, RunRecord
from engine.run.recorded_github import RecordingGitHub

Sleep = Callable[[float], Awaitable[None]]


@dataclass
class ExecutionOptions:
    """How runs are executed."""

    github: GitHubAPI | None = None  # bound to the event's installation; None: no credentials
    dry_run: bool = True
    changed_files: tuple[str, ...] | None = None  # known offline (run --changed-files)
    clock: Callable[[], float] = time.time
    sleep: Sleep = asyncio.sleep
    # idempotency key (delivery:rule:node) -> outputs of nodes an earlier attempt of this
    # run completed; they are not run again, so a retried run does not write twice
    completed: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    # awaited with each node's record when the node finishes (the server persists it)
    on_node: Callable[[NodeRecord], Awaitable[None]] | None = None
    recovering: bool = False  # this run resumes one that was interrupted
    shared: dict[str, Any] = field(default_factory=dict)  # seeds the run's cache (prefetched files)
    scope: Scope | None = None  # a repository rule's: the repositories its nodes may touch
    limits: OutputLimits = field(default_factory=OutputLimits)  # what a run may produce


def idempotency_key(delivery: str, rule: str, node: str) -> str:
    """The key of a node's writes: one delivery, one rule, one node."""
    return f"{delivery}:{rule}:{node}"


def failed_record(
    rule: Rule, event: Event, options: ExecutionOptions, error: str, *, status: str = FAILURE
) -> RunRecord:
    """The record of a run that could not start (the facts it needs could not be read, or it
    was superseded): its nodes are skipped or cancelled, and the error says why."""
    record = _new_record(rule, event, options)
    record.status = status
    record.error = error
    node_status = CANCELLED if status == CANCELLED else SKIPPED
    for node in record.nodes:
        node.status = node_status
        node.reason = error
    record.finished_at = options.clock()
    return record


def _new_record(rule: Rule, event: Event, options: ExecutionOptions) -> RunRecord:
    return RunRecord(
        rule=rule.name,
        file=rule.file,
        delivery=event.delivery,
        event=event.name,
        started_at=options.clock(),
        nodes=[NodeRecord(node_id, rule.nodes[node_id].uses) for node_id in rule.order],
        dry_run=options.dry_run,
    )


async def execute(
    rule: Rule,
    event: Event,
    registry: Registry,
    options: ExecutionOptions,
    *,
    cancel: asyncio.Event | None = None,
) -> RunRecord:
    """Run the graph to completion (or cancellation) and return its record."""
    record = _new_record(rule, event, options)
    run = _Run(rule, event, registry, options, record)
    cancel = cancel or asyncio.Event()
    try:
        async with asyncio.timeout(rule.timeout):
            await run.loop(cancel)
    except TimeoutError:
        await run.cancel_all(f"the run exceeded its timeout of {rule.timeout:g}s")
        record.error = f"the run exceeded its timeout of {rule.timeout:g}s"
    except Exception as exc:  # a bug in hookwise itself: record it, never crash the worker
        await run.cancel_all(f"internal error: {exc!r}")
        record.error = f"internal error: {type(exc).__name__}: {exc}"
        run.cancelled = True
    record.status = run_status(run.outcomes, cancelled=run.cancelled)
    record.finished_at = options.clock()
    return record


class _Run:
    def __init__(
        self,
        rule: Rule,
        event: Event,
        registry: Registry,
        options: ExecutionOptions,
        record: RunRecord,
    ) -> None:
        self.rule = rule
        self.event = event
        self.registry = registry
        self.options = options
        self.record = record
        self.contexts = base_contexts(rule, event)
        self.outcomes: dict[str, Outcome] = {}
        self.tasks: dict[str, asyncio.Task[Outcome]] = {}
        self.cancelled = False
        self.shared: dict[str, Any] = dict(options.shared)
        self.used = 0  # bytes the nodes added to the record so far
        self.marks: dict[str, tuple[int, int]] = {}  # node -> (logs, calls) when it started

    async def loop(self, cancel: asyncio.Event) -> None:
        while True:
            step = schedule(
                self.rule, self.outcomes, set(self.tasks), self.contexts, cancelled=self.cancelled
            )
            for node_id, outcome in step.decided.items():
                await self._finish(node_id, outcome)
            if step.done:
                return
            for node_id in step.start:
                self.tasks[node_id] = asyncio.create_task(self._node(self.rule.nodes[node_id]))
            if not self.tasks:
                continue
            waiter = asyncio.create_task(cancel.wait())
            done, _ = await asyncio.wait(
                [*self.tasks.values(), waiter], return_when=asyncio.FIRST_COMPLETED
            )
            waiter.cancel()
            if cancel.is_set() and not self.cancelled:
                await self.cancel_all("the run was cancelled (cancel-in-progress)")
                continue
            for node_id, task in list(self.tasks.items()):
                if task in done:
                    del self.tasks[node_id]
                    await self._finish(node_id, task.result())

    async def cancel_all(self, reason: str) -> None:
        self.cancelled = True
        for task in self.tasks.values():
            task.cancel()
        for node_id, task in list(self.tasks.items()):
            try:
                outcome = await task
            except asyncio.CancelledError:
                outcome = Outcome(CANCELLED, error=reason)
            await self._finish(node_id, outcome)
        self.tasks.clear()
        for node_id in self.rule.order:
            if node_id not in self.outcomes:
                await self._finish(node_id, Outcome(CANCELLED, error=reason))

    def _charge(self, node_id: str, outcome: Outcome) -> Outcome:
        """Measure what the node added to the record against the limits; over one, the node
        fails naming it and what it produced is kept truncated."""
        node_record = self.record.node(node_id)
        if outcome.error is not None and len(outcome.error) > MAX_ERROR:
            outcome = replace(outcome, error=cut(outcome.error, MAX_ERROR))
        start_logs, start_calls = self.marks.get(node_id, (len(self.record.logs), len(self.record.calls)))
        prefix = f"{node_id}: "
        at = [i for i in range(start_logs, len(self.record.logs)) if self.record.logs[i].startswith(prefix)]
        logs = [self.record.logs[i] for i in at]
        calls = [c for c in self.record.calls[start_calls:] if c.node == node_id]
        node_record.error = outcome.error
        size = node_size(node_record, logs, calls)
        why = over_limit(size, self.used, self.options.limits)
        if why is not None:
            truncate(node_record, logs, calls, why)
            for i, line in zip(at, logs, strict=True):
                self.record.logs[i] = line
            outcome = Outcome(FAILURE, error=why)
            node_record.error = why
            size = node_size(node_record, logs, calls)
        self.used += size
        return outcome

    async def _finish(self, node_id: str, outcome: Outcome) -> None:
        outcome = self._charge(node_id, outcome)
        self.outcomes[node_id] = outcome
        node_record = self.record.node(node_id)
        node_record.status = outcome.status
        if outcome.status in (SKIPPED, CANCELLED):
            node_record.reason, node_record.error = outcome.error, None
        else:
            node_record.error = outcome.error
        if node_record.finished_at is None:
            node_record.finished_at = self.options.clock()
        self.contexts["nodes"][node_id] = {"outputs": node_record.outputs, "status": outcome.status}
        node_record.retryable = outcome.retryable
        node_record.wait = outcome.wait
        if self.options.on_node is not None:
            await self.options.on_node(node_record)

    async def _node(self, node: Node) -> Outcome:
        node_record = self.record.node(node.id)
        node_record.started_at = self.options.clock()
        self.marks[node.id] = (len(self.record.logs), len(self.record.calls))
        key = idempotency_key(self.event.delivery, self.rule.name, node.id)
        if key in self.options.completed:
            node_record.outputs.update(self.options.completed[key])
            self.record.logs.append(
                f"{node.id}: done by an earlier attempt of this run; not repeated"
            )
            return Outcome(SUCCESS)
        node_type = self.registry.get(node.uses)
        if node_type is None or node_type.run is None:
            return Outcome(FAILURE, error=f"node type {node.uses!r} has no implementation here")
        if self._budget_spent():
            return Outcome(SKIPPED, error=self._budget_reason())
        if self.rule.command is not None and node.uses not in ("command.accept", "command.done"):
            accepted = self.outcomes.get("command_accept")
            if accepted is None or accepted.status != SUCCESS:  # whatever the node's if: says
                return Outcome(SKIPPED, error="the command was not accepted (see command_accept)")
        if node.for_each is not None:
            return await self._loop(node, node_type, key)
        try:
            inputs = _render_inputs(node, self.contexts)
        except (EvaluationError, ExpressionError) as exc:
            return self._failed(node, str(exc))
        inputs, problem = checked_inputs(node_type, inputs)
        if problem is not None:
            return self._failed(node, f'node "{node.id}": {problem}')
        outcome, outputs = await self._attempts(node, node_type, inputs, key)
        node_record.outputs.update(outputs)
        return outcome

    def _budget_spent(self) -> bool:
        budget = self.rule.operations_per_run
        return budget is not None and len(self.record.calls) >= budget

    def _budget_reason(self) -> str:
        return (
            f"the run's operations budget ({self.rule.operations_per_run} GitHub requests, "
            "operations-per-run) is spent; the rest waits for the next run"
        )

    async def _loop(self, node: Node, node_type: Any, key: str) -> Outcome:
        """A `for-each` node: once per item (at most max-items, within the run's operations
        budget), each iteration with its own idempotency key; each output is a list."""
        assert node.for_each is not None
        node_record = self.record.node(node.id)
        try:
            items = render_segments(node.for_each.segments, self.contexts)
        except (EvaluationError, ExpressionError) as exc:
            return self._failed(node, f"for-each: {exc}")
        items = [] if items is None else items
        if not isinstance(items, list):
            return self._failed(node, f"for-each must give a list, found {type(items).__name__}")
        taken = items[: node.max_items]
        if len(items) > len(taken):
            self.record.logs.append(
                f"{node.id}: {len(items)} items, {len(taken)} taken (max-items); "
                "the rest wait for the next run"
            )
        results: list[dict[str, Any]] = []
        errors: list[str] = []
        for index, item in enumerate(taken):
            if self._budget_spent():
                self.record.logs.append(
                    f"{node.id}: {len(taken) - index} item(s) left: {self._budget_reason()}"
                )
                break
            try:
                inputs = _render_inputs(node, {**self.contexts, "item": item})
            except (EvaluationError, ExpressionError) as exc:
                errors.append(f"item {index}: {exc}")
                continue
            inputs, problem = checked_inputs(node_type, inputs)
            if problem is not None:
                errors.append(f"item {index}: {problem}")
                continue
            outcome, outputs = await self._attempts(node, node_type, inputs, f"{key}[{index}]")
            if outcome.wait is not None:  # a rate limit: the job waits; done items repeat no write
                return outcome
            if outcome.status == SKIPPED:  # the budget ran out mid-item: it is done next run
                self.record.logs.append(f"{node.id}: {len(taken) - index} item(s) left: {outcome.error}")
                break
            if outcome.status == FAILURE:
                errors.append(f"item {index}: {outcome.error}")
                continue
            results.append(outputs)
        names = sorted({name for outputs in results for name in outputs})
        node_record.outputs.update({name: [r.get(name) for r in results] for name in names})
        self.record.logs.append(f"{node.id}: {len(results)} of {len(taken)} item(s) done")
        if errors:
            return self._failed(node, "; ".join(errors))
        return Outcome(SUCCESS)

    async def _attempts(
        self, node: Node, node_type: Any, inputs: dict[str, Any], key: str
    ) -> tuple[Outcome, dict[str, Any]]:
        """One run of the node's code, with its retry policy: the outcome and the outputs."""
        node_record = self.record.node(node.id)
        delay = node.retry.delay
        for attempt in range(1, node.retry.attempts + 1):
            node_record.attempts = attempt
            github = RecordingGitHub(
                self.options.github,
                self.record.calls,
                dry_run=self.options.dry_run,
                node=node.id,
                idempotency_key=key,
                scope=self.options.scope,
                spent=lambda: self._budget_reason() if self._budget_spent() else None,
            )
            ctx = NodeContext(
                node_id=node.id,
                uses=node.uses,
                inputs=inputs,
                event=self.event,
                github=github,
                rule=self.rule.name,
                delivery=self.event.delivery,
                attempt=attempt,
                logs=self.record.logs,
                shared=self.shared,
                changed_files=self.options.changed_files,
                idempotency_key=key,
                recovering=self.options.recovering,
                scope=self.options.scope,
            )
            try:
                async with asyncio.timeout(node.timeout):
                    outputs = await node_type.run(ctx)
            except NodeSkipped as exc:
                return Outcome(SKIPPED, error=str(exc)), {}
            except NodeError as exc:
                if exc.wait is not None:  # a rate limit: the whole job waits, not this node
                    failed = Outcome(FAILURE, error=exc.message, retryable=True, wait=exc.wait)
                    return failed, {}
                if exc.retryable and attempt < node.retry.attempts:
                    self.record.logs.append(
                        f"{node.id}: attempt {attempt} failed ({exc.message}); retrying"
                    )
                    await self.options.sleep(delay)
                    delay *= node.retry.backoff
                    continue
                return self._failed(node, exc.message, retryable=exc.retryable), {}
            except TimeoutError:
                assert node.timeout is not None
                return self._failed(node, f"timed out after {node.timeout:g}s"), {}
            return Outcome(SUCCESS), dict(outputs or {})
        raise AssertionError("unreachable: the last attempt returns")

    def _failed(self, node: Node, message: str, *, retryable: bool = False) -> Outcome:
        coe = node.continue_on_error
        if isinstance(coe, Template):
            try:
                coe = truthy(render_segments(coe.segments, self.contexts))
            except (EvaluationError, ExpressionError):
                coe = False
        elif isinstance(coe, str):
            coe = coe.strip().lower() == "true"
        return Outcome(FAILURE, continue_on_error=bool(coe), error=message, retryable=retryable)


def _render_inputs(node: Node, contexts: Mapping[str, Any]) -> dict[str, Any]:
    """Render `with`; an error names the node, the field and the expression."""
    rendered: dict[str, Any] = {}
    for key, value in (node.with_ or {}).items():
        try:
            rendered[key] = render_value(value, contexts)
        except (EvaluationError, ExpressionError) as exc:
            source = _first_template(value)
            raise EvaluationError(f'node "{node.id}": with.{key}: {source}: {exc}') from None
    return rendered


def _first_template(value: Any) -> str:
    if isinstance(value, Template):
        return value.source
    if isinstance(value, dict):
        return next((_first_template(v) for v in value.values() if _first_template(v)), "")
    if isinstance(value, list):
        return next((_first_template(v) for v in value if _first_template(v)), "")
    return ""
