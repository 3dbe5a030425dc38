"""The GitHub App client against the API double: auth, tokens, retries, limits, pages."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import jwt
import pytest

from engine.github.api import ConfigError, GitHubError, NotFound, RateLimited, ServerError
from engine.github.client import GitHubClient
from engine.github.credentials import AppCredentials
from engine.run.recorded_github import node_error
from tests.double import APP_ID, GitHubDouble

REPO = "octo-org/hello"


def make_client(github: GitHubDouble, **kwargs: Any) -> GitHubClient:
    credentials = AppCredentials.from_pem(APP_ID, github.private_key_pem)
    return GitHubClient(credentials, base_url=github.url, **kwargs)


class Sleeps:
    """A sleep that records how long it was asked to wait (and yields)."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        await asyncio.sleep(0)


async def _with_client(github: GitHubDouble, body: Any, **kwargs: Any) -> Any:
    client = make_client(github, **kwargs)
    try:
        return await body(client)
    finally:
        await client.aclose()


def run(github: GitHubDouble, body: Any, **kwargs: Any) -> Any:
    return asyncio.run(_with_client(github, body, **kwargs))


@pytest.fixture
def world(github: GitHubDouble) -> GitHubDouble:
    github.add_installation(1, "octo-org")
    github.world.add_pull(REPO, 7, title="Docs", files=["docs/a.md", "src/b.py"], labels=["bug"])
    return github


def test_app_jwt_claims() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = AppCredentials(APP_ID, key).jwt(now=1_000_000)
    claims = jwt.decode(
        token,
        key.public_key(),
        algorithms=["RS256"],
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims == {"iat": 1_000_000 - 60, "exp": 1_000_000 + 540, "iss": APP_ID}
    assert claims["exp"] - claims["iat"] <= 600


@pytest.mark.parametrize(
    "pem", ["", "not a key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"]
)
def test_malformed_private_key_is_a_clear_startup_error(pem: str) -> None:
    with pytest.raises(ConfigError, match="GITHUB_APP_PRIVATE_KEY is not a PEM RSA private key"):
        AppCredentials.from_pem(APP_ID, pem)


def test_one_token_request_for_50_concurrent_runs(world: GitHubDouble) -> None:
    async def body(client: GitHubClient) -> list[Any]:
        api = client.installation(1)
        return await asyncio.gather(
            *(api.request("GET", f"/repos/{REPO}/pulls/7") for _ in range(50))
        )

    results = run(world, body)
    assert len(results) == 50 and all(r["number"] == 7 for r in results)
    assert len(world.calls("apps/create-installation-access-token")) == 1
    assert len(world.calls("pulls/get")) == 50


def test_token_is_refreshed_after_expiry(world: GitHubDouble) -> None:
    world.world.token_ttl = 120  # shorter than the client's 60 s margin plus the jump below
    clock = [time.time()]

    async def body(client: GitHubClient) -> None:
        api = client.installation(1)
        await api.request("GET", f"/repos/{REPO}/pulls/7")
        await api.request("GET", f"/repos/{REPO}/pulls/7")
        clock[0] += 100  # now within a minute of expiry: refresh
        await api.request("GET", f"/repos/{REPO}/pulls/7")
        assert client.token_refreshes == 2

    run(world, body, clock=lambda: clock[0])
    assert len(world.calls("apps/create-installation-access-token")) == 2


def test_a_401_drops_the_token_and_one_fresh_token_succeeds(world: GitHubDouble) -> None:
    async def body(client: GitHubClient) -> Any:
        token = await client.installation_token(1)
        world.world.tokens[token] = (1, time.time() - 1)  # revoked (or the clock drifted)
        return await client.installation(1).request("GET", f"/repos/{REPO}/pulls/7")

    result = run(world, body)
    assert result["number"] == 7
    assert len(world.calls("apps/create-installation-access-token")) == 2
    assert [r.status for r in world.calls("pulls/get")] == [401, 200]


def test_a_second_401_is_not_retried_again(world: GitHubDouble) -> None:
    world.inject("GET", r"/pulls/7$", status=401, times=2, body={"message": "Bad credentials"})

    async def body(client: GitHubClient) -> None:
        with pytest.raises(GitHubError, match=r"GitHub 401 on GET .*: Bad credentials"):
            await client.installation(1).request("GET", f"/repos/{REPO}/pulls/7")

    run(world, body)
    assert len(world.calls("apps/create-installation-access-token")) == 2
    assert len(world.calls("pulls/get")) == 2


def test_secondary_limits_back_off_exponentially_with_jitter(world: GitHubDouble) -> None:
    body_403 = {"message": "You have exceeded a secondary rate limit."}
    world.inject("GET", r"/pulls/7$", status=403, times=3, body=body_403)
    sleeps = Sleeps()

    async def body(client: GitHubClient) -> Any:
        client.max_wait = 10_000
        return await client.installation(1).request("GET", f"/repos/{REPO}/pulls/7")

    run(world, body, sleep=sleeps)
    assert [round(s / 60) for s in sleeps.calls] == [1, 2, 4]  # minutes, doubling
    assert all(60 * 2**i <= s <= 66 * 2**i for i, s in enumerate(sleeps.calls))


def test_5xx_then_success_is_retried(world: GitHubDouble) -> None:
    world.inject("GET", r"/pulls/7$", status=502, times=2)
    sleeps = Sleeps()
    result = run(
        world, lambda c: c.installation(1).request("GET", f"/repos/{REPO}/pulls/7"), sleep=sleeps
    )
    assert result["number"] == 7
    assert [r.status for r in world.calls("pulls/get")] == [502, 502, 200]
    assert len(sleeps.calls) == 2 and 0 < sleeps.calls[0] <= 0.5 and 0 < sleeps.calls[1] <= 1.0


def test_5xx_on_a_post_is_not_retried(world: GitHubDouble) -> None:
    world.inject("POST", r"/issues/7/comments$", status=503)

    async def body(client: GitHubClient) -> None:
        with pytest.raises(ServerError) as caught:
            await client.installation(1).request(
                "POST", f"/repos/{REPO}/issues/7/comments", body={"body": "x"}
            )
        assert caught.value.status == 503
        failure = node_error(caught.value)
        assert failure.retryable and failure.message.startswith("GitHub 503")

    run(world, body, sleep=Sleeps())
    assert [r.status for r in world.calls("issues/create-comment")] == [503]


def test_429_with_retry_after_waits_and_succeeds(world: GitHubDouble) -> None:
    world.inject(
        "GET",
        r"/pulls/7$",
        status=429,
        headers={"retry-after": "1"},
        body={"message": "API rate limit exceeded"},
    )
    sleeps = Sleeps()
    result = run(
        world, lambda c: c.installation(1).request("GET", f"/repos/{REPO}/pulls/7"), sleep=sleeps
    )
    assert result["number"] == 7
    assert sleeps.calls == [1.0]  # Retry-After, waited through the injected sleep
    assert [r.status for r in world.calls("pulls/get")] == [429, 200]


def test_secondary_rate_limit_403_waits(world: GitHubDouble) -> None:
    world.inject(
        "POST",
        r"/comments$",
        status=403,
        headers={"retry-after": "3"},
        body={
            "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
        },
    )
    sleeps = Sleeps()
    run(
        world,
        lambda c: c.installation(1).request(
            "POST", f"/repos/{REPO}/issues/7/comments", body={"body": "hi"}
        ),
        sleep=sleeps,
    )
    assert sleeps.calls == [3.0]
    assert [r.status for r in world.calls("issues/create-comment")] == [403, 201]


def test_primary_rate_limit_waits_until_reset(world: GitHubDouble) -> None:
    clock = [1_000.0]
    world.inject(
        "GET",
        r"/pulls/7$",
        status=403,
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1010"},
        body={"message": "API rate limit exceeded"},
    )
    sleeps = Sleeps()

    async def body(client: GitHubClient) -> Any:
        client.clock = lambda: clock[0]
        token = await client.installation_token(1)
        assert token
        return await client.installation(1).request("GET", f"/repos/{REPO}/pulls/7")

    run(world, body, sleep=sleeps)
    assert sleeps.calls == [11.0]


def test_rate_limit_beyond_the_deadline_fails_fast(world: GitHubDouble) -> None:
    world.inject("GET", r"/pulls/7$", status=429, headers={"retry-after": "120"})

    async def body(client: GitHubClient) -> None:
        api = client.installation(1, deadline=time.time() + 5)
        with pytest.raises(RateLimited, match="GitHub 429"):
            await api.request("GET", f"/repos/{REPO}/pulls/7")

    run(world, body, sleep=Sleeps())


def test_remaining_rate_limit_is_kept_per_installation(world: GitHubDouble) -> None:
    run(world, lambda c: c.installation(1).request("GET", f"/repos/{REPO}/pulls/7"))

    # a fresh client to read the figure it kept
    async def body(client: GitHubClient) -> dict[str, int]:
        await client.installation(1).request("GET", f"/repos/{REPO}/pulls/7")
        return client.rate_remaining

    remaining = run(world, body)
    assert set(remaining) == {"app", "1"} and 0 < remaining["1"] < 5000


def test_404_maps_to_not_found_with_githubs_message(world: GitHubDouble) -> None:
    async def body(client: GitHubClient) -> None:
        with pytest.raises(NotFound) as caught:
            await client.app_request("GET", "/app/installations/999")
        assert (caught.value.status, caught.value.message) == (404, "Not Found")
        assert isinstance(caught.value, GitHubError)

    run(world, body)


def test_pagination_over_3000_pr_files_takes_30_pages(github: GitHubDouble) -> None:
    github.add_installation(1, "octo-org")
    github.world.add_pull(REPO, 9, files=[f"src/file-{i:04d}.py" for i in range(3200)])

    async def body(client: GitHubClient) -> list[Any]:
        return await client.installation(1).paginate(
            f"/repos/{REPO}/pulls/9/files", params={"per_page": 100}, limit=3000
        )

    files = run(github, body)
    assert len(files) == 3000 and files[-1]["filename"] == "src/file-2999.py"
    pages = github.calls("pulls/list-files")
    assert len(pages) == 30
    assert [p.query.get("page", ["1"])[0] for p in pages] == [str(i) for i in range(1, 31)]


def test_requests_carry_the_api_version_accept_and_user_agent(world: GitHubDouble) -> None:
    run(world, lambda c: c.installation(1).request("GET", f"/repos/{REPO}/pulls/7"))
    assert world.violations == []
    assert {r.auth for r in world.requests} == {"Bearer", "token"}


def test_github_enterprise_base_url_with_a_path_prefix(world: GitHubDouble) -> None:
    client_url = world.url + "/api/v3"
    credentials = AppCredentials.from_pem(APP_ID, world.private_key_pem)
    client = GitHubClient(credentials, base_url=client_url)
    assert client.base_url.endswith("/api/v3")
    asyncio.run(client.aclose())


def test_changed_files_come_from_pr_files_and_compare(world: GitHubDouble) -> None:
    from engine.github.changed_files import fetch_changed_files
    from engine.match.events import parse_event

    pr = parse_event(
        "pull_request",
        {
            "action": "opened",
            "number": 7,
            "pull_request": {"number": 7},
            "repository": {"full_name": REPO},
        },
    )
    commits = [{"added": [f"f{i}"], "removed": [], "modified": []} for i in range(20)]
    push = parse_event(
        "push",
        {
            "ref": "refs/heads/main",
            "before": "a" * 40,
            "after": "b" * 40,
            "commits": commits,
            "repository": {"full_name": REPO},
        },
    )
    assert (pr.files_source, push.files_source) == ("pull_request", "compare")

    async def body(client: GitHubClient) -> tuple[Any, Any]:
        api = client.installation(1)
        return await fetch_changed_files(api, pr), await fetch_changed_files(api, push)

    pr_files, push_files = run(world, body)
    expected = tuple(f["filename"] for f in world.spec.example("commit-comparison")["files"])
    assert (pr_files, push_files) == (("docs/a.md", "src/b.py"), expected)
    assert (
        world.calls("repos/compare-commits-with-basehead")[0].path
        == f"/repos/{REPO}/compare/{'a' * 40}...{'b' * 40}"
    )


@pytest.mark.parametrize(
    ("status", "content_type", "body", "data", "error"),
    [
        (200, "application/json; charset=utf-8", b'{"id": 1}', {"id": 1}, None),
        (204, "", b"", None, None),
        (200, "text/plain", b"hello", "hello", None),
        (404, "application/json", b'{"message": "Not Found"}', {"message": "Not Found"}, ("NotFound", "Not Found")),
        (403, "application/json", b'{"message": "Resource not accessible by integration"}', None, ("Forbidden", "Resource not accessible by integration")),
        (502, "text/html", b"<h1>Bad gateway</h1>", None, ("ServerError", "<h1>Bad gateway</h1>")),
        (422, "application/json", b'{"message": "Validation Failed"}', None, ("GitHubError", "Validation Failed")),
        (200, "application/json", b'{"big": 123456789012345678901234567890}', {"big": 123456789012345678901234567890}, None),
    ],
)
def test_an_answer_is_decoded_once_into_data_or_its_typed_error(
    status: int, content_type: str, body: bytes, data: Any, error: tuple[str, str] | None
) -> None:
    from engine.github.responses import error_of, read_answer

    answer = read_answer(status, {"content-type": content_type}, body, "Reason")
    if data is not None:
        assert answer.data == data
    found = error_of(answer, method="GET", path="/x")
    assert (None if found is None else (type(found).__name__, found.message)) == error
