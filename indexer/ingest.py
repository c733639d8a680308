"""Ingesting: from what the user names (files, folders, URLs) to sources in the index.

sources -> audio -> transcribe -> align -> index. Each input is handled on its own: a failure is
recorded and the batch goes on. Each article is written together with its audio in one index
commit, after all slow work (downloads, recognition) is done, so the index never holds half of it.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Optional
from urllib.parse import urlsplit

from . import align, alignment, audio, lexicon, soundalike
from .asr import Transcriber
from .errors import AudioError, IndexerError, NoSpeechError, QueryError, SourceError
from .index import TextIndex
from .links import article_id, audio_id, published_audio_id
from .models import Article, AudioRef, HeardAt, Source, Transcript
from .sources import classify
from .sources import fetch as fetching
from .sources.embeds import parse_media_fragment

logger = logging.getLogger("indexer")


@dataclass
class Failure:
    input: str
    message: str


@dataclass
class IngestReport:
    """What one ``ingest`` call did: sources written, inputs skipped as already indexed, failures."""

    ingested: list[Source] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    recognised: int = 0  # audio files actually run through the model (not answered by the cache)

    @property
    def ok(self) -> bool:
        return not self.failures


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during an ingest; ``report`` says what had been written to the index before it."""

    def __init__(self, report: IngestReport):
        super().__init__()
        self.report = report


# Pages of a batch read ahead, their audio downloaded and started in the background: enough to keep
# the workers busy, not so many that a batch of long episodes fills the disk before anything is written.
READ_AHEAD_PAGES = 32

# Finished audio files are written to the index together, at most this many in one commit, when
# the next input would wait for recognition, and at the end of a batch.
MAX_UNWRITTEN_SOURCES = 64


class Ingester:
    def __init__(
        self,
        index: TextIndex,
        transcriber: Transcriber,
        fetcher: fetching.Fetcher,
        *,
        force_asr: bool = False,
        feed_limit: Optional[int] = None,
    ):
        self.index = index
        self.transcriber = transcriber
        self.fetcher = fetcher
        self.force_asr = force_asr
        self.feed_limit = feed_limit
        # Audio sources transcribed and not yet written, by id: (source, transcript, input name).
        self._unwritten: dict[str, tuple[Source, Transcript, str]] = {}
        # Pages read ahead of their turn (with the URL they came from) and embedded audio downloaded
        # ahead, so that a batch's audio is recognised in the background (see _start_short_audio).
        self._pages: dict[str, tuple[Article, Optional[str]]] = {}
        self._media: dict[str, Path] = {}
        # The index-wide name lexicon (indexer.lexicon), read from the index when first needed, and
        # whether the index holds audio for an article's names to be looked for in.
        self._lexicon: Optional[set[str]] = None
        self._audio_seen: Optional[bool] = None

    def ingest(self, inputs: Iterable[str], *, attach: Iterable[str] = ()) -> IngestReport:
        """Ingest every input; ``attach`` is audio (paths or URLs) embedded in each article given."""
        report = IngestReport()
        attach = list(attach)
        self.index.create()  # an index that cannot be written fails the batch before any work
        # Expanded up front so that short audio files further on can be started early; an input
        # that cannot be expanded keeps its place in the list of failures.
        items: list[str | Failure] = []
        for name in inputs:
            try:
                items.extend(self._expand(name))
            except IndexerError as e:
                items.append(Failure(fetching.redact_url(name), str(e)))
        interrupted = False
        try:
            if not attach:
                self._start_short_audio(items)
            for item in items:
                if isinstance(item, Failure):
                    report.failures.append(item)
                    continue
                if self._unwritten and not self._ready(item):
                    self._write_finished(report)  # rather than after waiting for this one
                try:
                    self._ingest_one(item, attach, report)
                except IndexerError as e:
                    report.failures.append(Failure(fetching.redact_url(item), str(e)))
        except KeyboardInterrupt:
            interrupted = True
            raise Interrupted(report) from None
        finally:
            if not interrupted:  # what is written stays written (each commit is whole)
                self._write_finished(report)
        report.recognised = self.transcriber.recognitions
        return report

    def _ready(self, item: str) -> bool:
        """Whether ``item`` is audio whose transcript is ready, so ingesting it will not wait."""
        return not fetching.is_url(item) and self.transcriber.ready(Path(item))

    def _write_finished(self, report: IngestReport) -> None:
        """Write the audio files transcribed so far in one commit (each is replaced whole in it).

        Each keeps the articles that embed it: the index merges links inside the commit.
        """
        if not self._unwritten:
            return
        finished, self._unwritten = list(self._unwritten.values()), {}
        with _interrupt_after():
            try:
                written = self.index.write(
                    [source for source, _, _ in finished],
                    transcripts={s.id: t for s, t, _ in finished},
                    # Audio that articles embed keeps what aligning with each of them gives.
                    aliases={s.id: self._align(s, t, {})[0] for s, t, _ in finished},
                )
            except IndexerError as e:
                report.failures.extend(Failure(name, str(e)) for _, _, name in finished)
            else:
                report.ingested.extend(written)

    def _start_short_audio(self, items: list[str | Failure]) -> None:
        """Start recognising the batch's short local audio files in the background, in order.

        A file shorter than a chunk keeps one worker busy and half fills Whisper's windows; started
        together, several to a stream, a folder of short files runs as fast per audio second as one
        long file. Long files wait for their turn: their own chunks keep every worker busy, and
        their turn shows a progress bar, as does a short file ingested on its own.
        """
        local = [Path(n) for n in items if isinstance(n, str) and _is_local_audio(n)]
        pages = [n for n in items if isinstance(n, str) and not _is_local_audio(n)]
        if len(pages) > 1:
            local += self._read_pages_ahead(pages[:READ_AHEAD_PAGES])
        if len(local) > 1:  # no model is loaded for a batch of articles without audio
            self.transcriber.start_in_background(local)

    def _read_pages_ahead(self, names: list[str]) -> list[Path]:
        """Read a batch's pages and download the audio they embed, so that it is recognised in the
        background, several short files to a stream, while the first articles are written.

        Returns the downloaded (or local) audio files; the articles and downloads are kept for
        :meth:`_ingest_one`. A page or file that fails here is left for its turn, which reports it.
        """
        paths: list[Path] = []
        for name in names:
            try:
                if classify.by_name(urlsplit(name).path if fetching.is_url(name) else name) == "feed":
                    continue
                article, fetched_from = self._read_page(name)
            except IndexerError:
                continue
            if article is None:
                continue
            self._pages[name] = (article, fetched_from)
            for ref in article.audio:
                if ref.segment or ref.type not in ("audio", "video") or (ref.transcript_url and not self.force_asr):
                    continue
                try:
                    paths.append(self._media_file(ref.url, fetched_from))
                except IndexerError:
                    continue
        return paths

    def _read_page(self, name: str) -> tuple[Optional[Article], Optional[str]]:
        """The article a page or text file holds (None for audio and feeds), and the URL it came from."""
        if fetching.is_url(name):
            location = parse_media_fragment(name)[0]
            if classify.by_name(urlsplit(location).path) == "audio":
                return None, None
            fetched = self._download(location, kind="page", found_in=None)
            kind = classify.by_content(fetched.path, fetched.content_type, name=urlsplit(fetched.url).path)
            if kind not in ("html", "text"):
                return None, None
            return classify.read_article(fetched.path, kind, fetched.url), fetched.url
        path = Path(name)
        if not path.is_file():
            return None, None
        _check_readable(path, name)
        kind = classify.by_content(path, None, name=name)
        if kind not in ("html", "text"):
            return None, None
        return classify.read_article(path, kind, str(path.resolve())), None

    def _media_file(self, url: str, fetched_from: Optional[str]) -> Path:
        """An embedded audio file on disk: downloaded once per batch, or the local file itself."""
        fetching.check_reference(url, fetched_from)  # a web page leads only to http(s) URLs
        if not fetching.is_url(url):
            path = Path(url)
            if not path.exists():
                raise SourceError(f"{url}: no such file")
            _check_readable(path, url)
            return path
        if url not in self._media:
            self._media[url] = self._download(url, kind="audio", found_in=fetched_from).path
        return self._media[url]

    # -- inputs ----------------------------------------------------------------------------------

    def _expand(self, name: str) -> Iterator[str]:
        """A folder becomes the files in it that the indexer can read, recursively and in order."""
        if fetching.is_url(name):
            yield name
            return
        path = Path(name).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and classify.by_name(p) is not None)
            if not found:
                raise SourceError(f"{name}: no audio, article or feed files in this folder")
            yield from (str(p) for p in found)
        elif not path.exists() and not Path(parse_media_fragment(name)[0]).expanduser().exists():
            raise SourceError(f"{name}: no such file")
        else:
            yield str(path)

    def _ingest_one(self, name: str, attach: list[str], report: IngestReport) -> None:
        if name in self._pages:
            article, fetched_from = self._pages.pop(name)
            self._ingest_article(article, [], fetched_from=fetched_from, report=report)
            return
        if fetching.is_url(name):
            location, span = parse_media_fragment(name)
            # The name decides the size cap: audio may be gigabytes, a page should not be.
            expected: fetching.FetchKind = "audio" if classify.by_name(urlsplit(location).path) == "audio" else "page"
            fetched = self._download(location, kind=expected, found_in=None)
            location = fetching.redact_url(location)
            local, final_url = fetched.path, fetched.url
            kind = classify.by_content(local, fetched.content_type, name=urlsplit(final_url).path)
        else:
            # A local name may itself contain '#'; only a name that is not a file has a fragment.
            location, span = (name, None) if Path(name).exists() else parse_media_fragment(name)
            local, final_url = Path(location), None
            _check_readable(local, name)
            kind = classify.by_content(local, None, name=location)
        origin = final_url or str(local.resolve())
        if kind == "audio":
            if attach:
                raise SourceError(f"{name}: --audio attaches audio to an article, and this is audio")
            self._ingest_audio(local, location, span, report)
        elif kind == "feed":
            self._ingest_feed(local, origin, fetched_from=final_url, report=report)
        else:
            article = classify.read_article(local, kind, origin)
            extra = [self._attached_ref(a) for a in attach]
            self._ingest_article(article, extra, fetched_from=final_url, report=report)

    @staticmethod
    def _attached_ref(name: str) -> AudioRef:
        url, span = parse_media_fragment(name)
        if not fetching.is_url(url):
            url = str(Path(url).expanduser().resolve())
        return AudioRef(url=url, segment=span)

    def _download(self, url: str, *, kind: fetching.FetchKind, found_in: Optional[str]) -> fetching.Fetched:
        """Fetch with a byte-count progress bar on stderr (on a terminal, when progress is on)."""
        from tqdm import tqdm

        name = Path(urlsplit(url).path).name or url
        with tqdm(
            desc=name[:30],
            unit="B",
            unit_scale=True,
            file=sys.stderr,
            disable=not self.transcriber.progress or None,
            leave=False,
        ) as bar:

            def advance(done: int, total: Optional[int]) -> None:
                bar.total = total
                bar.update(done - bar.n)

            return self.fetcher.fetch(url, kind=kind, found_in=found_in, on_progress=advance)

    # -- audio -----------------------------------------------------------------------------------

    def _ingest_audio(self, path: Path, location: str, span, report: IngestReport) -> None:
        """Transcribe; the source is written with the next files whose transcripts are ready.

        Batched because a commit has a fixed cost however little it holds ("Index: commit cost" in
        bench/RESULTS.md).
        """
        source, transcript = self._transcribe(path, location, span, title=None)
        if source.id in self._unwritten:
            self._write_finished(report)  # the same audio twice: the second replaces the first
        self._unwritten[source.id] = (source, transcript, location)
        if len(self._unwritten) >= MAX_UNWRITTEN_SOURCES:
            self._write_finished(report)

    def _transcribe(self, path: Path, location: str, span, title: Optional[str]) -> tuple[Source, Transcript]:
        info = audio.probe(path)
        if span and info.duration is not None and span[0] >= info.duration:
            raise AudioError(f"{location}: segment starts at {span[0]:g} s, after the end of the audio ({info.duration:.1f} s)")
        digest = audio.file_hash(path)
        source_id = audio_id(digest, span)
        transcript = self.transcriber.transcribe(path, span, audio_hash=digest)
        if not transcript.segments:
            raise NoSpeechError(f"{location}: no speech found in the audio")
        transcript.source_id = source_id
        source = Source(
            id=source_id,
            kind="audio",
            title=title or info.title or _name_of(location),
            location=fetching.redact_url(location) if fetching.is_url(location) else str(Path(location).resolve()),
            segment=span,
            duration=transcript.duration if not span else info.duration,
            language=transcript.language,
        )
        return source, transcript

    # -- articles and feeds ----------------------------------------------------------------------

    def _ingest_article(
        self,
        article: Article,
        extra_audio: list[AudioRef],
        *,
        fetched_from: Optional[str],
        report: IngestReport,
        key: Optional[str] = None,
    ) -> None:
        this_id = article_id(key or article.url or article.location)
        refs = _unique(article.audio + extra_audio)
        audio_sources: list[Source] = []
        transcripts: dict[str, Transcript] = {}
        for ref in refs:
            try:
                source, transcript = self._embedded_audio(ref, article, fetched_from)
            except IndexerError as e:
                # The article is still worth indexing; its broken audio is reported.
                report.failures.append(Failure(fetching.redact_url(ref.url), f"audio in {article.location}: {e}"))
                continue
            source.article_ids = [this_id]  # with the links already stored, merged by the index
            audio_sources.append(source)
            transcripts[source.id] = transcript
        record = Source(
            id=this_id,
            kind="article",
            title=article.title,
            # A feed item's own page is where a reader goes; every item shares the feed's location.
            location=(article.url or article.location) if key else article.location,
            date=article.date,
            author=article.author,
            guid=article.guid,
            audio_ids=[s.id for s in audio_sources],
            names=sorted(lexicon.names(article.title, article.paragraphs)),
        )
        new_names = self._add_names(article, with_audio=bool(audio_sources))
        aliases: dict[str, dict[int, list[tuple[int, str]]]] = {}
        heard_at: dict[int, list[HeardAt]] = {}
        for source in audio_sources:
            aliases[source.id], heard = self._align(source, transcripts[source.id], {this_id: article})
            for paragraph, (start, end) in heard.items():
                heard_at.setdefault(paragraph, []).append(HeardAt(source.id, source.location, start, end))
        # Audio already indexed in which the article's new names are heard as something else.
        others, other_transcripts, other_aliases = self._named_elsewhere(new_names, skip={s.id for s in audio_sources})
        # Links to and from the audio are read and merged inside this one commit (indexer.links).
        with _interrupt_after():
            records = self.index.write(
                [record, *audio_sources, *others],
                transcripts={**transcripts, **other_transcripts},
                articles={this_id: article},
                aliases={**aliases, **other_aliases},
                heard_at={this_id: heard_at},
            )
            written = {s.id: s for s in records}
            report.ingested.append(written[this_id])
            report.ingested.extend(written[s.id] for s in audio_sources)

    def _align(
        self, source: Source, transcript: Transcript, given: dict[str, Article]
    ) -> tuple[dict[int, list[tuple[int, str]]], dict[int, tuple[float, float]]]:
        """Align a recognised transcript with every article that embeds it (``given`` ones first, the
        others as indexed). Returns the words' article spellings (for ``TextIndex.write``) and where
        each paragraph of the first given article is spoken.

        The articles already indexed are read before the write that merges links: an article
        written meanwhile by another process gets its alignment when either is ingested again.
        """
        self._audio_seen = True
        if transcript.origin != "asr":
            return {}, {}
        stored = self.index.source(source.id)
        articles = dict(given)
        for other in [*source.article_ids, *(stored.article_ids if stored else [])]:
            if other not in articles and (indexed := self.index.article(other)) is not None:
                articles[other] = indexed
        if not articles:
            return lexicon.name_aliases(transcript.segments, self._names()), {}
        found = [alignment.align(a.title, a.paragraphs, transcript) for a in articles.values()]
        aliases = alignment.word_aliases(found)
        # Capitalised heard words spelled like a name of the article, outside the aligned stretches.
        for article in articles.values():
            names = align.article_names([article.title, *article.paragraphs])
            for seq, named in align.name_aliases(transcript, names).items():
                taken = {index for index, _ in aliases.get(seq, [])}
                aliases.setdefault(seq, []).extend((index, name) for index, name in named if index not in taken)
                aliases[seq].sort()
        # Then names other articles in the index spell, where nothing above gave a spelling.
        aliases = lexicon.merged(aliases, lexicon.name_aliases(transcript.segments, self._names(), aliases))
        heard = found[0].paragraphs_heard() if given else {}
        return aliases, heard

    def _names(self) -> set[str]:
        """The index-wide name lexicon: the rare names of every indexed article and of those ingested since."""
        if self._lexicon is None:
            self._lexicon = set()
            for source in self.index.sources():
                if source.kind != "article":
                    continue
                if source.names is not None:
                    self._lexicon |= set(source.names)
                elif (indexed := self.index.article(source.id)) is not None:  # a record from before names
                    self._lexicon |= lexicon.names(indexed.title, indexed.paragraphs)
        return self._lexicon

    def _add_names(self, article: Article, *, with_audio: bool) -> set[str]:
        """Add an article's names to the lexicon; returns those it did not hold yet.

        Where there is no audio yet, nothing is read: the lexicon is read from the index, this
        article included, when audio comes.
        """
        if self._lexicon is None and not with_audio and not self._holds_audio():
            return set()
        known = self._names()
        new = lexicon.names(article.title, article.paragraphs) - known
        known |= new
        return new

    def _holds_audio(self) -> bool:
        if self._audio_seen is None:
            self._audio_seen = any(s.kind == "audio" for s in self.index.sources())
        return self._audio_seen

    def _named_elsewhere(
        self, names: set[str], *, skip: set[str]
    ) -> tuple[list[Source], dict[str, Transcript], dict[str, dict[int, list[tuple[int, str]]]]]:
        """Indexed audio (other than ``skip``) where ``names`` are heard as words that sound like them,
        with the names added to its aliases: (records, transcripts, aliases) to write again.

        Such audio is found by searching each name: the index's sound-alike fallback answers where
        no audio has the name as heard or aligned (indexer.soundalike). Audio that has it that way
        somewhere keeps what it has until it is ingested again.
        """
        found: set[str] = set()
        for name in sorted(n for n in names if soundalike.eligible(n)):  # only those are matched by sound
            try:
                hits = self.index.search(name, kind="audio", limit=MAX_UNWRITTEN_SOURCES)
            except QueryError:
                continue
            found |= {h.source_id for h in hits if h.match == "sounds-like" and h.source_id not in skip}
        records, transcripts, aliases = [], {}, {}
        for other_id in sorted(found):
            record = self.index.source(other_id)
            if record is None:
                continue
            transcript = self.index.transcript(other_id)
            stored: dict[int, list[tuple[int, str]]] = {}
            for seq, words in enumerate(self.index.backend.stored_words(other_id)):
                pairs = [(k, w.alias) for k, w in enumerate(words) if w.alias is not None]
                if pairs:
                    stored[seq] = pairs
            added = lexicon.name_aliases(transcript.segments, names, stored)
            if added:
                records.append(record)
                transcripts[other_id] = transcript
                aliases[other_id] = lexicon.merged(stored, added)
        return records, transcripts, aliases

    def _embedded_audio(self, ref: AudioRef, article: Article, fetched_from: Optional[str]) -> tuple[Source, Transcript]:
        fetching.check_reference(ref.url, fetched_from)
        # An item published with a transcript and no audio has nothing to recognise.
        if ref.transcript_url and (not self.force_asr or ref.found_by == "podcast:transcript"):
            return self._publisher_transcript(ref, article, fetched_from)
        if ref.type in ("player", "hls", "dash"):
            path = self._player_media(ref, fetched_from)
        else:
            path = self._media_file(ref.url, fetched_from)
        return self._transcribe(path, ref.url, ref.segment, title=article.title)

    def _player_media(self, ref: AudioRef, fetched_from: Optional[str]) -> Path:
        """A player page or DASH manifest resolved by yt-dlp, or an HLS playlist, downloaded with the indexer's fetcher."""
        from .sources import players

        url, kind = ref.url, ref.type
        if kind in ("player", "dash"):
            resolved = players.resolve(ref.url, self.fetcher, found_in=fetched_from)
            url, kind = resolved.url, resolved.type
            logger.info("%s plays %s", ref.url, url)
            if kind == "dash":
                return players.download_fragments(
                    resolved, self.fetcher, found_in=fetched_from, dest_dir=self.fetcher.cache_dir / "dash"
                )
        if kind == "hls":
            return players.download_hls(url, self.fetcher, found_in=fetched_from, dest_dir=self.fetcher.cache_dir / "hls")
        return self._download(url, kind="audio", found_in=fetched_from).path

    def _publisher_transcript(self, ref: AudioRef, article: Article, fetched_from: Optional[str]) -> tuple[Source, Transcript]:
        from .sources.transcripts import read_publisher_transcript

        assert ref.transcript_url is not None  # _embedded_audio calls this only for a reference with one
        fetching.check_reference(ref.transcript_url, fetched_from)
        fetched = self.fetcher.fetch(ref.transcript_url, kind="transcript", found_in=fetched_from)
        transcript = read_publisher_transcript(
            fetched.path.read_bytes(), ref.transcript_type or fetched.content_type or "", location=ref.transcript_url
        )
        if not transcript.segments:
            raise NoSpeechError(f"{ref.transcript_url}: the transcript is empty")
        source_id = published_audio_id(ref.url)
        transcript.source_id = source_id
        source = Source(
            id=source_id,
            kind="audio",
            title=ref.title or article.title,
            location=fetching.redact_url(ref.url),
            segment=ref.segment,
            duration=transcript.duration or (transcript.segments[-1].end if transcript.segments else 0.0),
            language=transcript.language or None,
        )
        return source, transcript

    def _ingest_feed(self, path: Path, origin: str, *, fetched_from: Optional[str], report: IngestReport) -> None:
        from .sources.feed import read_feed

        items = read_feed(path.read_bytes(), origin)
        if self.feed_limit is not None:
            items = items[: self.feed_limit]
        for item in items:
            key = item.guid or (item.audio[0].url if item.audio else None) or item.url or item.title
            if self.index.source(article_id(key)) is not None:
                report.skipped.append(item.title)
                continue
            try:
                self._ingest_article(item, [], fetched_from=fetched_from, report=report, key=key)
            except IndexerError as e:
                report.failures.append(Failure(item.title, str(e)))


@contextlib.contextmanager
def _interrupt_after() -> Iterator[None]:
    """Hold Ctrl-C until the block ends, so a commit and the report of it happen both or neither.

    Only on the main thread with Python's own SIGINT handler in place; elsewhere the block runs as is.
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    received: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if received:
            raise KeyboardInterrupt


def _check_readable(path: Path, name: str) -> None:
    """Raise SourceError with the reason when a local file cannot be opened (permissions, a dangling link)."""
    try:
        with open(path, "rb"):
            pass
    except IsADirectoryError:
        return
    except OSError as e:
        raise SourceError(f"{name}: cannot read ({e.strerror or e})") from e


def _is_local_audio(name: str) -> bool:
    return not fetching.is_url(name) and classify.by_name(Path(name)) == "audio" and Path(name).is_file()


def _unique(refs: list[AudioRef]) -> list[AudioRef]:
    seen, kept = set(), []
    for ref in refs:
        identity = (ref.url, ref.segment)
        if identity not in seen:
            seen.add(identity)
            kept.append(ref)
    return kept


def _name_of(location: str) -> str:
    name = urlsplit(location).path if fetching.is_url(location) else location
    return Path(name).stem or location
