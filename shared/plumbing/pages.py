"""What every service's pages share: the reader's language, the templates that speak it, and the
cookie that keeps the language a person chose with the switch.

Pages are server-rendered (Jinja2) with no build step; their words come from the one catalogue
(shared/i18n), never from strings of a template alone.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from urllib.parse import parse_qsl, urlencode

from fastapi import Request
from fastapi.templating import Jinja2Templates

from shared import i18n
from shared.contracts import labels


def words_of(request: Request) -> i18n.Words:
    """The reader's language: the switch in the address, else their earlier choice, else the browser's."""
    lang = i18n.choose(request.query_params.get("lang"), request.cookies.get(i18n.COOKIE),
                       request.headers.get("accept-language"))
    return i18n.Words(lang)


def switch_to(request: Request, lang: str) -> str:
    """This page's address in another language (the rest of its query kept). A page answering a form
    (a POST) is switched at the address it is read at, which the route names in `request.state.page`."""
    page = getattr(request.state, "page", None)
    if page is not None or request.method != "GET":
        return f"{page or '/'}?{urlencode({'lang': lang})}"
    query = {k: v for k, v in request.query_params.items() if k != "lang"} | {"lang": lang}
    return f"{request.url.path}?{urlencode(query)}"


def language_context(request: Request) -> dict:
    """What a template needs to speak the reader's language (also for a page rendered as a file)."""
    w = words_of(request)
    others = [(lang, i18n.NAMES[lang], switch_to(request, lang)) for lang in i18n.LANGUAGES if lang != w.lang]
    return {"w": w, "_": w._, "n_": w.n_, "lang": w.lang, "other_languages": others, "labels": labels}


def templates(package: str, *processors: Callable[[Request], dict]) -> Jinja2Templates:
    """The package's templates, each page given the reader's words (`_`, `n_`, `w` for dates,
    numbers and labels) beside what the service's own processors add."""
    own = resources.files(package) / "templates"
    common = resources.files("shared.plumbing") / "templates"  # base.html and login.html of every service
    return Jinja2Templates(directory=[str(own), str(common)], context_processors=[language_context, *processors])


class RememberLanguage:
    """ASGI middleware: a page opened with ?lang= keeps that language for the pages that follow
    (a cookie). Plain ASGI, so that the API's requests, which never carry `lang`, pay one byte
    search and nothing more."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        asked = _asked_language(scope) if scope["type"] == "http" else None
        if asked is None:
            await self.app(scope, receive, send)
            return
        cookie = f"{i18n.COOKIE}={asked}; Max-Age={365 * 24 * 3600}; Path=/; HttpOnly; SameSite=Lax".encode()

        async def with_cookie(message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
            await send(message)

        await self.app(scope, receive, with_cookie)


def _asked_language(scope) -> str | None:
    query = scope.get("query_string", b"")
    if b"lang=" not in query:
        return None
    asked = dict(parse_qsl(query.decode("latin-1"))).get("lang")
    return asked if asked in i18n.LANGUAGES else None
