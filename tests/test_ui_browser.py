"""The browser log in a real browser: Playwright drives Debian's Chromium (launched by its
path; `make test` installs it with apt-get when missing) against a `hookwise serve` process."""

from __future__ import annotations

import copy
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DATA, REPO
from tests.rulekit import payload
from tests.serverkit import SECRET, free_port, signed, start_process, stop_process

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")

TOKEN = "browser-token-5f0c2a"
OUTPUT = Path(os.environ.get("HOOKWISE_TEST_OUTPUT") or REPO / ".cache" / "test-output")
CHROMIUM = os.environ.get("HOOKWISE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# as root, without a sandbox; no background traffic toward a network this machine cannot reach
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _need_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    message = f"Chromium not found at {CHROMIUM}: `make test` installs Debian's chromium package"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import httpx

    folder = tmp_path_factory.mktemp("ui-server")
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "HOOKWISE_"))},
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "DATABASE_URL": f"sqlite:///{folder / 'hookwise.db'}",
        "HOOKWISE_UI_TOKEN": TOKEN,
        "HOOKWISE_CACHE_DIR": "off",
        "HOOKWISE_REPO_RULES": "false",
    }
    process = start_process(
        ["serve", "--port", str(port), "--rules", str(DATA / "ui-rules")],
        env,
        folder / "server.log",
        health=f"http://127.0.0.1:{port}/health",
    )
    url = f"http://127.0.0.1:{port}"
    try:  # from here on, whatever fails stops the server
        script = copy.deepcopy(payload("pull_request", "opened.2"))
        script["pull_request"]["title"] = "<script>window.__pwned = 1</script><b>bold</b>"
        for delivery, data in (("pr-opened", payload("pull_request", "opened.2")), ("pr-script", script)):
            body, headers = signed(data, "pull_request", delivery)
            answer = httpx.post(f"{url}/webhooks/github", content=body, headers=headers)
            assert answer.status_code == 202
        yield url
    finally:
        stop_process(process)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _need_chromium()
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    context = browser.new_context(base_url=server, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    opened = context.new_page()
    dialogs: list[str] = []
    opened.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    opened.dialogs = dialogs
    try:
        yield opened
    finally:
        context.close()


def sign_in(page: Any) -> None:
    page.goto("/ui/")
    assert "/ui/login" in page.url
    page.fill("#token", TOKEN)
    page.click("button[type=submit]")
    sync_api.expect(page.locator("h1")).to_have_text("Deliveries")


def test_log_in_open_a_delivery_read_why_and_replay(page: Any, tmp_path: Path) -> None:
    sign_in(page)
    page.click("a.delivery-link:text('pr-opened')")
    sync_api.expect(page.locator("#delivery-id")).to_have_text("pr-opened")
    # the non-match, in words, and the undecided rule with its reason
    release = page.locator("tr.outcome-row[data-rule='release-only']")
    sync_api.expect(release.locator(".outcome")).to_have_text("not matched")
    sync_api.expect(release.locator("td.reason")).to_have_text(
        "base branch 'master' is not matched by [release/**]"
    )
    docs = page.locator("tr.outcome-row[data-rule='docs-only']")
    sync_api.expect(docs.locator(".outcome")).to_have_text("undecided")
    for rule in ("greet", "triage-label"):
        row = page.locator(f"tr.outcome-row[data-rule='{rule}'] .outcome")
        sync_api.expect(row).to_have_text("matched")
    # the first runs are drawn (the page reloads itself until the jobs end)
    sync_api.expect(page.locator("section.run[id^='run-0-']")).to_have_count(2)
    sync_api.expect(page.locator("#run-0-triage-label svg g.node")).to_have_count(2)
    page.locator("#run-0-greet details.node-detail summary").click()
    sync_api.expect(page.locator("#run-0-greet ul.calls")).to_contain_text(
        "POST /repos/Codertocat/Hello-World/issues/2/comments"
    )
    # replay: a new run appears
    page.click("#replay")
    sync_api.expect(page.locator("#replay-notice")).to_have_text("Replayed as run #1.")
    sync_api.expect(page.locator("section.run[id^='run-1-']")).to_have_count(2)
    sync_api.expect(page.locator("#run-1-greet .status").first).to_have_text("success")
    shot = tmp_path / "delivery-page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    # kept where people look after a run, as well as in pytest's own tmp folder
    OUTPUT.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, OUTPUT / shot.name)
    assert page.dialogs == []


def test_a_payload_carrying_a_script_renders_as_text(page: Any) -> None:
    sign_in(page)
    page.goto("/ui/deliveries/pr-script")
    page.locator("#payload summary").click()
    text = page.locator("#payload-text")
    sync_api.expect(text).to_contain_text('"title": "<script>window.__pwned = 1</script><b>bold</b>"')
    assert page.evaluate("() => window.__pwned === undefined")
    assert page.locator("#payload-text b").count() == 0
    assert page.locator("main script").count() == 0
    assert page.dialogs == []


def test_a_wrong_token_is_refused_and_nothing_opens(page: Any) -> None:
    page.goto("/ui/deliveries/pr-opened")
    assert "/ui/login" in page.url
    page.fill("#token", "not-the-token")
    page.click("button[type=submit]")
    sync_api.expect(page.locator("p.message")).to_have_text("That is not the token.")
    answer = page.request.post("/ui/deliveries/pr-opened/replay", form={"csrf": "x"})
    assert answer.status == 403
    assert [c["name"] for c in page.context.cookies()] == ["hookwise_ui_login"]
