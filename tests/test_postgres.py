"""What only the PostgreSQL backend has to show (the shared behaviour runs in test_index.py against
both backends): its schema, writers in many processes, searches beside open writes, connection errors."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest

from indexer.errors import IndexUnavailableError
from indexer.index import TextIndex
from indexer.index.postgres import tsquery
from indexer.index.postgres.schema import LATEST
from indexer.models import Article, Source, Transcript

from .conftest import ROOT
from .test_index import ARTICLE, EPISODE, STORY, TRANSCRIPT


@pytest.fixture
def index(postgres_url):
    with TextIndex(postgres_url) as index:
        index.write([EPISODE], transcripts={EPISODE.id: TRANSCRIPT})
        index.write([STORY], articles={STORY.id: ARTICLE})
        yield index


def test_reading_before_the_first_write_says_so_and_creates_nothing(postgres_url):
    import psycopg

    with (
        TextIndex(postgres_url) as index,
        pytest.raises(IndexUnavailableError, match="no index in postgresql://.*ingest something first"),
    ):
        index.sources()
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT to_regclass('schema_version')").fetchone() == (None,)


def test_the_schema_is_versioned_and_a_newer_one_is_refused(index, postgres_url):
    import psycopg

    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT max(version) FROM schema_version").fetchall() == [(LATEST,)]
        conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (LATEST + 1,))
    with TextIndex(postgres_url) as newer, pytest.raises(IndexUnavailableError, match="newer than this indexer|upgrade indexer"):
        newer.sources()


def test_searches_do_not_wait_for_an_open_write(index, postgres_url):
    import psycopg

    with psycopg.connect(postgres_url) as writer:
        writer.execute("DELETE FROM passages WHERE source_id = 'audio-1'")  # not committed yet
        done, found = threading.Event(), []
        threading.Thread(target=lambda: (found.append(index.search("troops")), done.set())).start()
        assert done.wait(10), "the search waited for the writer"
        writer.rollback()
    assert [h.start for h in found[0]] == [30.5]


def test_an_unreachable_server_is_one_line_with_the_password_masked(tmp_path):
    with TextIndex(f"postgresql://me:secret@/nothing?host={tmp_path}") as index:
        with pytest.raises(IndexUnavailableError, match=r"^cannot use PostgreSQL index postgresql://me:\*\*\*@/nothing") as error:
            index.sources()
    assert "secret" not in str(error.value) and "\n" not in str(error.value)


def test_the_query_language_becomes_one_tsquery(postgres_url):
    tree = tsquery.parse('"red line" ushak* title:border OR kremlin NOT troops kind:audio')
    assert [(leaf.text, leaf.kind, leaf.weights) for leaf in tsquery.leaves(tree)] == [
        ("red line", "phrase", "AB"),
        ("ushak", "prefix", "AB"),
        ("border", "word", "C"),
        ("kremlin", "word", "AB"),
        ("troops", "word", "AB"),
        ("#kind:audio", "id", ""),
    ]
    import psycopg

    with psycopg.connect(postgres_url) as conn:
        compiled = tsquery.compile(conn, '"red line" ushak* title:border OR kremlin NOT troops kind:audio')
    # A bare word or phrase: English stems in the text (A) or normal forms (B); a prefix also unstemmed (D).
    assert compiled.match == (
        "(('red':A <-> 'line':A) | ('red':B <-> 'line':B)) & ('ushak':*ABD)"
        " & (('border':C) | (('kremlin':A) | ('kremlin':B))) & (!(('troop':A) | ('troop':B))) & ('#kind:audio')"
    )
    with psycopg.connect(postgres_url) as conn:
        numbers = tsquery.compile(conn, '14 OR "38 million"')
    assert (
        numbers.match == "(('14':A) | ('fourteen':B)) | (('38':A <-> 'million':A) | ('thirti':B <-> 'eight':B <-> 'million':B))"
    )
    assert numbers.headline == "('14':A) | ('38':A <-> 'million':A)"


WRITER = """
import sys
from indexer.index import TextIndex
from indexer.models import Segment, Source, Transcript
url, name, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
with TextIndex(url) as index:
    for r in range(rounds):
        # Each writer replaces its own source and the shared one, again and again.
        for source_id in (f"audio-{name}", "audio-shared"):
            segments = [Segment(float(i), i + 0.5, f"{name} round{r} line {i}") for i in range(200)]
            index.write([Source(id=source_id, kind="audio", title=name, location=name)],
                        transcripts={source_id: Transcript(segments=segments, language="en", duration=200.0)})
"""


def test_four_writer_processes_at_once_all_land(postgres_url):
    names = ("one", "two", "three", "four")
    # They also race to create the tables: the first write of each creates or finds them.
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, postgres_url, name, "5"]) for name in names]
    assert [w.wait(timeout=300) for w in writers] == [0, 0, 0, 0]
    with TextIndex(postgres_url) as index:
        assert sorted(s.id for s in index.sources()) == sorted([f"audio-{n}" for n in names] + ["audio-shared"])
        for name in names:
            assert len(index.transcript(f"audio-{name}").segments) == 200
            hits = index.search(f"{name} AND round4 AND source_id:audio-{name}", limit=500)
            assert len(hits) == 200
        # The shared source is one writer's last version, whole: never a mix, never doubled.
        shared = index.transcript("audio-shared").segments
        assert len(shared) == 200 and len({s.text.split()[0] for s in shared}) == 1


def test_the_cli_and_library_take_a_postgresql_url(postgres_url, monkeypatch):
    from click.testing import CliRunner

    from indexer import Index
    from indexer.cli import cli

    article = str(ROOT / "tests" / "data" / "seed_article.txt")
    ingested = CliRunner().invoke(cli, ["--index", postgres_url, "ingest", article], catch_exceptions=False)
    assert ingested.exit_code == 0 and ingested.output.startswith("ingested article-")
    monkeypatch.setenv("INDEXER_INDEX", postgres_url)  # $INDEXER_INDEX may name the database too
    found = CliRunner().invoke(cli, ["search", "Ushakov", "--json"], catch_exceptions=False)
    hits = json.loads(found.output)
    assert hits and {h["kind"] for h in hits} == {"article"} and "**Ushakov**" in hits[0]["snippet"]
    with Index() as index:
        assert [s.title for s in index.sources()] == ["Biden to discuss Putin proposals with NATO – Kremlin"]


def test_a_missing_server_is_one_error_line_in_the_cli(tmp_path):
    from click.testing import CliRunner

    from indexer.cli import cli

    result = CliRunner().invoke(cli, ["--index", f"postgresql://nobody@/none?host={tmp_path}", "search", "x"])
    assert result.exit_code == 1
    assert (
        result.output.startswith("Error: cannot use PostgreSQL index postgresql://nobody@/none")
        and result.output.count("\n") == 1
    )


def test_nul_characters_neither_break_a_write_nor_a_search(postgres_url):
    with TextIndex(postgres_url) as index:
        odd = Source(id="article-nul", kind="article", title="Odd\x00 title", location="/odd")
        index.write([odd], articles={odd.id: Article(title=odd.title, location="/odd", paragraphs=["Harbour\x00 cranes"])})
        assert [h.text for h in index.search("harbour\x00")] == ["Harbour cranes"]
        assert index.source("article-nul").title == "Odd title"


def test_an_articles_paragraphs_and_a_transcripts_stored_words_read_back(index):
    assert index.article(STORY.id).paragraphs == ARTICLE.paragraphs
    words = index.backend.stored_words(EPISODE.id)
    assert [[w.word for w in segment] for segment in words] == [[w.word for w in s.words] for s in TRANSCRIPT.segments]


def test_an_index_of_schema_1_says_so_when_read_and_migrates_on_the_next_write(postgres_url):
    """Version 2 added normal forms, heard terms and heard_at; passages already stored get them too."""
    import psycopg

    from indexer.index.backend import StoredWord
    from indexer.index.postgres import schema

    from .test_index import segment

    old = Source(id="audio-old", kind="audio", title="Old", location="/old.mp3", duration=30.0, language="en")
    spoken = [segment("The harbor holds 14 boats.", 0.0), segment("Yury Ashikov replied.", 5.0), segment("I'm Angozia.", 9.0)]
    with psycopg.connect(postgres_url) as conn:
        conn.execute("CREATE TABLE schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
        conn.execute(schema.MIGRATIONS[0][1])
        conn.execute("INSERT INTO schema_version (version) VALUES (1)")
        conn.execute("INSERT INTO sources (id, kind, record) VALUES (%s, 'audio', %s)", (old.id, json.dumps(old.to_dict())))
        for seq, said in enumerate(spoken):
            # Version 1 kept an aligned article's spelling in the words and the spellings alone in `aliases`.
            words = [StoredWord.of(w, "Ushakov" if w.word == "Ashikov" else None).dump() for w in said.words]
            conn.execute(
                "INSERT INTO passages (source_id, seq, kind, text, start_s, end_s, words, aliases)"
                " VALUES (%s, %s, 'audio', %s, %s, %s, %s, %s)",
                (old.id, seq, said.text, said.start, said.end, json.dumps(words), "Ushakov" if seq == 1 else ""),
            )
    with TextIndex(postgres_url) as index:
        with pytest.raises(
            IndexUnavailableError, match=f"schema is version 1, this indexer's is {LATEST}: ingest once to migrate it"
        ):
            index.search("harbor")
    with TextIndex(postgres_url) as index:
        index.write([STORY], articles={STORY.id: ARTICLE})
        (number,) = index.search("fourteen")
        assert (number.source_id, number.match, number.start) == ("audio-old", "exact", 1.5) and "**14**" in number.snippet
        (name,) = index.search("Ushakov", kind="audio")
        assert name.match == "article" and "**Ashikov** (Ushakov)" in name.snippet and name.start == 5.5
        assert [h.match for h in index.search("Ngozi")] == ["sounds-like"]
        assert [h.kind for h in index.search("negotiators")] == ["article"]
    with psycopg.connect(postgres_url) as conn:
        assert [v for (v,) in conn.execute("SELECT version FROM schema_version ORDER BY version")] == list(range(1, LATEST + 1))


def test_an_index_of_schema_2_keeps_its_lexicon_but_what_could_never_be_matched(postgres_url, monkeypatch):
    """Version 3 keys the lexicon by (pair, code, term) and drops heard pairs that are dictionary words."""
    import psycopg

    from indexer.index.postgres import schema

    from .test_index import segment
    from .test_index_aligned import HARBOUR, SPOKEN

    day = Source(id="audio-d", kind="audio", title="Day", location="/d.mp3", duration=10.0, language="en")
    with monkeypatch.context() as old:
        old.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:2])
        old.setattr(schema, "LATEST", 2)
        with TextIndex(postgres_url) as index:
            index.write([HARBOUR], transcripts={HARBOUR.id: SPOKEN})
            index.write(
                [day], transcripts={day.id: Transcript(segments=[segment("See you to day.", 0.0)], language="en", duration=10.0)}
            )
        with psycopg.connect(postgres_url) as conn:
            # What version 2 wrote for "to day": the pair in the lexicon and in the passage's heard terms.
            conn.execute("INSERT INTO heard_terms VALUES ('today', true, 'TT')")
            conn.execute("UPDATE passages SET sounds = sounds || %s::tsvector WHERE source_id = 'audio-d'", ("'~today':3",))
            pairs = conn.execute("SELECT count(*) FROM heard_terms WHERE pair").fetchone()[0]
    with TextIndex(postgres_url) as index:
        with pytest.raises(IndexUnavailableError, match=f"schema is version 2, this indexer's is {LATEST}"):
            index.search("Adeyemi")
        index.write([STORY], articles={STORY.id: ARTICLE})
        assert [h.match for h in index.search("Adeyemi")] == ["sounds-like"]
        assert [h.match for h in index.search("Ngozi")] == ["sounds-like"]
        assert index.search("Todai") == []
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT count(*) FROM heard_terms WHERE pair").fetchone()[0] == pairs - 1
        key = "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'heard_terms'::regclass AND contype = 'p'"
        assert conn.execute(key).fetchone() == ("PRIMARY KEY (pair, code, term)",)


def test_a_kind_or_source_id_in_the_query_filters_without_flattening_the_ranking(index):
    plain = index.search("Ushakov OR troops")
    filtered = index.search("(Ushakov OR troops) kind:audio")
    assert [h.score for h in filtered] == [h.score for h in plain if h.kind == "audio"] and filtered[0].score > 0
