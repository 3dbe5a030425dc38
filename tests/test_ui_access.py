"""The browser log's access rules, pages and escaping, over HTTP without a browser
(tests/test_ui_browser.py drives Chromium through the same pages)."""

from __future__ import annotations

import copy
import html
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from engine.edge.ui.access import UiAccess, is_loopback
from engine.edge.ui.graph import layout
from engine.edge.web import create_app
from tests.conftest import DATA, REPO
from tests.rulekit import payload
from tests.serverkit import SECRET, server_settings, signed, sql, wait_until

TOKEN = "ui-token-0123456789abcdef"
LOOPBACK = ("127.0.0.1", 50000)
ELSEWHERE = ("203.0.113.9", 50000)
PAGES = ["/ui/", "/ui/deliveries/d-1", "/ui/rules", "/ui/installations"]


def make_client(tmp_path: Path, *, token: str | None, client: tuple[str, int] = LOOPBACK,
                **overrides: Any) -> TestClient:
    settings = server_settings(tmp_path, DATA / "ui-rules", ui_token=token, **overrides)
    return TestClient(
        create_app(settings), client=client, follow_redirects=False, base_url="http://localhost:8000"
    )


def deliver(client: TestClient, delivery: str, data: Any = None, event: str = "pull_request") -> None:
    body, headers = signed(data or payload("pull_request", "opened.2"), event, delivery)
    assert client.post("/webhooks/github", content=body, headers=headers).status_code in (200, 202)


def login(client: TestClient) -> None:
    form = client.get("/ui/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    answer = client.post("/ui/login", data={"csrf": csrf.group(1), "token": TOKEN, "next": "/ui/"})
    assert answer.status_code == 303, answer.text


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def settled(client: TestClient, delivery: str) -> bool:
    page = client.get(f"/ui/deliveries/{delivery}").text
    return 'http-equiv="refresh"' not in page


@pytest.fixture
def with_token(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path, token=TOKEN, client=ELSEWHERE) as client:
        deliver(client, "d-1")
        yield client


# --- without a token: loopback only ---------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_without_a_token_other_clients_are_refused(tmp_path: Path, path: str) -> None:
    with make_client(tmp_path, token=None, client=ELSEWHERE) as client:
        answer = client.get(path)
        assert answer.status_code == 403
        assert "loopback clients only" in answer.text
        assert client.post("/ui/deliveries/d-1/replay", data={"csrf": "x"}).status_code == 403


@pytest.mark.parametrize("path", ["/ui/", "/ui/rules", "/ui/installations"])
def test_without_a_token_loopback_gets_a_session(tmp_path: Path, path: str) -> None:
    with make_client(tmp_path, token=None) as client:
        answer = client.get(path)
        assert answer.status_code == 200
        cookie = answer.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie


def test_without_a_token_a_post_still_needs_the_session_and_its_csrf_token(tmp_path: Path) -> None:
    with make_client(tmp_path, token=None) as client:
        deliver(client, "d-1")
        assert client.post("/ui/deliveries/d-1/replay", data={"csrf": "x"}).status_code == 403
        page = client.get("/ui/deliveries/d-1")
        assert client.post("/ui/deliveries/d-1/replay", data={}).status_code == 403
        answer = client.post("/ui/deliveries/d-1/replay", data={"csrf": csrf_of(page.text)})
        assert answer.status_code == 303


# --- with a token: nothing without the cookie and the CSRF token ----------------------------


@pytest.mark.parametrize("path", PAGES)
def test_with_a_token_no_page_opens_without_the_cookie(with_token: TestClient, path: str) -> None:
    answer = with_token.get(path)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/ui/login?next=")
    with_token.cookies.set("hookwise_ui", "1999999999.forged.0000", path="/ui")
    assert with_token.get(path).status_code == 303


def test_with_a_token_no_post_works_without_cookie_and_csrf(tmp_path: Path, with_token: TestClient) -> None:
    replay = "/ui/deliveries/d-1/replay"
    assert with_token.post(replay, data={}).status_code == 403
    login(with_token)
    page = with_token.get("/ui/deliveries/d-1")
    assert page.status_code == 200
    csrf = csrf_of(page.text)
    assert with_token.post(replay, data={}).status_code == 403
    wrong = csrf[:-1] + ("1" if csrf[-1] == "0" else "0")  # one character off, always
    assert with_token.post(replay, data={"csrf": wrong}).status_code == 403
    # the right token with the session cookie dropped: refused too
    cookie = with_token.cookies.get("hookwise_ui")
    with_token.cookies.clear()
    assert with_token.post(replay, data={"csrf": csrf}).status_code == 403
    with_token.cookies.set("hookwise_ui", cookie, path="/ui")
    answer = with_token.post(replay, data={"csrf": csrf})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/deliveries/d-1?replayed=1"
    generations = sql(with_token.app.hookwise.settings, "SELECT DISTINCT generation FROM jobs WHERE delivery_id = 'd-1'")  # type: ignore[attr-defined]
    assert sorted(g for (g,) in generations) == [0, 1]


def test_login_refuses_a_wrong_token_and_slows_guessing(with_token: TestClient) -> None:
    form = with_token.get("/ui/login")
    assert form.status_code == 200
    csrf = csrf_of(form.text)
    for _ in range(10):
        answer = with_token.post("/ui/login", data={"csrf": csrf, "token": "guess"})
        assert answer.status_code == 403
        assert "That is not the token" in answer.text
    answer = with_token.post("/ui/login", data={"csrf": csrf, "token": TOKEN})
    assert answer.status_code == 429  # even the right token waits once guessing is limited


def test_login_without_its_form_token_is_refused(with_token: TestClient) -> None:
    assert with_token.post("/ui/login", data={"token": TOKEN}).status_code == 403


def test_login_sets_a_strict_http_only_cookie_and_redirects_inside_the_ui(with_token: TestClient) -> None:
    form = with_token.get("/ui/login?next=https://evil.example/")
    assert 'name="next" value="/ui/"' in form.text
    answer = with_token.post(
        "/ui/login", data={"csrf": csrf_of(form.text), "token": TOKEN, "next": "//evil.example/"}
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/"
    cookie = next(v for k, v in answer.headers.multi_items() if k == "set-cookie" and v.startswith("hookwise_ui="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert with_token.get("/ui/").status_code == 200


def test_pages_carry_a_strict_content_security_policy(with_token: TestClient) -> None:
    login(with_token)
    answer = with_token.get("/ui/")
    policy = answer.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert answer.headers["x-content-type-options"] == "nosniff"


# --- what the pages show ---------------------------------------------------------------------


def test_the_delivery_page_tells_each_rules_outcome(tmp_path: Path) -> None:
    with make_client(tmp_path, token=None) as client:
        deliver(client, "d-1")
        wait_until(lambda: settled(client, "d-1"))
        page = client.get("/ui/deliveries/d-1").text
    rows = dict(re.findall(r'data-rule="([^"]+)">.*?<span class="outcome[^"]*">([^<]+)</span>', page, re.S))
    assert rows == {
        "greet": "matched",
        "triage-label": "matched",
        "docs-only": "undecided",
        "release-only": "not matched",
    }
    assert "base branch &#39;master&#39; is not matched by [release/**]" in page
    assert "the changed files can only be read with App credentials" in page
    # the runs, drawn: triage-label's note needs its label node
    assert page.count('<section class="run"') == 2
    assert re.search(r"<line [^>]*class=\"edge\"", page)
    assert "POST /repos/Codertocat/Hello-World/issues/2/comments" in page


def test_no_secret_and_no_signature_is_ever_rendered(tmp_path: Path) -> None:
    private_key = "-----BEGIN RSA PRIVATE KEY-----\nnot-a-real-key\n-----END RSA PRIVATE KEY-----"
    with make_client(
        tmp_path, token=None, state_secret="state-secret-xyz", jwt_secret="jwt-secret-xyz",
        client_secret="client-secret-xyz", encryption_keys=("ZW5jcnlwdGlvbi1rZXktMDEyMzQ1Njc4OTAxMjM0NTY=",),
    ) as client:
        deliver(client, "d-1")
        seen = "".join(client.get(p).text for p in PAGES)
    for secret in (SECRET, TOKEN, "state-secret-xyz", "jwt-secret-xyz", "client-secret-xyz",
                   "ZW5jcnlwdGlvbi1rZXktMDEyMzQ1Njc4OTAxMjM0NTY=", private_key, "sha256="):
        assert secret not in seen
    assert "X-Hub-Signature" not in seen and "x-hub-signature" not in seen


def test_a_script_in_the_payload_is_text(tmp_path: Path) -> None:
    data = copy.deepcopy(payload("pull_request", "opened.2"))
    data["pull_request"]["title"] = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    with make_client(tmp_path, token=None) as client:
        deliver(client, "d-x", data)
        page = client.get("/ui/deliveries/d-x").text
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in page


def test_the_list_filters_and_pages(tmp_path: Path) -> None:
    with make_client(tmp_path, token=None, workers=0) as client:
        for n in range(55):
            deliver(client, f"pr-{n:02d}")
        issue = payload("issues", "opened.1")
        deliver(client, "issue-1", issue, "issues")
        first = client.get("/ui/").text
        assert first.count('class="delivery-link"') == 50
        older = re.search(r'rel="next" href="([^"]+)"', first)
        assert older is not None
        second = client.get(older.group(1).replace("&amp;", "&")).text
        listed = re.findall(r'class="delivery-link"[^>]*>([^<]+)<', first + second)
        assert len(listed) == len(set(listed)) == 56
        only_prs = client.get("/ui/?event=pull_request&status=queued").text
        assert "issue-1" not in only_prs and "pr-54" in only_prs
        assert 'rel="next"' in only_prs
        none = client.get("/ui/?repository=nobody/nothing").text
        assert "No deliveries match these filters" in none


def test_the_rules_page_lists_rules_with_their_source_and_problems(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    for name in ("greet.yaml", "release-only.yaml"):
        (rules / name).write_text((DATA / "ui-rules" / name).read_text())
    (rules / "spelled.yaml").write_text(
        "name: spelled\non:\n  events: [pull-request]\nnodes:\n  log:\n    uses: core.log\n    with: {message: x}\n"
    )
    settings = server_settings(tmp_path, rules, ui_token=None)
    with TestClient(create_app(settings), client=LOOPBACK, base_url="http://127.0.0.1:8000") as client:
        page = client.get("/ui/rules").text
    assert f"server: {rules}" in page
    for name in ("greet", "release-only", "spelled"):
        assert f"<strong>{name}</strong>" in page
    assert "[event-spelling]" in page and "spelled.yaml:3:" in page


def test_the_installations_page_shows_installations_from_their_events(tmp_path: Path) -> None:
    with make_client(tmp_path, token=None) as client:
        deliver(client, "i-1", payload("installation", "created.1"), "installation")
        page = client.get("/ui/installations").text
    data = payload("installation", "created.1")
    assert f"<td>{data['installation']['id']}</td>" in page
    assert data["installation"]["account"]["login"] in page


# --- the pure parts ---------------------------------------------------------------------------


def test_layout_puts_nodes_in_columns_by_what_they_need() -> None:
    nodes = [{"id": i, "uses": "core.log", "status": "success"} for i in ("a", "b", "c", "d")]
    drawing = layout(nodes, {"b": ("a",), "c": ("a",), "d": ("b", "c", "gone")})
    x = {b.id: b.x for b in drawing.boxes}
    assert x["a"] < x["b"] == x["c"] < x["d"]
    assert len(drawing.arrows) == 4
    assert drawing.width > x["d"] and drawing.height > 0


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("10.0.0.1", False),
     ("203.0.113.9", False), ("testclient", False), (None, False), ("", False)],
)
def test_loopback_addresses(host: str | None, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_sessions_expire_and_belong_to_their_token() -> None:
    now = [1000.0]
    access = UiAccess("one", clock=lambda: now[0])
    session = access.new_session()
    assert access.session_valid(session)
    assert not UiAccess("two").session_valid(session)
    assert not access.login_valid(session)  # a session is not a login cookie
    assert access.csrf_valid(session, access.csrf_for(session))
    assert not access.csrf_valid(session, access.csrf_for(access.new_session()))
    now[0] += 13 * 3600
    assert not access.session_valid(session)


def test_the_manifest_flow_lands_on_a_page_with_the_next_command(tmp_path: Path) -> None:
    with make_client(tmp_path, token=TOKEN, client=ELSEWHERE) as client:
        page = client.get("/setup/app-created?code=abc123def&state=st4te")
        assert page.status_code == 200
        assert "hookwise app create --code abc123def" in page.text
        assert "st4te" in page.text and "a code someone" in page.text
        assert "GitHub sent no code" in client.get("/setup/app-created", params={"code": "٣३abc"}).text
        odd = client.get("/setup/app-created", params={"code": "<script>x</script>"})
        assert "<script>x" not in odd.text and "GitHub sent no code" in odd.text



# --- what an attacker tries (an outside review's findings, kept as tests) --------------------


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:8000", "127.0.0.1.nip.io", "localhost.evil"])
def test_without_a_token_a_dns_rebound_host_is_refused(tmp_path: Path, host: str) -> None:
    with make_client(tmp_path, token=None) as client:
        assert client.get("/ui/", headers={"Host": host}).status_code == 403
        for good in ("localhost:8000", "127.0.0.1", "[::1]:8000"):
            assert client.get("/ui/", headers={"Host": good}).status_code == 200


def test_a_post_from_another_origin_is_refused_even_with_the_csrf_token(tmp_path: Path) -> None:
    with make_client(tmp_path, token=None) as client:
        deliver(client, "d-1")
        csrf = csrf_of(client.get("/ui/deliveries/d-1").text)
        evil = client.post("/ui/deliveries/d-1/replay", data={"csrf": csrf}, headers={"Origin": "https://attacker.example"})
        assert evil.status_code == 403
        null = client.post("/ui/deliveries/d-1/replay", data={"csrf": csrf}, headers={"Origin": "null"})
        assert null.status_code == 403
        own = client.post("/ui/deliveries/d-1/replay", data={"csrf": csrf}, headers={"Origin": "http://localhost:8000"})
        assert own.status_code == 303


def test_text_that_is_not_ascii_in_a_cookie_or_a_form_is_refused_not_a_500(with_token: TestClient) -> None:
    odd = "1.a.\u00e9".encode()  # raw bytes on the wire, as a hostile client sends them
    assert with_token.get("/ui/", headers={"cookie": b"hookwise_ui=" + odd}).status_code == 303
    replay = with_token.post("/ui/deliveries/d-1/replay", data={"csrf": "\u00e9"}, headers={"cookie": b"hookwise_ui=" + odd})
    assert replay.status_code == 403
    login = with_token.post("/ui/login", data={"csrf": "\u00e9", "token": "\u00e9"}, headers={"cookie": b"hookwise_ui_login=" + odd})
    assert login.status_code == 403


@pytest.mark.parametrize(
    "target",
    ["/ui/../setup/app-created?code=X", "/ui/%2e%2e/setup", "/ui/%252e%252e/x", "/ui/./rules", "/ui//evil.example", "/ui/\\evil"],
)
def test_the_login_redirect_never_leaves_the_ui(with_token: TestClient, target: str) -> None:
    form = with_token.get("/ui/login")
    answer = with_token.post("/ui/login", data={"csrf": csrf_of(form.text), "token": TOKEN, "next": target})
    assert answer.headers["location"] == "/ui/"


def test_a_short_ui_token_stops_the_server() -> None:
    from engine.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match="at least 16 characters"):
        Settings.from_mapping({"HOOKWISE_UI_TOKEN": "tok"})


def test_a_login_cookie_does_not_let_guesses_run_at_hmac_speed() -> None:
    import time as clock

    from engine.edge.ui.access import session_key

    started = clock.perf_counter()
    session_key("a-guess-of-the-token")
    assert clock.perf_counter() - started > 0.01  # scrypt: each offline guess costs this much


LONG_IF = """name: first-timers-only
on:
  events:
    pull_request: {types: [opened]}
if: >-
  ${{ event.pull_request.author_association == 'FIRST_TIME_CONTRIBUTOR'
      || event.pull_request.author_association == 'FIRST_TIMER'
      || startsWith(event.pull_request.head.ref, 'first-timers/') }}
nodes:
  note: {uses: core.log, with: {message: hi}}
"""


def test_a_false_if_shows_each_value_it_compared_whole(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "first.yaml").write_text(LONG_IF)
    shutil.copy(REPO / "rules" / "welcome-first-time.yaml", rules)
    settings = server_settings(tmp_path, rules)
    with TestClient(create_app(settings), client=LOOPBACK, base_url="http://localhost:8000") as client:
        deliver(client, "d-if")
        wait_until(lambda: settled(client, "d-if"))
        page = html.unescape(client.get("/ui/deliveries/d-if").text)
    # the rule's if: the whole expression, then each property it read with its value
    assert (
        "if: event.pull_request.author_association == 'FIRST_TIME_CONTRIBUTOR' || "
        "event.pull_request.author_association == 'FIRST_TIMER' || "
        "startsWith(event.pull_request.head.ref, 'first-timers/') was false "
        "(event.pull_request.author_association is 'OWNER'; "
        "event.pull_request.head.ref is 'changes')" in page
    )
    # a node's if
    assert "is false (event.pull_request.author_association is 'OWNER')" in page


def test_the_page_names_the_rules_that_do_not_listen_and_the_list_says_matched(tmp_path: Path) -> None:
    """Two rough edges of the log (issue 28): "N more rule(s) do not listen" names them, and
    the list's count reads in words ("1 matched, 1 waiting for facts", not "1 + 1 waiting")."""
    client = make_client(tmp_path, token=None)
    with client:
        deliver(client, "d-issue", payload("issues", "opened.1"), event="issues")
        deliver(client, "d-pr", payload("pull_request", "opened.2"))
        page = client.get("/ui/deliveries/d-issue").text
        assert ("4 more rule(s) do not listen to issues.opened: "
                "docs-only, greet, release-only, triage-label") in page
        listing = client.get("/ui/").text
        assert " + " not in listing.split("<tbody>")[1].split("</tbody>")[0]
        assert "0 matched" in listing  # the issue: no rule listens
        assert "matched, 1 waiting for facts" in listing  # the pull request: docs-only waits for its files


def test_a_run_whose_every_node_was_skipped_is_not_shown_as_a_plain_success(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "quiet.yaml").write_text(
        "name: quiet\non:\n  events:\n    pull_request: {types: [opened]}\n"
        "nodes:\n  hello:\n    if: false\n    uses: core.log\n    with: {message: hi}\n"
    )
    settings = server_settings(tmp_path, rules)
    with TestClient(create_app(settings), client=LOOPBACK, base_url="http://localhost:8000") as client:
        deliver(client, "d-quiet", payload("pull_request", "opened.2"))
        wait_until(lambda: "success: every node skipped" in client.get("/ui/deliveries/d-quiet").text)
        page = client.get("/ui/deliveries/d-quiet").text
    assert '<span class="status status-skipped">success: every node skipped</span>' in page
