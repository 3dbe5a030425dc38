"""`event.*` reads checked against GitHub's webhook descriptions (engine/data/webhook-payloads.json,
generated from @octokit/openapi-webhooks): a misspelt property gets the closest name, a
property only some of the rule's events carry says which, unless github.event_name guards it."""

from __future__ import annotations

import pytest

from engine.lang.payloads import check_read


@pytest.mark.parametrize(
    ("events", "read", "guarded", "expected"),
    [
        (("pull_request",), "pull_request.title", False, None),
        (("pull_request",), "pull_request.head.repo.full_name", False, None),
        (("pull_request",), "PULL_REQUEST.Title", False, None),  # GitHub's reads ignore case
        (("push",), "commits.*.message", False, None),
        (("push",), "head_commit.author.email", False, None),
        (("issues",), "issue.labels.*.name", False, None),
        (("workflow_dispatch",), "inputs.anything", False, None),  # free-form inputs
        (("ping",), "zen", False, None),
        (("pull_request",), "pull_request.titel", False, 'has no "titel"; did you mean "title"?'),
        (("push",), "commits.*.mesage", False, 'has no "mesage"; did you mean "message"?'),
        (("issues",), "pull_request.title", False, 'event has no "pull_request"'),
        (("pull_request", "check_suite"), "check_suite.conclusion", False,
         "is in the check_suite payload but not in pull_request"),
        (("pull_request", "check_suite"), "check_suite.conclusion", True, None),
        (("pull_request", "check_suite"), "pull_request.titel", True, 'did you mean "title"?'),
        (("not_described_here",), "anything.at.all", False, None),
    ],
)
def test_event_reads(events: tuple[str, ...], read: str, guarded: bool, expected: str | None) -> None:
    names: list[str | None] = [None if n == "*" else n for n in read.split(".")]
    warning = check_read(events, names, guarded)
    if expected is None:
        assert warning is None
    else:
        assert warning is not None and expected in warning, warning
