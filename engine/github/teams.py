"""Team membership for `teams:` filters, read from the API and cached per installation.

GET /orgs/{org}/teams/{team_slug}/memberships/{username} answers 200 with `state` `active`
(a member) or `pending` (invited, not yet a member), and 404 when the login is not a member
(or the team is not visible to the App). Any other answer means the membership cannot be
read; the rule then does not match and says why (it fails closed). Errors that may pass
(5xx, rate limits, the network) are raised, so the caller can try the delivery again later.
https://docs.github.com/en/rest/teams/members#get-team-membership-for-a-user
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from urllib.parse import quote

from engine.github.api import GitHubAPI, GitHubError, NotFound, RateLimited, ServerError

MEMBERSHIP_TTL = 300.0  # seconds a membership answer is trusted
CACHE_ENTRIES = 10_000

Fact = bool | str  # member?, or why it could not be read


def membership_path(team: str, login: str) -> str:
    """The REST path of one membership question."""
    org, slug = team.split("/", 1)
    return (
        f"/orgs/{quote(org, safe='')}/teams/{quote(slug, safe='')}"
        f"/memberships/{quote(login, safe='')}"
    )


class MembershipCache:
    """Answers kept a few minutes, keyed by installation, team and login (lower-cased)."""

    def __init__(
        self, ttl: float = MEMBERSHIP_TTL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.clock = clock
        self._entries: OrderedDict[tuple[int, str, str], tuple[float, Fact]] = OrderedDict()

    def get(self, installation: int, team: str, login: str) -> Fact | None:
        """A fresh answer, or None."""
        key = (installation, team.lower(), login.lower())
        found = self._entries.get(key)
        if found is None or self.clock() - found[0] > self.ttl:
            return None
        return found[1]

    def put(self, installation: int, team: str, login: str, fact: Fact) -> None:
        """Keep an answer (a failure to read is not kept: the next delivery asks again)."""
        if isinstance(fact, str):
            return
        key = (installation, team.lower(), login.lower())
        self._entries[key] = (self.clock(), fact)
        self._entries.move_to_end(key)
        while len(self._entries) > CACHE_ENTRIES:
            self._entries.popitem(last=False)


async def read_memberships(
    github: GitHubAPI,
    installation: int,
    asks: Iterable[tuple[str, str]],
    cache: MembershipCache | None = None,
) -> dict[tuple[str, str], Fact]:
    """Each (team, login) -> member, not, or why not known; keyed lower-cased."""
    wanted = list(dict.fromkeys((team.lower(), login.lower()) for team, login in asks))
    answers: dict[tuple[str, str], Fact] = {}
    missing = []
    for team, login in wanted:
        cached = cache.get(installation, team, login) if cache is not None else None
        if cached is None:
            missing.append((team, login))
        else:
            answers[(team, login)] = cached
    read = await asyncio.gather(*(_read_one(github, team, login) for team, login in missing))
    for (team, login), fact in zip(missing, read, strict=True):
        answers[(team, login)] = fact
        if cache is not None:
            cache.put(installation, team, login, fact)
    return answers


async def _read_one(github: GitHubAPI, team: str, login: str) -> Fact:
    try:
        body = await github.request("GET", membership_path(team, login))
    except NotFound:
        return False
    except (ServerError, RateLimited):
        raise
    except GitHubError as exc:
        if exc.status == 0:
            raise
        return f"GitHub {exc.status}: {exc.message}"
    state = body.get("state") if isinstance(body, dict) else None
    return state == "active"
