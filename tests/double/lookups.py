"""The double's read operations that let hookwise find what it wrote before (check runs by
ref, a commit's statuses, a repository's issues, a pull request's reviews) and read a PR's
readiness. A mixin of World: it uses World's state and helpers."""

from __future__ import annotations

from typing import Any

from tests.double.state import NOT_FOUND, Request, Response, World


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
