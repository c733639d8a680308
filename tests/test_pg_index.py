"""The PostgreSQL index against a real server: query language, jump-in times, atomic replacement, schema."""

from __future__ import annotations

import threading

import pytest

from indexer.errors import IndexUnavailableError, NotFoundError, QueryError
from indexer.models import Source, Transcript
from indexer.pg import PostgresIndex
from indexer.pg import query as pg_query
from indexer.pg.schema import LATEST
from .test_index import ARTICLE, EPISODE, STORY, TRANSCRIPT, segment


@pytest.fixture
def index(postgres_url):
    index = PostgresIndex(postgres_url)
    index.write([EPISODE], transcripts={EPISODE.id: TRANSCRIPT})
    index.write([STORY], articles={STORY.id: ARTICLE})
    yield index
    index.close()


def test_a_hit_in_audio_starts_at_the_matched_word(index):
    (hit,) = index.search("troops")
    assert (hit.kind, hit.source_id, hit.audio) == ("audio", "audio-1", "/pods/one.mp3")
    assert hit.start == 30.5
    assert hit.snippet == "Our **troops** are in Russian territory, Ushakov replied."


def test_stemming_finds_other_forms(index):
    assert [h.start for h in index.search("troop")] == [30.5]
    assert [h.text for h in index.search("talking")] == ["Welcome to the show about the border talks."]


def test_phrase_or_not_and_prefix(index):
    assert [h.start for h in index.search('"red line"')] == [64.0]
    assert index.search('"line red"') == []
    assert {h.kind for h in index.search("Ushakov")} == {"audio", "article"}
    assert {h.kind for h in index.search("Ushakov NOT troops")} == {"article"}
    assert {h.kind for h in index.search("Ushakov ANDNOT troops")} == {"article"}
    assert {h.source_id for h in index.search("negotiat* OR kremlin")} == {"audio-1", "article-1"}
    assert [h.start for h in index.search("ushak*", kind="audio")] == [33.0]
    assert [h.snippet for h in index.search("negotiat*")] == ["**Negotiators** met on Tuesday."]


def test_precedence_follows_whoosh(index):
    # Words side by side are ANDed last: "kremlin (moscow OR troops)", not "(kremlin moscow) OR troops".
    assert [h.start for h in index.search("kremlin moscow OR troops")] == [61.5]
    assert {h.start for h in index.search("(kremlin AND moscow) OR troops")} == {61.5, 30.5}
    assert [h.start for h in index.search("troops ANDMAYBE kremlin")] == [30.5]


def test_title_field(index):
    assert {h.source_id for h in index.search("title:border")} == {"audio-1", "article-1"} - {"audio-1"}
    assert index.search("title:kremlin") == []


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
    with pytest.raises(QueryError, match="unclosed quote"):
        index.search('"red line')


def test_transcript_round_trip(index):
    stored = index.transcript("audio-1")
    assert stored.segments == TRANSCRIPT.segments
    assert (stored.language, stored.duration) == ("en", 120.0)
    with pytest.raises(NotFoundError, match="is an article"):
        index.transcript("article-1")


def test_a_failed_write_changes_nothing(index):
    broken = Transcript(segments=[segment("half written", 0.0), "not a segment"], language="en", duration=1.0)
    with pytest.raises(AttributeError):
        index.write([EPISODE], transcripts={EPISODE.id: broken})
    assert [h.start for h in index.search("troops")] == [30.5]
    assert index.search("half") == []


def test_remove_and_link_update(index):
    linked = Source(**{**EPISODE.to_dict(), "article_ids": ["article-1"]})
    index.write([linked])  # only the record changes; the segments stay
    (hit,) = index.search("troops")
    assert (hit.title, hit.location) == ("Talks at the border", "https://news.example/talks")
    index.remove(["article-1"], updated=[EPISODE])
    assert [s.id for s in index.sources()] == ["audio-1"]
    assert index.search("negotiators") == []
    assert [h.title for h in index.search("troops")] == ["Episode one"]


def test_name_aliases_are_searched_and_shown(index):
    aliases = {EPISODE.id: {1: [(6, "Ushakov")]}}
    heard = Transcript(segments=[segment("Then Shacam said no.", 5.0)], language="en", duration=10.0)
    index.write([EPISODE], transcripts={EPISODE.id: heard}, aliases={EPISODE.id: {0: [(1, "Ushakov")]}})
    (hit,) = index.search("ushakov", kind="audio")
    assert hit.start == 5.5 and hit.snippet == "Then **Shacam** (Ushakov) said no."
    assert aliases  # the alias lives on the word only: the transcript shows what was heard
    assert index.transcript("audio-1").segments[0].words[1].word == "Shacam"


def test_searches_do_not_wait_for_a_writer(index, postgres_url):
    # A writer holds an open transaction that replaced the episode; a search still sees the old one.
    import psycopg

    with psycopg.connect(postgres_url) as writer:
        writer.execute("DELETE FROM passages WHERE source_id = 'audio-1'")
        done = threading.Event()
        found: list = []
        threading.Thread(target=lambda: (found.append(index.search("troops")), done.set())).start()
        assert done.wait(5), "the search waited for the writer"
        writer.rollback()
    assert [h.start for h in found[0]] == [30.5]


def test_schema_is_versioned_and_migrated_once(postgres_url):
    import psycopg

    first, second = PostgresIndex(postgres_url), PostgresIndex(postgres_url)
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(LATEST,)]
        conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (LATEST + 1,))
    with pytest.raises(IndexUnavailableError, match="newer than this indexer"):
        PostgresIndex(postgres_url)
    first.close()
    second.close()


def test_an_unreachable_server_is_one_clear_error(tmp_path):
    with pytest.raises(IndexUnavailableError, match=r"cannot use PostgreSQL index postgresql://me:\*\*\*@"):
        PostgresIndex(f"postgresql://me:secret@/nothing?host={tmp_path}&connect_timeout=2")


def test_query_translation():
    tree = pg_query.parse('"red line" ushak* title:border OR kremlin NOT troops')
    assert [(leaf.text, leaf.kind, leaf.weights) for leaf in pg_query.leaves(tree)] == [
        ("red line", "phrase", "AB"),
        ("ushak", "prefix", "AB"),
        ("border", "word", "C"),
        ("kremlin", "word", "AB"),
        ("troops", "word", "AB"),
    ]


def test_a_thousand_segments_write_and_rank(postgres_url):
    index = PostgresIndex(postgres_url)
    many = Transcript(
        segments=[
            segment(f"filler words number {i} " + ("ceasefire ceasefire" if i == 700 else "talks"), i * 5.0) for i in range(1000)
        ],
        language="en",
        duration=5000.0,
    )
    index.write([EPISODE], transcripts={EPISODE.id: many})
    assert [h.start for h in index.search("ceasefire")] == [3502.0]
    assert len(index.search("talks", limit=50)) == 50
    index.close()


WRITER = """
import sys
from indexer.pg import PostgresIndex
from indexer.models import Segment, Source, Transcript
url, name, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
index = PostgresIndex(url)
for r in range(rounds):
    # Each writer replaces its own source and the shared one, many times over.
    for source_id in (f"audio-{name}", "audio-shared"):
        segments = [Segment(float(i), i + 0.5, f"{name} round{r} line {i}") for i in range(200)]
        index.write([Source(id=source_id, kind="audio", title=name, location=name)],
                    transcripts={source_id: Transcript(segments=segments, language="en", duration=200.0)})
index.close()
"""


def test_writers_in_several_processes_all_land(postgres_url):
    import subprocess
    import sys

    PostgresIndex(postgres_url).close()  # schema in place; the writers also race to migrate it
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, postgres_url, name, "5"]) for name in ("one", "two", "three", "four")
    ]
    assert [w.wait(timeout=300) for w in writers] == [0, 0, 0, 0]
    index = PostgresIndex(postgres_url)
    assert sorted(s.id for s in index.sources()) == ["audio-four", "audio-one", "audio-shared", "audio-three", "audio-two"]
    for name in ("one", "two", "three", "four"):
        assert len(index.transcript(f"audio-{name}").segments) == 200
        hits = index.search(f"{name} AND round4", limit=500)
        assert len([h for h in hits if h.source_id == f"audio-{name}"]) == 200
    # The shared source is one writer's last version, whole: never a mix, never doubled.
    shared = index.transcript("audio-shared").segments
    assert len(shared) == 200 and len({s.text.split()[0] for s in shared}) == 1
    index.close()


def test_the_cli_uses_a_postgresql_url_as_its_index(postgres_url, monkeypatch):
    import json

    from click.testing import CliRunner

    from indexer.cli import cli

    from .conftest import ROOT

    article = str(ROOT / "tests" / "data" / "seed_article.txt")
    ingested = CliRunner().invoke(cli, ["--index", postgres_url, "ingest", article], catch_exceptions=False)
    assert ingested.exit_code == 0 and ingested.output.startswith("ingested article-")
    # $INDEXER_INDEX may name the database too.
    monkeypatch.setenv("INDEXER_INDEX", postgres_url)
    found = CliRunner().invoke(cli, ["search", "Ushakov", "--json"], catch_exceptions=False)
    hits = json.loads(found.output)
    assert hits and {h["kind"] for h in hits} == {"article"} and "**Ushakov**" in hits[0]["snippet"]
    listed = CliRunner().invoke(cli, ["sources", "--json"], catch_exceptions=False)
    assert [s["title"] for s in json.loads(listed.output)] == ["Biden to discuss Putin proposals with NATO – Kremlin"]


def test_a_missing_server_is_an_error_line_in_the_cli(tmp_path):
    from click.testing import CliRunner

    from indexer.cli import cli

    result = CliRunner().invoke(cli, ["--index", f"postgresql://nobody@/none?host={tmp_path}", "search", "x"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: cannot use PostgreSQL index postgresql://nobody@/none") and result.output.count("\n") == 1
