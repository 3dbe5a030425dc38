"""The browser log's routes (docs/design.md §4): /ui/, /ui/deliveries/{id} and its replay, /ui/rules,
/ui/installations, the login form, and the package's own assets under /ui/static/."""

from __future__ import annotations

import asyncio
import re
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from engine import __version__
from engine.edge.ingest import Hookwise
from engine.edge.throttle import RateLimiter
from engine.edge.ui import pages
from engine.edge.ui.access import (
    LOGIN_COOKIE,
    LOGIN_SECONDS,
    SESSION_COOKIE,
    SESSION_SECONDS,
    UiAccess,
)
from engine.errors import HookwiseError
from engine.match.payload import PayloadError
from engine.store.records import StoreError

STATIC = {"ui.css": "text/css; charset=utf-8", "favicon.svg": "image/svg+xml"}
MAX_FORM_BYTES = 16 * 1024
MANIFEST_CODE = re.compile(r"[A-Za-z0-9_-]{1,100}")
SECURITY_HEADERS = {
    # everything comes from hookwise itself; nothing may frame the page or post elsewhere
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; script-src 'none'; img-src 'self';"
        " form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: with no-referrer a browser posts `Origin: null`, and the
    # Origin check could not tell our own forms from another site's
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}
LOOPBACK_ONLY = (
    "HOOKWISE_UI_TOKEN is not set, so the browser log answers loopback clients only. Set "
    "HOOKWISE_UI_TOKEN on the server to open it to others (they log in with that token)."
)


def _templates() -> Environment:
    env = Environment(
        loader=PackageLoader("engine.edge.ui", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["qs"] = lambda params: urlencode(params)
    env.globals["version"] = __version__
    return env


def ui_router(hookwise: Hookwise) -> APIRouter:
    """The /ui routes of one server."""
    router = APIRouter(include_in_schema=False)
    access = UiAccess(hookwise.settings.ui_token)
    templates = _templates()
    failed_logins = RateLimiter(10)
    versions = pages.rule_versions(hookwise)

    def render(
        request: Request, name: str, session: str | None, status: int = 200, **data: Any
    ) -> HTMLResponse:
        html = templates.get_template(name).render(
            csrf=access.csrf_for(session) if session else "",
            login_required=access.token_set,
            signed_in=session is not None,
            path=request.url.path,
            **data,
        )
        response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
        if session is not None and request.cookies.get(SESSION_COOKIE) != session:
            _set_cookie(request, response, SESSION_COOKIE, session, SESSION_SECONDS)
        return response

    def message(
        request: Request, status: int, title: str, text: str, link: str | None = None
    ) -> HTMLResponse:
        return render(request, "message.html", None, status, title=title, text=text, link=link)

    def allowed(request: Request) -> bool:
        host = request.client.host if request.client else None
        return access.client_allowed(host, request.headers.get("host"))

    def session_of(request: Request) -> str | Response | None:
        """The request's session; a new one for loopback without a token; else an answer."""
        if not allowed(request):
            return message(request, 403, "Loopback only", LOOPBACK_ONLY)
        cookie = request.cookies.get(SESSION_COOKIE)
        if access.session_valid(cookie):
            return cookie
        if not access.token_set:
            return access.new_session()
        return None

    def gate_page(request: Request) -> str | Response:
        """A page's session, or the answer instead of the page (login, loopback only)."""
        found = session_of(request)
        if isinstance(found, Response):
            return found
        if found is None:
            target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
            return RedirectResponse(f"/ui/login?next={target}", 303, headers=SECURITY_HEADERS)
        return found

    async def gate_post(request: Request) -> tuple[str, dict[str, str]] | Response:
        """A POST's session and form, checked: an existing session and its CSRF token."""
        found = session_of(request)
        if isinstance(found, Response):
            return found
        cookie = request.cookies.get(SESSION_COOKIE)
        if found is None or cookie != found:
            return message(request, 403, "Not signed in", "Sign in again, then retry.")
        if not _same_origin(request):
            return message(request, 403, "Another site's form", "Forms are accepted from this site only.")
        form = await _form(request)
        if form is None:
            return message(request, 413, "Form too large", "The form is larger than allowed.")
        if not access.csrf_valid(cookie, form.get("csrf")):
            return message(request, 403, "Bad form token", "Reload the page, then retry.")
        return cookie, form

    @router.get("/setup/app-created")
    async def app_created(request: Request, code: str = "") -> Response:
        # where the manifest flow returns: the code is shown, never kept (app create uses it)
        shown = code if MANIFEST_CODE.fullmatch(code) else ""
        state = request.query_params.get("state", "")
        return render(
            request, "setup.html", None, code=shown, state=state if MANIFEST_CODE.fullmatch(state) else ""
        )

    @router.get("/ui")
    async def ui_root() -> Response:
        return RedirectResponse("/ui/", 308)

    @router.get("/ui/static/{name}")
    async def static(name: str) -> Response:
        if name not in STATIC:
            return Response("not found", 404, media_type="text/plain")
        body = files("engine.edge.ui").joinpath("static", name).read_bytes()
        return Response(body, media_type=STATIC[name], headers={"Cache-Control": "max-age=3600"})

    @router.get("/ui/login")
    async def login_form(request: Request, next: str = "/ui/") -> Response:
        if not allowed(request):
            return message(request, 403, "Loopback only", LOOPBACK_ONLY)
        if not access.token_set:
            return RedirectResponse("/ui/", 303, headers=SECURITY_HEADERS)
        login = access.new_login()
        response = render(
            request, "login.html", None, login_csrf=access.csrf_for(login), next=_local(next)
        )
        _set_cookie(request, response, LOGIN_COOKIE, login, LOGIN_SECONDS)
        return response

    @router.post("/ui/login")
    async def login(request: Request) -> Response:
        host = (request.client.host if request.client else None) or "unknown"
        if not access.token_set:
            return RedirectResponse("/ui/", 303, headers=SECURITY_HEADERS)
        form = await _form(request)
        login_cookie = request.cookies.get(LOGIN_COOKIE)
        if (
            not _same_origin(request)
            or form is None
            or not access.login_valid(login_cookie)
            or not access.csrf_valid(login_cookie, form.get("csrf"))
        ):
            return message(
                request, 403, "Bad form token", "Open the login page again.", "/ui/login"
            )
        if failed_logins.exhausted(host):  # refused even when right: guessing stays slow
            return message(
                request, 429, "Not signed in", "Too many wrong tokens; wait a minute.", "/ui/login"
            )
        if not access.token_matches(form.get("token", "")):
            failed_logins.allow(host)
            return message(request, 403, "Not signed in", "That is not the token.", "/ui/login")
        response = RedirectResponse(_local(form.get("next", "/ui/")), 303, headers=SECURITY_HEADERS)
        _set_cookie(request, response, SESSION_COOKIE, access.new_session(), SESSION_SECONDS)
        response.delete_cookie(LOGIN_COOKIE, path="/ui")
        return response

    @router.post("/ui/logout")
    async def logout(request: Request) -> Response:
        checked = await gate_post(request)
        if isinstance(checked, Response):
            return checked
        response = RedirectResponse(
            "/ui/login" if access.token_set else "/ui/", 303, headers=SECURITY_HEADERS
        )
        response.delete_cookie(SESSION_COOKIE, path="/ui")
        return response

    @router.get("/ui/")
    async def deliveries(request: Request) -> Response:
        session = gate_page(request)
        if isinstance(session, Response):
            return session
        query = pages.ListQuery.parse(request.query_params)
        try:
            data = await asyncio.to_thread(pages.delivery_list, hookwise, query)
        except StoreError as exc:
            return message(request, 503, "Database unavailable", str(exc))
        return render(request, "deliveries.html", session, **data)

    @router.get("/ui/deliveries/{delivery_id}")
    async def delivery(request: Request, delivery_id: str) -> Response:
        session = gate_page(request)
        if isinstance(session, Response):
            return session
        try:
            data = await asyncio.to_thread(pages.delivery_detail, hookwise, delivery_id)
        except StoreError as exc:
            return message(request, 503, "Database unavailable", str(exc))
        if data is None:
            return message(request, 404, "No such delivery", f"No delivery {delivery_id!r}.")
        replayed = request.query_params.get("replayed", "")
        return render(
            request,
            "delivery.html",
            session,
            replayed=replayed if replayed == "none" or replayed.isdigit() else "",
            refresh=2 if data["busy"] else None,
            **data,
        )

    @router.post("/ui/deliveries/{delivery_id}/replay")
    async def replay(request: Request, delivery_id: str) -> Response:
        checked = await gate_post(request)
        if isinstance(checked, Response):
            return checked
        stored = await asyncio.to_thread(hookwise.store.delivery, delivery_id)
        if stored is None:
            return message(request, 404, "No such delivery", f"No delivery {delivery_id!r}.")
        try:
            generation = await hookwise.replay(stored)
        except (HookwiseError, PayloadError) as exc:
            return message(request, 409, "Cannot replay", str(exc))
        target = f"/ui/deliveries/{quote(delivery_id)}"
        target += f"?replayed={generation}" if generation is not None else "?replayed=none"
        return RedirectResponse(target, 303, headers=SECURITY_HEADERS)

    @router.get("/ui/rules")
    async def rules(request: Request) -> Response:
        session = gate_page(request)
        if isinstance(session, Response):
            return session
        groups = await pages.rules_page(hookwise, versions)
        return render(request, "rules.html", session, groups=groups)

    @router.get("/ui/installations")
    async def installations(request: Request) -> Response:
        session = gate_page(request)
        if isinstance(session, Response):
            return session
        rows = await asyncio.to_thread(pages.installations_page, hookwise)
        return render(request, "installations.html", session, installations=rows)

    return router


async def _form(request: Request) -> dict[str, str] | None:
    """An urlencoded form's fields (the first value of each); None when it is too large."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in fields.items()}


def _local(target: str) -> str:
    """A redirect target inside the browser log only (never another site or page)."""
    decoded = target
    for _ in range(3):  # %252e%252e is .. twice encoded
        decoded = unquote(decoded)
    path = decoded.split("?", 1)[0]
    segments = path.split("/")
    if (
        target.startswith("/ui/")
        and decoded.startswith("/ui/")
        and "//" not in path
        and "\\" not in decoded
        and not any(s in (".", "..") for s in segments)
        and decoded.isprintable()
    ):
        return target
    return "/ui/"


def _same_origin(request: Request) -> bool:
    """A POST's Origin (when the browser sends one) is this site's own."""
    origin = request.headers.get("origin")
    if origin is None:  # not a browser, or one too old to say: the CSRF token still decides
        return True
    return urlsplit(origin).netloc.lower() == (request.headers.get("host") or "").lower()


def _set_cookie(request: Request, response: Response, name: str, value: str, age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=age,
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
