"""The facts a command line or a rule test gives (changed files, team members), with what
they leave open read from GitHub (live, or canned answers) when a fallback is given."""

from __future__ import annotations

from typing import Any

from engine.github.api import GitHubError
from engine.match.filters import membership_key
from engine.match.matcher import FactUnknown

UNDECIDED_HERE = (
    "which are not known here (pass --changed-files and --team, or App credentials for run)"
)


def answer_teams(
    declared: dict[str, set[str]], asks: tuple[tuple[str, str], ...]
) -> dict[tuple[str, str], bool | str]:
    """The asked memberships that the declared teams settle (others stay unknown)."""
    answers: dict[tuple[str, str], bool | str] = {}
    for team, login in asks:
        key = membership_key(team, login)
        if key[0] in declared:
            answers[key] = key[1] in declared[key[0]]
    return answers


class GivenFacts:
    """The facts the command line gives (--changed-files, --team); for `run`, what they leave
    open is read from GitHub (`fallback`) when the App's credentials are set."""

    def __init__(
        self,
        files: tuple[str, ...] | None,
        teams: dict[str, set[str]],
        fallback: Any = None,
    ) -> None:
        self.files = files
        self.teams = teams
        self.fallback = fallback

    async def changed_files(self, event: Any) -> tuple[str, ...]:
        """The --changed-files list, else GitHub's, else unknown."""
        if self.files is not None:
            return self.files
        return tuple(await self._ask("the changed files", "changed_files", event))

    async def memberships(
        self, event: Any, asks: tuple[tuple[str, str], ...]
    ) -> dict[tuple[str, str], bool | str]:
        """The --team answers, then GitHub's for the teams not given."""
        answers = answer_teams(self.teams, asks)
        rest = tuple(a for a in asks if membership_key(*a) not in answers)
        if rest and self.fallback is not None:
            answers.update(await self._ask("team membership", "memberships", event, rest))
        return answers

    async def _ask(self, what: str, method: str, *args: Any) -> Any:
        if self.fallback is None:
            raise FactUnknown(UNDECIDED_HERE)
        try:
            return await getattr(self.fallback, method)(*args)
        except GitHubError as exc:
            raise FactUnknown(f"{what} could not be read: {exc}") from None
