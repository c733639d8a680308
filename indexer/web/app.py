"""The routes: pages for people (search, transcript, sources) and the same data as JSON.

Every route reads the index through the public :class:`indexer.Index` (search, sources, source,
transcript), the same calls the command line makes, so ``/api/search`` answers exactly what
``indexer search --json`` prints. The server never writes to the index: the library's searcher picks
up what another process commits, so sources ingested while it runs show up without a restart.
"""

from __future__ import annotations

import io
import threading
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Optional, Sequence
from urllib.parse import quote, urlencode

import jinja2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..cli import clock
from ..errors import NotFoundError, QueryError
from ..library import Index
from ..models import Hit, Source, SourceKind, Transcript, source_json
from ..sources.fetch import Fetcher, is_url
from ..writers import WRITERS, get_writer
from . import present
from .media import audio_response

HERE = Path(__file__).resolve().parent
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
PAGE_SIZE = 20
MAX_LIMIT = 1000
KINDS: tuple[SourceKind, ...] = ("audio", "article")  # a kind from a query string is checked against these
# Scripts and styles only from this server, never inline: a paragraph that slipped through escaping
# still could not run. Audio may come from the URLs it was ingested from.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self' http: https:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_DOWNLOAD_TYPES = {
    "txt": "text/plain; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
    "json": "application/json",
}


class ReadOnlyIndex:
    """The index as the pages read it, one call at a time.

    Whoosh's open searcher reads its files through shared handles (seek, then read), so two threads
    searching at once could read each other's bytes; requests run in a thread pool, hence the lock.
    """

    def __init__(self, index: Index):
        self._index = index
        self._lock = threading.Lock()

    def search(self, query: str, *, limit: int, kind: Optional[SourceKind]) -> list[Hit]:
        with self._lock:
            return self._index.search(query, limit=limit, kind=kind)

    def sources(self) -> list[Source]:
        with self._lock:
            return self._index.sources()

    def source(self, source_id: str) -> Source:
        with self._lock:
            return self._index.source(source_id)

    def transcript(self, source_id: str) -> Transcript:
        with self._lock:
            return self._index.transcript(source_id)


class _SecurityHeaders:
    """Adds the content security policy and no-sniff to every response."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))
                headers.append((b"x-content-type-options", b"nosniff"))
                headers.append((b"referrer-policy", b"no-referrer"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every value, in every template: article text and transcripts are untrusted
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["clock"] = lambda seconds: clock(seconds or 0.0)
    env.filters["marks"] = present.marks
    env.filters["pathpart"] = lambda text: quote(text, safe="")
    env.filters["query"] = lambda params: urlencode({k: v for k, v in params.items() if v not in (None, "")})
    env.globals.update(
        version=__version__,
        is_url=is_url,
        plays=present.plays,
        transcript_path=present.transcript_path,
        word_spans=present.word_spans,
        formats=list(WRITERS),
    )
    return Jinja2Templates(env=env)


def create_app(
    index: Index,
    *,
    allowed_hosts: Optional[Sequence[str]] = LOOPBACK_HOSTS,
) -> Starlette:
    """The web application over ``index``.

    ``allowed_hosts`` are the names the browser may use in the Host header (None: any). Keeping them
    to loopback names stops a web page from reaching this server through a DNS name it controls.
    """
    library = ReadOnlyIndex(index)
    templates = _templates()
    fetcher = Fetcher(index.cache_dir / "downloads")

    def page(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
        return templates.TemplateResponse(request, name, context, status_code=status_code)

    def search_page(request: Request) -> Response:
        query = request.query_params.get("q", "").strip()
        kind = request.query_params.get("kind") or None
        context: dict[str, Any] = {"query": query, "kind": kind, "groups": [], "error": None, "more": False}
        try:
            if kind is not None and kind not in KINDS:
                raise QueryError(f"unknown kind {kind!r}: choose audio or article")
            limit = _limit(request.query_params.get("limit"), PAGE_SIZE)
            context["limit"], context["page_size"] = limit, PAGE_SIZE
            if not query:
                sources = library.sources()
                context["totals"] = {k: sum(s.kind == k for s in sources) for k in KINDS}
                return page(request, "home.html", context)
            # One hit more than shown tells whether there is a next page.
            hits = library.search(query, limit=limit + 1, kind=kind)
        except QueryError as e:
            context["error"] = str(e)
            return page(request, "search.html", {**context, "limit": PAGE_SIZE, "page_size": PAGE_SIZE, "hits": []}, 400)
        context["more"] = len(hits) > limit
        context["hits"] = hits[:limit]
        context["groups"] = present.group_hits(context["hits"])
        return page(request, "search.html", context)

    def transcript_page(request: Request) -> Response:
        source = _audio_source(library, request.path_params["source_id"])
        transcript = library.transcript(source.id)
        articles = []
        for article_id in source.article_ids:
            try:
                articles.append(library.source(article_id))
            except NotFoundError:
                continue
        src, fallback = present.player_source(source.id, source.location)
        context = {
            "source": source,
            "title": articles[0].title if articles else source.title,
            "date": articles[0].date if articles and articles[0].date else source.date,
            "articles": articles,
            "transcript": transcript,
            "src": src,
            "fallback": fallback,
            "query": "",
            "kind": None,
        }
        return page(request, "transcript.html", context)

    def sources_page(request: Request) -> Response:
        articles, alone = present.arrange_sources(library.sources())
        return page(request, "sources.html", {"articles": articles, "alone": alone, "query": "", "kind": None})

    def media(request: Request) -> Response:
        source = _audio_source(library, request.path_params["source_id"])
        return audio_response(source, request.headers.get("range"), fetcher)

    def api_search(request: Request) -> Response:
        kind = request.query_params.get("kind") or None
        try:
            if kind is not None and kind not in KINDS:
                raise QueryError(f"unknown kind {kind!r}: choose audio or article")
            limit = _limit(request.query_params.get("limit"), 10)
            hits = library.search(request.query_params.get("q", ""), limit=limit, kind=kind)
        except QueryError as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        return JSONResponse([hit.to_dict() for hit in hits])

    def api_sources(request: Request) -> Response:
        return JSONResponse([source_json(s) for s in library.sources()])

    def api_transcript(request: Request) -> Response:
        fmt = request.query_params.get("format")
        if fmt is not None and fmt not in WRITERS:
            return JSONResponse({"error": f"unknown format {fmt!r}: choose {', '.join(WRITERS)}"}, status_code=400)
        source_id = request.path_params["source_id"]
        try:
            transcript = library.transcript(source_id)
        except NotFoundError as e:
            return JSONResponse({"error": str(e)}, status_code=404)
        out = io.StringIO()
        get_writer(fmt or "json").write(transcript, out)
        headers = {}
        if fmt is not None:  # asked for a file: offer it as a download named after the source
            headers["Content-Disposition"] = f'attachment; filename="{_file_name(source_id)}.{fmt}"'
        return Response(out.getvalue(), media_type=_DOWNLOAD_TYPES[fmt or "json"], headers=headers)

    async def not_found(request: Request, exc: Exception) -> Response:
        detail = exc.detail if isinstance(exc, HTTPException) else "not found"
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": detail}, status_code=404)
        return page(request, "error.html", {"message": detail, "query": "", "kind": None}, 404)

    @asynccontextmanager
    async def lifespan(app: Starlette):
        try:
            yield
        finally:
            fetcher.close()

    routes = [
        Route("/", search_page),
        Route("/audio/{source_id}", transcript_page),
        Route("/sources", sources_page),
        Route("/media/{source_id}", media, methods=["GET", "HEAD"]),
        Route("/api/search", api_search),
        Route("/api/sources", api_sources),
        Route("/api/transcript/{source_id}", api_transcript),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    middleware = [Middleware(_SecurityHeaders)]
    if allowed_hosts is not None:
        middleware.insert(0, Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts)))
    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={404: not_found},
        lifespan=lifespan,
    )


def _audio_source(library: ReadOnlyIndex, source_id: str) -> Source:
    try:
        source = library.source(source_id)
    except NotFoundError as e:
        raise HTTPException(404, str(e)) from e
    if source.kind != "audio":
        audio = ", ".join(source.audio_ids) or "none"
        raise HTTPException(404, f"{source_id} is an article, not audio; its audio: {audio}")
    return source


def _limit(value: Optional[str], default: int) -> int:
    if value in (None, ""):
        return default
    try:
        limit = int(value)
    except ValueError:
        raise QueryError(f"limit must be a whole number, not {value!r}") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"limit must be between 1 and {MAX_LIMIT}")
    return limit


def _file_name(source_id: str) -> str:
    # Ids are the index's own (kind-hex), but a header is no place for quotes or line breaks.
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in source_id)
