"""The library's front door: ``transcribe()`` for one file, ``Index`` for a searchable collection."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Iterable, Optional

from . import audio
from .alignment import Alignment, align
from .asr import DEFAULT_ENGINE, DecodeOptions, Engine, Transcriber
from .errors import NotFoundError, SourceError
from .index import TextIndex, is_postgres_url
from .ingest import Ingester, IngestReport, Interrupted
from .models import Hit, Source, SourceKind, Transcript
from .paths import default_cache_dir, default_index
from .sources import fetch as fetching
from .sources.embeds import parse_media_fragment

logger = logging.getLogger("indexer")


def transcribe(
    source: str | Path,
    *,
    model: Optional[str] = None,
    engine: str | Engine = DEFAULT_ENGINE,
    language: Optional[str] = None,
    segment: audio.TimeRange | None = None,
    options: DecodeOptions | dict | None = None,
    cache_dir: Optional[Path] = None,
    progress: bool = False,
    workers: Optional[int] = None,
    tune_memory: Optional[bool] = None,
) -> Transcript:
    """Transcribe an audio file or URL and return its :class:`~indexer.models.Transcript`.

    ``source`` may carry a W3C media fragment (``episode.mp3#t=300,420``), or pass
    ``segment=(300, 420)``: only that part is recognised, and every time is reported in the whole
    file's timeline. A URL is downloaded into the cache first. The result is cached by the audio's
    bytes and the settings, so asking again costs no recognition. ``workers`` chunks are
    recognised at once (default: one per core, at most 4; see :func:`indexer.asr.faster.worker_threads`).
    ``engine`` is an engine name or an instance of one (:class:`indexer.asr.Engine`); ``tune_memory``
    tunes glibc's allocator for the whole process, as the CLI does (:mod:`indexer.asr.allocator`;
    default: ``INDEXER_TUNE_MEMORY=1`` in the environment).
    """
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    path, span = _local_audio(str(source), cache_dir)
    transcriber = Transcriber(
        engine=engine,
        model=model,
        language=language,
        options=options,
        cache_dir=cache_dir,
        progress=progress,
        workers=workers,
        tune_memory=tune_memory,
    )
    try:
        return transcriber.transcribe(path, segment or span)
    finally:
        transcriber.close()


def _local_audio(source: str, cache_dir: Path) -> tuple[Path, audio.TimeRange | None]:
    if not fetching.is_url(source) and Path(source).expanduser().exists():
        return Path(source).expanduser(), None  # a local name may itself contain '#'
    location, span = parse_media_fragment(source)
    if fetching.is_url(location):
        with fetching.Fetcher(cache_dir / "downloads") as fetcher:
            return fetcher.fetch(location, kind="audio").path, span
    path = Path(location).expanduser()
    if not path.exists():
        raise SourceError(f"{source}: no such file")
    return path, span


def _index_location(path: Path | str) -> Path | str:
    """A PostgreSQL URL stays a string (a Path would fold its '//'); anything else is a directory."""
    return str(path) if is_postgres_url(str(path)) else Path(path)


class Index:
    """A searchable collection of articles and transcribed audio, stored in ``path``.

    ``path`` is a directory (a Whoosh index) or a PostgreSQL URL (``postgresql://user@host/db``,
    ``pip install 'indexer[postgres]'``), which many processes and machines can write at once; it
    defaults to ``$INDEXER_INDEX`` or the per-user data directory. Nothing is created there until
    the first ingest; reading where no index is raises IndexUnavailableError. The speech model is
    loaded on the first recognition and reused for every file after it. ``engine`` is an engine
    name or an instance of one (:class:`indexer.asr.Engine`); ``tune_memory``: see :func:`transcribe`.
    ``cluster`` (a Dask scheduler address, ``tcp://host:8786``) sends recognition to that cluster's
    workers, which load the model on ``device`` ("cpu" or "cuda"); see :mod:`indexer.cluster`. Use
    it as a context manager, or call :meth:`close`, to release the model's threads and the index's
    readers.
    """

    def __init__(
        self,
        path: Optional[Path | str] = None,
        *,
        engine: str | Engine = DEFAULT_ENGINE,
        model: Optional[str] = None,
        language: Optional[str] = None,
        options: DecodeOptions | dict | None = None,
        cache_dir: Optional[Path | str] = None,
        fetch: fetching.FetchOptions | dict | None = None,
        progress: bool = False,
        workers: Optional[int] = None,
        tune_memory: Optional[bool] = None,
        cluster: Optional[str] = None,
        device: str = "cpu",
    ):
        self.path = _index_location(path) if path else default_index()
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self._text = TextIndex(self.path)  # opens nothing yet; a postgresql:// URL is a PostgreSQL index
        settings: dict[str, Any] = dict(
            engine=engine,
            model=model,
            language=language,
            options=options,
            cache_dir=self.cache_dir,
            progress=progress,
            workers=workers,
            tune_memory=tune_memory,
        )
        if cluster:
            from .cluster import ClusterTranscriber

            self.transcriber: Transcriber = ClusterTranscriber(cluster, device=device, **settings)
        else:
            self.transcriber = Transcriber(**settings)
        self.fetch_options = fetch

    def __enter__(self) -> "Index":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Stop background recognition and close the index's readers."""
        self.transcriber.close()
        self._text.close()

    def ingest(
        self,
        *sources: str | Path,
        audio: Iterable[str | Path] = (),
        force_asr: bool = False,
        limit: Optional[int] = None,
    ) -> IngestReport:
        """Ingest files, folders (recursively) and URLs; failures are collected, not raised.

        ``audio`` attaches audio files or URLs to each article given (for text articles whose players
        did not survive scraping). ``force_asr`` transcribes feed audio even when the feed ships a
        transcript; ``limit`` takes only the newest N items of a feed.
        """
        with fetching.Fetcher(self.cache_dir / "downloads", self.fetch_options) as fetcher:
            ingester = Ingester(self._text, self.transcriber, fetcher, force_asr=force_asr, feed_limit=limit)
            interrupted = False
            try:
                return ingester.ingest([str(s) for s in sources], attach=[str(a) for a in audio])
            except Interrupted:
                # Out at once: finished transcripts are cached for the next run, and the chunk
                # being recognised is not waited for.
                interrupted = True
                threading.Thread(target=self.transcriber.close, daemon=True).start()
                raise
            finally:
                if not interrupted:  # the batch's background recognition ends with it; the model stays loaded
                    self.transcriber.close()

    def search(self, query: str, *, limit: int = 10, kind: Optional[SourceKind] = None) -> list[Hit]:
        """Hits for a Whoosh-syntax query (AND, OR, NOT, "phrases", prefix*), best first."""
        return self._text.search(query, limit=limit, kind=kind)

    def transcript(self, source_id: str, *, spelling: str = "heard") -> Transcript:
        """The indexed transcript of an audio source: as heard, or with ``spelling="article"`` each word
        an embedding article aligns with in the article's spelling (``Word.heard`` keeps what was heard)."""
        return self._text.transcript(source_id, spelling=spelling)

    def alignment(self, article_id: str, audio_id: str) -> Alignment:
        """How an indexed article aligns with an indexed audio source's transcript.

        Computed from what the index holds (the article's title and paragraphs, the transcript's
        timed words), the way ingesting aligns an article with its audio, so its ``heard`` paragraphs
        are the ``heard_at`` of the article's hits. Any article and audio can be aligned, also a
        pair the article does not embed (``Alignment.embedded`` says whether it does): audio that
        neither reads nor quotes the article gives an alignment with no stretches. A publisher's
        transcript has no word times and aligns nowhere. Raises NotFoundError for an unknown id, or
        an id of the other kind.
        """
        article = self._text.article(article_id)
        if article is None:
            found = self._text.source(article_id)
            what = f"{article_id} is audio, not an article" if found is not None else f"no article {article_id!r} in the index"
            raise NotFoundError(what)
        audio_source = self._text.source(audio_id)
        if audio_source is None or audio_source.kind != "audio":
            what = f"{audio_id} is an article, not audio" if audio_source is not None else f"no audio {audio_id!r} in the index"
            raise NotFoundError(what)
        result = align(article.title, article.paragraphs, self._text.transcript(audio_id))
        result.article_id, result.audio_id, result.audio = article_id, audio_id, audio_source.location
        result.embedded = article_id in audio_source.article_ids
        return result

    def sources(self) -> list[Source]:
        """Every source in the index: articles first, then audio."""
        return self._text.sources()

    def source(self, source_id: str) -> Source:
        found = self._text.source(source_id)
        if found is None:
            raise NotFoundError(f"no source {source_id!r} in the index")
        return found

    def remove(self, source_id: str) -> list[Source]:
        """Delete a source; an article takes with it the audio that no other article embeds.

        Returns the sources removed.
        """
        return self._text.remove(source_id)
