"""The one store interface both backends implement: the SQL they share plus the accounts and
coordination statements. The server, workers and command line are typed against `Store`."""

from __future__ import annotations

from engine.store.accounts import AccountsMixin
from engine.store.coordination import CoordinationMixin
from engine.store.github_budget import GitHubBudgetMixin
from engine.store.queue import QueueMixin
from engine.store.rule_versions import RuleVersionsMixin
from engine.store.schedules import SchedulesMixin
from engine.store.sql import SQLStore


class Store(
    AccountsMixin,
    CoordinationMixin,
    GitHubBudgetMixin,
    QueueMixin,
    RuleVersionsMixin,
    SchedulesMixin,
    SQLStore,
):
    """Deliveries, jobs, runs, node runs, accounts, concurrency groups, rate limits, workers,
    repository rule versions, GitHub's budget (kept answers, write lanes), scheduled ticks."""
