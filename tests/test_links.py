"""Source ids and article<->audio links: the pure rules, and two processes writing shared audio at once."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from indexer import links
from indexer.errors import NotFoundError
from indexer.index import TextIndex
from indexer.models import Segment, Source, Transcript, Word

from .conftest import SAMPLE_AUDIO


def store(*records: Source):
    by_id = {r.id: r for r in records}
    # A fresh copy per read, as a backend returns.
    return lambda source_id: Source.from_dict(by_id[source_id].to_dict()) if source_id in by_id else None


def article(id: str, *audio_ids: str) -> Source:
    return Source(id=id, kind="article", title=id, location=f"/{id}.html", audio_ids=list(audio_ids))


def audio(id: str, *article_ids: str) -> Source:
    return Source(id=id, kind="audio", title=id, location=f"/{id}.mp3", article_ids=list(article_ids))


# -- ids ------------------------------------------------------------------------------------------


def test_audio_ids_come_from_the_bytes_and_the_time_range():
    digest = "0123456789abcdef" * 4
    assert links.audio_id(digest) == "audio-0123456789ab"
    assert links.audio_id(digest, (300.0, 420.5)) == "audio-0123456789ab-t300-420.5"
    assert links.audio_id(digest, (90.0, None)) == "audio-0123456789ab-t90-end"


def test_article_and_published_audio_ids_are_stable_hashes_of_their_key():
    assert links.article_id("https://news.example/a") == links.article_id("https://news.example/a")
    assert links.article_id("https://news.example/a") != links.article_id("https://news.example/b")
    assert links.article_id("k").startswith("article-") and len(links.article_id("k")) == len("article-") + 12
    assert links.published_audio_id("https://cdn.example/ep.mp3").startswith("audio-")


# -- links ----------------------------------------------------------------------------------------


def test_an_article_written_with_audio_links_it_and_keeps_the_other_articles_links():
    stored = store(article("article-b", "audio-x"), audio("audio-x", "article-b"))
    written = links.linked([article("article-a", "audio-x"), audio("audio-x", "article-a")], stored)
    by_id = {s.id: s for s in written}
    assert by_id["audio-x"].article_ids == ["article-b", "article-a"]
    assert by_id["article-a"].audio_ids == ["audio-x"]


def test_audio_written_alone_keeps_the_articles_that_embed_it():
    stored = store(audio("audio-x", "article-a"))
    (written,) = links.linked([audio("audio-x")], stored)
    assert written.article_ids == ["article-a"]


def test_an_article_that_no_longer_embeds_audio_unlinks_it():
    stored = store(
        article("article-a", "audio-x", "audio-y"), audio("audio-x", "article-a"), audio("audio-y", "article-a", "article-b")
    )
    written = {s.id: s for s in links.linked([article("article-a", "audio-x")], stored)}
    assert written["audio-y"].article_ids == ["article-b"]
    assert written["audio-x"].article_ids == ["article-a"]


def test_removing_an_article_takes_only_the_audio_no_other_article_embeds():
    stored = store(
        article("article-a", "audio-x", "audio-y"),
        article("article-b", "audio-y"),
        audio("audio-x", "article-a"),
        audio("audio-y", "article-a", "article-b"),
    )
    removed, updated = links.removal("article-a", stored)
    assert [s.id for s in removed] == ["article-a", "audio-x"]
    assert [(s.id, s.article_ids) for s in updated] == [("audio-y", ["article-b"])]


def test_removing_audio_unlinks_it_from_its_articles():
    stored = store(article("article-a", "audio-x", "audio-y"), audio("audio-x", "article-a"))
    removed, updated = links.removal("audio-x", stored)
    assert [s.id for s in removed] == ["audio-x"]
    assert [(s.id, s.audio_ids) for s in updated] == [("article-a", ["audio-y"])]


def test_removing_what_is_not_there_is_a_clear_error():
    with pytest.raises(NotFoundError, match="no source 'article-z'"):
        links.removal("article-z", store())


# -- two processes at once ------------------------------------------------------------------------


class _BarrierTranscriber:
    """A transcriber that answers at once, after waiting for the other process to get this far too:
    both then have their transcript and go on to write, which is where links used to be lost."""

    progress = False
    recognitions = 0

    def __init__(self, barrier):
        self.barrier = barrier

    def ready(self, path: Path) -> bool:
        return True

    def transcribe(self, path, span=None, *, audio_hash=None) -> Transcript:
        self.barrier.wait(timeout=60)
        words = [Word(0.5, 0.9, "Kremlin", 0.9), Word(1.0, 1.4, "talks", 0.9)]
        return Transcript(segments=[Segment(0.5, 1.4, "Kremlin talks", words)], language="en", duration=2.0)

    def close(self) -> None:
        pass


def _ingest_article(index_dir: str, article_path: str, audio_path: str, cache_dir: str, barrier) -> None:
    from indexer.ingest import Ingester
    from indexer.sources.fetch import Fetcher

    with TextIndex(index_dir) as index, Fetcher(Path(cache_dir)) as fetcher:
        report = Ingester(index, _BarrierTranscriber(barrier), fetcher).ingest([article_path], attach=[audio_path])
    assert report.ok, report.failures


@pytest.mark.parametrize("backend", ["whoosh", "postgresql"])
def test_two_processes_ingesting_articles_that_share_audio_both_keep_their_link(tmp_path, backend, request):
    index_dir = tmp_path / "index" if backend == "whoosh" else request.getfixturevalue("postgres_url")
    articles = []
    for name in ("first", "second"):
        path = tmp_path / f"{name}.txt"
        path.write_text(f"The {name} story about the Kremlin\n\nTalks at the border went on, said the {name} reporter.\n")
        articles.append(path)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    workers = [
        context.Process(
            target=_ingest_article, args=(str(index_dir), str(a), str(SAMPLE_AUDIO), str(tmp_path / f"cache{i}"), barrier)
        )
        for i, a in enumerate(articles)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0

    with TextIndex(index_dir) as index:
        stories = [s for s in index.sources() if s.kind == "article"]
        (shared,) = [s for s in index.sources() if s.kind == "audio"]
        assert len(stories) == 2
        assert sorted(shared.article_ids) == sorted(s.id for s in stories)
        assert all(story.audio_ids == [shared.id] for story in stories)

        removed = index.remove(stories[0].id)
        assert [s.id for s in removed] == [stories[0].id]  # the other story still embeds the audio
        assert index.source(shared.id).article_ids == [stories[1].id]
        assert index.transcript(shared.id).text == "Kremlin talks"
        assert [h.source_id for h in index.search("kremlin", kind="audio")] == [shared.id]

        removed = index.remove(stories[1].id)
        assert {s.id for s in removed} == {stories[1].id, shared.id}
        assert index.sources() == []


class _QuickTranscriber(_BarrierTranscriber):
    def __init__(self):
        super().__init__(barrier=None)

    def transcribe(self, path, span=None, *, audio_hash=None) -> Transcript:
        words = [Word(0.5, 0.9, "Harbour", 0.9), Word(1.0, 1.4, "vote", 0.9)]
        return Transcript(segments=[Segment(0.5, 1.4, "Harbour vote", words)], language="en", duration=2.0)


def test_a_feed_ingested_into_a_new_directory_links_its_items_and_skips_them_the_second_time(tmp_path):
    from indexer.ingest import Ingester
    from indexer.sources.fetch import Fetcher

    feed = tmp_path / "feed.xml"
    feed.write_text(
        f"""<?xml version="1.0"?><rss version="2.0"><channel><title>Harbour</title>
        <item><title>One</title><guid isPermaLink="false">one</guid>
        <enclosure url="{SAMPLE_AUDIO}" type="audio/mpeg" length="1"/></item>
        <item><title>Two</title><guid isPermaLink="false">two</guid>
        <enclosure url="{SAMPLE_AUDIO}" type="audio/mpeg" length="1"/></item>
        </channel></rss>"""
    )
    with TextIndex(tmp_path / "new" / "index") as index, Fetcher(tmp_path / "downloads") as fetcher:
        first = Ingester(index, _QuickTranscriber(), fetcher).ingest([str(feed)])
        assert first.ok and first.skipped == []
        stories = sorted((s for s in first.ingested if s.kind == "article"), key=lambda s: s.title)
        assert [s.title for s in stories] == ["One", "Two"]
        (shared,) = [s for s in index.sources() if s.kind == "audio"]
        assert sorted(shared.article_ids) == sorted(s.id for s in stories)
        second = Ingester(index, _QuickTranscriber(), fetcher).ingest([str(feed)])
        assert second.ingested == [] and second.skipped == ["One", "Two"]
