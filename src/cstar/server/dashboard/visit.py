"""Who is looking: the signed-in session behind a request, and the checks every form passes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData

from cstar.server.bootstrap import Container
from cstar.server.dashboard.security import check_csrf
from cstar.server.domain.dashboard import DashboardSession
from cstar.server.domain.models import Team

SESSION_COOKIE = "cstar_session"
#: Double-submit token of the sign-in form (there is no session yet to hold one).
SIGN_IN_COOKIE = "cstar_sign_in"
COOKIE_PATH = "/dashboard"


class SignInRequired(Exception):
    """No live session: the browser is sent to sign in, and back here afterwards."""


@dataclass(frozen=True, slots=True)
class Visit:
    container: Container
    session: DashboardSession
    team: Team

    @property
    def team_id(self) -> str:
        return self.team.id

    @property
    def csrf(self) -> str:
        return self.session.csrf_token


def container_of(request: Request) -> Container:
    container: Container = request.app.state.container_of()
    return container


async def current_visit(request: Request) -> Visit:
    container = container_of(request)
    session = await container.dashboard_sessions.resolve(request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise SignInRequired
    team = await container.store.get_team(session.team_id)
    if team is None:
        raise SignInRequired
    return Visit(container=container, session=session, team=team)


async def checked_form(
    request: Request, visit: Annotated[Visit, Depends(current_visit)]
) -> FormData:
    """The posted form, once its CSRF token matches the session's."""
    form = await request.form()
    check_csrf(visit.csrf, form.get("csrf"))
    return form


VisitDep = Annotated[Visit, Depends(current_visit)]
FormDep = Annotated[FormData, Depends(checked_form)]


def secure_cookie(request: Request) -> bool:
    """Cookies are Secure when the page is served over HTTPS (directly or, with
    ``CSTAR_TRUSTED_PROXIES``, behind a proxy that says so)."""
    return request.url.scheme == "https"
