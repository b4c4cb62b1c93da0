"""Signing in (a secret key, or an operator's one-time link) and out."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import RedirectResponse, Response

from cstar.server.dashboard.security import HOME, safe_next
from cstar.server.dashboard.templating import render
from cstar.server.dashboard.visit import (
    COOKIE_PATH,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    FormDep,
    container_of,
    secure_cookie,
)
from cstar.server.domain.dashboard import SESSION_IDLE
from cstar.server.domain.errors import AuthenticationFailed, PermissionDenied, RateLimited

router = APIRouter()


def _sign_in_page(
    request: Request, *, next_path: str, error: str | None = None, status_code: int = 200
) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(
        "sign_in.html",
        {"next": next_path, "csrf": token, "error": error, "visit": None},
        status_code=status_code,
    )
    response.set_cookie(
        SIGN_IN_COOKIE,
        token,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=secure_cookie(request),
    )
    return response


def _signed_in(request: Request, token: str, next_path: str) -> Response:
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        path=COOKIE_PATH,
        max_age=int(SESSION_IDLE.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=secure_cookie(request),
    )
    response.delete_cookie(SIGN_IN_COOKIE, path=COOKIE_PATH)
    return response


@router.get("/sign-in")
async def sign_in_page(
    request: Request, next: Annotated[str | None, Query(max_length=2048)] = None
) -> Response:
    return _sign_in_page(request, next_path=safe_next(next))


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    form = await request.form()
    next_path = safe_next(str(form.get("next") or ""))
    cookie = request.cookies.get(SIGN_IN_COOKIE, "")
    sent = form.get("csrf")
    if not cookie or not isinstance(sent, str) or not hmac.compare_digest(cookie, sent):
        return _sign_in_page(
            request,
            next_path=next_path,
            error="Your sign-in form expired. Please try again.",
            status_code=403,
        )
    container = container_of(request)
    client = request.client.host if request.client else "unknown"
    limiter = container.auth_failure_limiter
    raw = form.get("secret_key")
    try:
        token = await container.dashboard_sessions.sign_in(raw if isinstance(raw, str) else "")
    except (AuthenticationFailed, PermissionDenied) as exc:
        wait = limiter.blocked_for(client)
        if wait:
            raise RateLimited(wait) from None
        await limiter.hit(client)
        message = exc.message
        if isinstance(exc, AuthenticationFailed):
            message = "That key was not recognised: it is unknown, mistyped or revoked."
        return _sign_in_page(request, next_path=next_path, error=message, status_code=401)
    return _signed_in(request, token, next_path)


@router.get("/sign-in/link/{token}")
async def sign_in_with_link(request: Request, token: str) -> Response:
    container = container_of(request)
    try:
        session_token = await container.dashboard_sessions.open_link(token[:200])
    except AuthenticationFailed as exc:
        return _sign_in_page(request, next_path=HOME, error=exc.message, status_code=401)
    return _signed_in(request, session_token, HOME)


@router.post("/sign-out")
async def sign_out(request: Request, _form: FormDep) -> Response:
    await container_of(request).dashboard_sessions.sign_out(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/dashboard/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return response
