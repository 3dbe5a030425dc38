"""Matching one event against 10 rules and against 10,000 rules over 1,000 repositories.

The 10-rule set is the heaviest small set: all ten rules watch the event's repository, so
all ten are evaluated. The 10,000-rule set spreads ten rules over each of 1,000 repositories.
A third figure scans all 10,000 rules without the index, to show what the index saves.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from bench.common import REPO, header
from engine.lang.model import Rule
from engine.lang.validate import check_source
from engine.match.events import parse_event
from engine.match.filters import evaluate
from engine.match.matcher import RuleIndex, match

REPOS = 1000
ITERATIONS = 20_000

_SHAPES = [
    {"events": {"pull_request": {"branches": ["main", "release/**"], "paths": ["docs/**"]}}},
    {"events": {"pull_request": {"types": ["opened", "synchronize"]}}, "labels": {"none": ["wip"]}},
    {"events": ["pull_request", "issues"], "authors": {"exclude": ["renovate[bot]"]}},
    {"events": {"pull_request": {"paths-ignore": ["**.md"]}}, "ignore-bots": True},
    {"events": {"push": {"branches": ["main"]}, "pull_request": {"branches": ["main"]}}},
]


def _rule(i: int, repo: int) -> Rule:
    on = dict(_SHAPES[i % len(_SHAPES)])
    on["repository"] = [f"org/repo-{repo}"]
    body = {
        "name": f"rule-{i}",
        "on": on,
        "nodes": {"log": {"uses": "core.log", "with": {"message": "${{ github.repository }}"}}},
    }
    rule, _, problems = check_source(json.dumps(body).encode(), f"rule-{i}.yaml")
    assert rule is not None, problems
    return rule


def _per_event(index: RuleIndex, event: object, iterations: int) -> float:
    start = time.perf_counter()
    for _ in range(iterations):
        match(event, index)  # type: ignore[arg-type]
    return (time.perf_counter() - start) / iterations


def run() -> dict[str, float]:
    """Run the benchmark and print its figures."""
    header("match: one pull_request event, 10 vs 10,000 rules")
    fixture = REPO.parent / "shared/fixtures/github/webhooks/pull_request/opened.1.json"
    payload = json.loads(Path(fixture).read_text())
    payload["repository"]["full_name"] = "org/repo-7"
    payload["pull_request"]["base"]["ref"] = "main"
    event = parse_event("pull_request", payload).with_files(("docs/index.md", "src/app.py"))

    small = RuleIndex([_rule(i, 7) for i in range(10)])
    large_rules = [_rule(i, (i // 10) % REPOS) for i in range(REPOS * 10)]
    # put repo-7's ten rules in the same shapes as the small set
    large = RuleIndex(large_rules)
    assert len(large.candidates(event)) == 10 == len(small.candidates(event))
    assert [m.rule.name for m in match(event, small).matched]

    for _ in range(2):  # warm up, then measure alternately to share the noise
        t_small = _per_event(small, event, ITERATIONS)
        t_large = _per_event(large, event, ITERATIONS)
    start = time.perf_counter()
    scans = 20
    for _ in range(scans):
        for rule in large_rules:
            for trigger in rule.triggers:
                evaluate(trigger, event)
    t_scan = (time.perf_counter() - start) / scans

    ratio = t_large / t_small
    print(f"10 rules (all on the event's repository):  {t_small * 1e6:9.1f} us per event")
    print(f"10,000 rules over {REPOS} repositories:      {t_large * 1e6:9.1f} us per event")
    print(f"ratio 10,000 / 10:                          {ratio:9.2f}x (target <= 3)")
    print(f"for contrast, 10,000 rules without index:   {t_scan * 1e6:9.1f} us per event")
    return {"match_10_us": t_small * 1e6, "match_10000_us": t_large * 1e6, "match_ratio": ratio}


if __name__ == "__main__":
    run()
