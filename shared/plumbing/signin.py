"""The pages' sign-in, the same in every service: a key checked once, then a session (sessions.py)
whose random id is the cookie; every form carries the session's CSRF token; sign-out ends it.

Each service names its own cookie: browsers send a host's cookies to every port of it, and the
services' sessions are each in their own database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from shared.contracts.labels import N_
from shared.plumbing import auth, sessions
from shared.plumbing.pages import words_of

UNKNOWN_KEY = N_("This key is unknown, revoked or expired.")
EXPIRED_FORM = N_("This form has expired.")


@dataclass(frozen=True)
class SignIn:
    cookie: str
    homes: dict[str, str]  # role -> the page a key of that role opens at sign-in (admin: the first)
    login_path: str
    other_role: str  # what the sign-in says to a key of another role
    title: str  # the pages' name in their header
    legacy_cookies: tuple[str, ...] = ()  # cookies of earlier versions, cleared at sign-in and sign-out

    @property
    def logout_path(self) -> str:
        return self.login_path.rsplit("/", 1)[0] + "/logout"

    async def session(self, request: Request) -> None:
        """A router dependency: the signed-in person, from the session cookie; the guard that follows
        takes her principal (a key in a header works too, for tools). A session whose key no longer
        authenticates (revoked, expired) ends."""
        session_id = request.cookies.get(self.cookie)
        if not session_id:
            return
        s, pool = request.app.state.settings, request.app.state.runtime.pool
        async with pool.acquire() as conn:
            session = await sessions.find(conn, session_id, timedelta(minutes=s.staff_session_idle_minutes),
                                          timedelta(hours=s.staff_session_hours))
            if session is None:
                return
            try:
                principal = await request.app.state.keys.principal_for_token(pool, session.key)
            except auth.Unauthenticated:
                await sessions.end(conn, session_id)
                return
        request.state.session = session
        request.state.principal = principal

    def context(self, request: Request) -> dict:
        """For the templates: the CSRF token, who is signed in (the key's holder acts), the header."""
        session = getattr(request.state, "session", None)
        principal = getattr(request.state, "principal", None)
        return {"csrf": session.csrf if session else "", "signed_in": session is not None,
                "acting": principal.name if session is not None and principal is not None else None,
                "site_title": self.title, "login_path": self.login_path, "logout_path": self.logout_path}

    async def page(self, request: Request, templates: Jinja2Templates, error: str | None = None):
        request.state.page = self.login_path
        return templates.TemplateResponse(request, "login.html", {"error": error},
                                          status_code=401 if error else 200)

    async def login(self, request: Request, templates: Jinja2Templates):
        """Check the key once and open a session: the cookie holds its random id, never the key."""
        token = str((await request.form()).get("key", "")).strip()
        w = words_of(request)
        try:
            principal = await request.app.state.keys.principal_for_token(request.app.state.runtime.pool, token)
            auth.allow(principal, *self.homes)
        except auth.Unauthenticated:
            return await self.page(request, templates, w._(UNKNOWN_KEY))
        except auth.Forbidden:
            return await self.page(request, templates, w._(self.other_role))
        s = request.app.state.settings
        async with request.app.state.runtime.pool.acquire() as conn:
            session = await sessions.start(conn, principal.key_id, token)
        home = self.homes.get(principal.role) or next(iter(self.homes.values()))
        response = RedirectResponse(home, status_code=303)
        response.set_cookie(self.cookie, session.session_id, httponly=True, samesite="strict", path="/",
                            secure=s.staff_cookie_secure, max_age=int(s.staff_session_hours * 3600))
        for legacy in self.legacy_cookies:
            response.delete_cookie(legacy, path="/staff")
        return response

    def mount(self, router: APIRouter, templates: Jinja2Templates) -> None:
        """The sign-in page, its form and the sign-out, on the router of the pages they open
        (the router's prefix is the login path's folder)."""
        async def login_page(request: Request):
            return await self.page(request, templates)

        async def login(request: Request):
            return await self.login(request, templates)

        async def logout(request: Request):
            return await self.logout(request)

        router.add_api_route("/login", login_page, methods=["GET"], response_class=HTMLResponse)
        router.add_api_route("/login", login, methods=["POST"])
        router.add_api_route("/logout", logout, methods=["POST"])

    async def logout(self, request: Request):
        """End the session (it no longer opens anything, even with the cookie kept) and clear the cookie."""
        session = getattr(request.state, "session", None)
        if session is not None:
            if not sessions.same_csrf(session, (await request.form()).get("csrf")):
                return message(request, EXPIRED_FORM, 403, self.login_path)
            async with request.app.state.runtime.pool.acquire() as conn:
                await sessions.end(conn, session.session_id)
        response = RedirectResponse(self.login_path, status_code=303)
        response.delete_cookie(self.cookie, path="/")
        for legacy in self.legacy_cookies:
            response.delete_cookie(legacy, path="/staff")
        return response


def for_centres(cookie: str, home: str) -> SignIn:
    """The sign-in of a centre's pages in one service (its space spans intake, progress, outcomes)."""
    return SignIn(cookie=cookie, homes={"centre": home}, login_path=f"{home}/login",
                  title=N_("Parcours · training centre"),
                  other_role=N_("This key does not open these pages: they are for training centres."))


def csrf_ok(request: Request, sent) -> bool:
    """A form of a signed-in person must carry her session's token (a form posted from another site
    with her cookie does not); a tool with a key in a header has no session and needs none."""
    session = getattr(request.state, "session", None)
    return session is None or sessions.same_csrf(session, sent)


def message(request: Request, text: str, status_code: int, back_to: str) -> HTMLResponse:
    """A short page that says one thing (a message of the catalogue) and links back."""
    w = words_of(request)
    said, back = escape(w._(text)), escape(w._("Back"))
    return HTMLResponse(f"<!doctype html><html lang='{w.lang}'><title>Parcours</title><p>{said} "
                        f"<a href='{escape(back_to)}'>{back}</a></p></html>", status_code=status_code)
