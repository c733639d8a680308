"""The Whoosh index on its own: query language, jump-in times, atomic replacement, crash safety."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from indexer.errors import QueryError
from indexer.index import TextIndex
from indexer.models import Article, Segment, Source, Transcript, Word


def words(text: str, start: float, step: float = 0.5) -> list[Word]:
    return [Word(start + i * step, start + i * step + 0.4, w, 0.9) for i, w in enumerate(text.split())]


def segment(text: str, start: float) -> Segment:
    spoken = words(text, start)
    return Segment(start=start, end=spoken[-1].end, text=text, words=spoken)


EPISODE = Source(id="audio-1", kind="audio", title="Episode one", location="/pods/one.mp3", duration=120.0, language="en")
TRANSCRIPT = Transcript(
    segments=[
        segment("Welcome to the show about the border talks.", 2.0),
        segment("Our troops are in Russian territory, Ushakov replied.", 30.0),
        segment("The Kremlin says it is a red line for Moscow.", 61.0),
    ],
    language="en",
    duration=120.0,
)
STORY = Source(id="article-1", kind="article", title="Talks at the border", location="https://news.example/talks")
ARTICLE = Article(
    title="Talks at the border",
    location="https://news.example/talks",
    paragraphs=["Negotiators met on Tuesday.", "Ushakov told journalists the alliance must not expand."],
)


@pytest.fixture
def index(tmp_path) -> TextIndex:
    index = TextIndex(tmp_path / "index")
    index.write([EPISODE], transcripts={EPISODE.id: TRANSCRIPT})
    index.write([STORY], articles={STORY.id: ARTICLE})
    return index


def test_a_hit_in_audio_starts_at_the_matched_word(index):
    (hit,) = index.search("troops")
    assert (hit.kind, hit.source_id, hit.audio) == ("audio", "audio-1", "/pods/one.mp3")
    assert hit.start == 30.5  # "Our" at 30.0, "troops" at 30.5
    assert hit.snippet == "Our **troops** are in Russian territory, Ushakov replied"


def test_stemming_finds_other_forms(index):
    assert [h.start for h in index.search("troop")] == [30.5]
    assert [h.text for h in index.search("talking")] == ["Welcome to the show about the border talks."]


def test_phrase_or_not_and_prefix(index):
    assert [h.start for h in index.search('"red line"')] == [64.0]
    assert {h.kind for h in index.search("Ushakov")} == {"audio", "article"}
    assert {h.kind for h in index.search("Ushakov NOT troops")} == {"article"}
    assert {h.source_id for h in index.search("negotiat* OR kremlin")} == {"audio-1", "article-1"}
    assert [h.start for h in index.search("ushak*", kind="audio")] == [33.0]


def test_kind_filter(index):
    assert [h.kind for h in index.search("Ushakov", kind="article")] == ["article"]
    assert [h.kind for h in index.search("Ushakov", kind="audio")] == ["audio"]


def test_article_hit_fields(index):
    (hit,) = index.search("negotiators")
    data = hit.to_dict()
    assert data["location"] == "https://news.example/talks" and data["title"] == "Talks at the border"
    assert "start" not in data and "audio" not in data


def test_reingesting_replaces(index):
    shorter = Transcript(segments=[segment("A new cut without the soldiers.", 1.0)], language="en", duration=10.0)
    index.write([EPISODE], transcripts={EPISODE.id: shorter})
    assert index.search("troops") == []
    assert [h.start for h in index.search("cut")] == [2.0]
    assert len(index.sources()) == 2


def test_stop_words_only_is_a_query_error(index):
    with pytest.raises(QueryError, match="no searchable words"):
        index.search("the and of")


def test_transcript_round_trip(index):
    stored = index.transcript("audio-1")
    assert stored.segments == TRANSCRIPT.segments
    assert (stored.language, stored.duration) == ("en", 120.0)


def test_a_failed_write_changes_nothing(index):
    broken = Transcript(segments=[segment("half written", 0.0), "not a segment"], language="en", duration=1.0)
    with pytest.raises(AttributeError):
        index.write([EPISODE], transcripts={EPISODE.id: broken})
    assert [h.start for h in index.search("troops")] == [30.5]
    assert index.search("half") == []


def test_a_killed_writer_leaves_the_old_index_readable(index, tmp_path):
    # A real crash: a process that is killed with SIGKILL in the middle of writing a large source.
    script = textwrap.dedent(
        f"""
        import os, sys
        from indexer.index import TextIndex
        from indexer.models import Segment, Source, Transcript
        index = TextIndex({str(index.directory)!r})
        segments = [Segment(start=float(i), end=i + 0.5, text=f"crashword number {{i}}") for i in range(200000)]
        original = Transcript.__getattribute__
        def slow_segments(self, name):
            if name == "segments":
                print("writing", flush=True)
            return original(self, name)
        Transcript.__getattribute__ = slow_segments
        index.write([Source(id="audio-1", kind="audio", title="x", location="x")],
                    transcripts={{"audio-1": Transcript(segments=segments, language="en", duration=1.0)}})
        """
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "writing"
    process.send_signal(signal.SIGKILL)
    process.wait()
    reopened = TextIndex(index.directory)
    assert reopened.search("crashword") == []
    assert [h.start for h in reopened.search("troops")] == [30.5]
    # And the next writer is not blocked by the dead one's lock.
    reopened.write([STORY], articles={STORY.id: ARTICLE})
    assert os.path.isdir(index.directory)
