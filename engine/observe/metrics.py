"""Prometheus metrics of the server (one registry per app, so tests can read their own)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    """The server's counters, gauges and histograms."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter(
            "hookwise_deliveries_received", "Deliveries accepted", ["event"], registry=r
        )
        self.duplicates = Counter(
            "hookwise_deliveries_duplicate", "Deliveries seen before", registry=r
        )
        self.rejected = Counter(
            "hookwise_deliveries_rejected", "Requests refused", ["reason"], registry=r
        )
        self.jobs = Counter("hookwise_jobs", "Jobs finished", ["outcome"], registry=r)
        self.schedule_ticks = Counter(
            "hookwise_schedule_ticks",
            "Schedule ticks this process decided, by outcome: run (a run queued), skipped (the "
            "rule's if: was false), missed (passed while nothing ran)",
            ["outcome"],
            registry=r,
        )
        self.schedule_late = Counter(
            "hookwise_schedule_ticks_late",
            "Ticks decided more than 2 s after their time (after downtime, or a busy loop)",
            registry=r,
        )
        self.queue_depth = Gauge("hookwise_queue_depth", "Jobs queued or running", registry=r)
        self.queue_queued = Gauge("hookwise_queue_queued", "Jobs waiting to run", registry=r)
        self.queue_oldest = Gauge(
            "hookwise_queue_oldest_age_seconds",
            "How long the oldest queued job has waited (0 when none waits)",
            registry=r,
        )
        self.database_up = Gauge(
            "hookwise_database_up", "1 when the last scrape could read the database", registry=r
        )
        self.workers_alive = Gauge(
            "hookwise_workers_alive", "1 when this process's workers are running", registry=r
        )
        self.worker_errors = Counter(
            "hookwise_worker_errors", "Database errors the workers survived", registry=r
        )
        self.job_retries = Counter(
            "hookwise_job_retries", "Jobs put back to run again after a failure", ["reason"],
            registry=r,
        )
        self.ingest = Histogram(
            "hookwise_ingest_seconds",
            "Time to verify, record and match a delivery",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=r,
        )
        self.run_seconds = Histogram(
            "hookwise_run_seconds",
            "Duration of rule runs",
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300),
            registry=r,
        )
        self.rate_limit = Gauge(
            "hookwise_github_rate_limit_remaining",
            "GitHub API requests left in the window",
            ["installation"],
            registry=r,
        )
        self.github_answers = Gauge(
            "hookwise_github_answers",
            "GitHub's answers to this process by outcome (200, 304: served from the kept answer, 2xx, 4xx, 5xx)",
            ["outcome"],
            registry=r,
        )
        self.token_refreshes = Gauge(
            "hookwise_github_token_refreshes", "Installation tokens fetched", registry=r
        )
        self.installations = Gauge(
            "hookwise_active_installations", "Active installations", registry=r
        )
        self.redeliveries = Counter(
            "hookwise_redeliveries_requested",
            "Missed deliveries GitHub was asked to send again (recover)",
            registry=r,
        )
        self.recover_passes = Counter(
            "hookwise_recover_passes", "Recover passes, by outcome", ["outcome"], registry=r
        )
        self._before_scrape: list[Callable[[], None]] = []
        self._received: dict[str, Any] = {}

    def count_received(self, event: str) -> None:
        """One more delivery of an event accepted (the labelled child is looked up once)."""
        child = self._received.get(event)
        if child is None:
            child = self._received[event] = self.received.labels(event)
        child.inc()

    def on_scrape(self, update: Callable[[], None]) -> None:
        """Run `update` before each scrape (gauges read from the store or the client)."""
        self._before_scrape.append(update)

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        for update in self._before_scrape:
            update()
        return generate_latest(self.registry)
