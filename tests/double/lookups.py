"""The double's read operations that let hookwise find what it wrote before (check runs by
ref, a commit's statuses, a repository's issues, a pull request's reviews) and read a PR's
readiness. A mixin of World: it uses World's state and helpers."""

from __future__ import annotations

from typing import Any

from tests.double.state import NOT_FOUND, Request, Response, World, sha_of


class Lookups(World):
    """GET handlers over the state the write handlers keep."""

    def op_checks__list_for_ref(self, request: Request) -> Response:
        repo = self._repo(request)
        assert repo is not None
        ref = request.params["ref"]
        name = request.query.get("check_name", [None])[-1]
        runs = [
            r
            for r in repo.check_runs.values()
            if r["head_sha"] == ref and (name is None or r["name"] == name)
        ]
        status, page, headers = self._page(request, runs)
        return status, {"total_count": len(runs), "check_runs": page}, headers

    def op_repos__list_commit_statuses_for_ref(self, request: Request) -> Response:
        repo = self._repo(request)
        assert repo is not None
        ref = request.params["ref"]
        newest_first = [s for s in reversed(repo.statuses) if s["sha"] == ref]
        status, page, headers = self._page(request, newest_first)
        return status, [{k: v for k, v in s.items() if k != "sha"} for s in page], headers

    def op_issues__list_for_repo(self, request: Request) -> Response:
        repo = self._repo(request)
        assert repo is not None
        state = request.query.get("state", ["open"])[-1]
        issues = [
            self._issue(repo, i)
            for i in sorted(repo.issues.values(), key=lambda i: -i.number)
            if state == "all" or i.state == state
        ]
        return self._page(request, issues)

    def op_pulls__list_reviews(self, request: Request) -> Response:
        found = self._pull_of(request)
        if found is None:
            return 404, NOT_FOUND, {}
        return self._page(request, list(found[1].reviews))

    def reviews(self, repo: str, number: int) -> list[dict[str, Any]]:
        """A pull request's reviews (for tests)."""
        owner, name = repo.split("/")
        return list(self.repo(owner, name).pulls[number].reviews)

    # --- readiness: checks, statuses, commits, teams (tests arrange them with these helpers) ---

    def add_team_member(self, team: str, login: str, state: str = "active") -> None:
        """Make `login` a member of `org/team` (state `pending`: invited, not yet a member)."""
        self.teams.setdefault(team.lower(), {})[login.lower()] = state

    def add_check_run(
        self, repo: str, sha: str, name: str, status: str = "completed", conclusion: str | None = "success"
    ) -> dict[str, Any]:
        """A check run on a commit, as a CI App would create it."""
        owner, repo_name = repo.split("/")
        target = self.repo(owner, repo_name)
        run = self.spec.example("check-run-example-of-completed-conclusion")
        run.update(id=self.next_id(), name=name, head_sha=sha, status=status, conclusion=conclusion)
        target.check_runs[run["id"]] = run
        return run

    def add_status(self, repo: str, sha: str, context: str, state: str) -> None:
        """A commit status, as a CI service would set it."""
        owner, repo_name = repo.split("/")
        status = self.spec.example("status")
        status.update(id=self.next_id(), context=context, state=state, sha=sha)
        self.repo(owner, repo_name).statuses.append(status)

    def op_repos__get_combined_status_for_ref(self, request: Request) -> Response:
        repo = self._repo(request)
        assert repo is not None
        ref = request.params["ref"]
        latest: dict[str, dict[str, Any]] = {}
        for status in repo.statuses:  # the newest status of each context counts
            if status["sha"] == ref:
                latest[status["context"]] = status
        statuses = [{k: v for k, v in s.items() if k != "sha"} for s in latest.values()]
        states = {s["state"] for s in statuses}
        overall = (
            "failure" if states & {"failure", "error"} else "pending" if "pending" in states or not states else "success"
        )
        body = self.spec.example("combined-commit-status")
        body.update(state=overall, sha=ref, total_count=len(statuses))
        template = body["statuses"][0]
        body["statuses"] = [dict(template, **s) for s in statuses]
        return 200, body, {}

    def op_pulls__list_commits(self, request: Request) -> Response:
        found = self._pull_of(request)
        if found is None:
            return 404, NOT_FOUND, {}
        template = self.spec.example("commit-items")[0]
        items = []
        for commit in found[1].commits:
            item = dict(template, sha=commit["sha"], node_id=f"C_{commit['sha'][:10]}")
            item["commit"] = dict(template["commit"], message=commit["message"])
            verified = bool(commit.get("verified", False))
            item["commit"]["verification"] = dict(
                template["commit"]["verification"],
                verified=verified,
                reason="valid" if verified else "unsigned",
            )
            item["author"] = dict(template["author"], login=commit["author"])
            items.append(item)
        return self._page(request, items)

    def op_teams__get_membership_for_user_in_org(self, request: Request) -> Response:
        team = f"{request.params['org']}/{request.params['team_slug']}".lower()
        state = self.teams.get(team, {}).get(request.params["username"].lower())
        if state is None:
            return 404, NOT_FOUND, {}
        body = self.spec.example("team-membership-response-if-user-is-a-team-maintainer")
        body.update(state=state, role="member")
        body["url"] = f"{request.path}"
        return 200, body, {}

    def dependabot_pull(
        self, repo: str, number: int, message: str, *, title: str, branch: str, **fields: Any
    ) -> Any:
        """A pull request opened by Dependabot whose one commit carries `message`."""
        sha = fields.pop("head_sha", sha_of(message))
        pull = self.add_pull(
            repo, number, title=title, head_ref=branch, head_sha=sha, user="dependabot[bot]", **fields
        )
        # Dependabot's commits are signed by GitHub (verification: verified)
        pull.commits.append(
            {"sha": sha, "message": message, "author": "dependabot[bot]", "verified": True}
        )
        return pull

    def op_git__get_tree(self, request: Request) -> Response:
        repo = self._repo(request)
        assert repo is not None
        files = repo.trees.get(request.params["tree_sha"])
        if files is None:
            return 404, NOT_FOUND, {}
        body = self.spec.example("git-tree-default-response")
        template = dict(body["tree"][0])
        body["sha"] = request.params["tree_sha"]
        body["truncated"] = False
        body["tree"] = [
            dict(template, path=path, sha=sha, type="blob", mode="100644")
            for path, sha in sorted(files.items())
        ]
        return 200, body, {}
