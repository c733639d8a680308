"""The index on its own: query language, jump-in times, atomic replacement, crash safety.

The behaviour tests run against every backend in ``BACKENDS`` (a factory from a directory to a
:class:`~indexer.index.backend.Backend`); a new backend is added there and must pass them all.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexer.errors import IndexUnavailableError, QueryError
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


def postgres_location(request):
    """A PostgreSQL index per directory: each in a schema of its own on the session's server."""
    import hashlib

    from .services import postgres_schema_url

    server = request.getfixturevalue("postgres_server")

    def location(directory) -> str:
        return postgres_schema_url(server, "t" + hashlib.sha256(str(directory).encode()).hexdigest()[:16])

    return location


# Each backend as a factory from the test's fixture request to a function from a directory to the
# location an index is opened at (what ``--index`` would name).
BACKENDS = {"whoosh": lambda request: lambda directory: directory, "postgresql": postgres_location}


@pytest.fixture(params=list(BACKENDS))
def open_index(request, tmp_path):
    """Opens a TextIndex on the backend under test for a directory; closes them all at the end.

    ``open_index.location(directory)`` is where that index lives, for another process to open.
    """
    opened: list[TextIndex] = []
    location = BACKENDS[request.param](request)

    def open_index(directory=None) -> TextIndex:
        index = TextIndex(location(directory or tmp_path / "index"))
        opened.append(index)
        return index

    open_index.location = location
    yield open_index
    for index in opened:
        index.close()


@pytest.fixture
def index(open_index) -> TextIndex:
    index = open_index()
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


def test_a_killed_writer_leaves_the_old_index_readable(index, open_index, tmp_path):
    # A real crash: a process that is killed with SIGKILL in the middle of writing a large source.
    directory = open_index.location(tmp_path / "index")
    script = textwrap.dedent(
        f"""
        import os, sys
        from indexer.index import TextIndex
        from indexer.models import Segment, Source, Transcript
        index = TextIndex({str(directory)!r})
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
    reopened = open_index()
    assert reopened.search("crashword") == []
    assert [h.start for h in reopened.search("troops")] == [30.5]
    # And the next writer is not blocked by the dead one's lock.
    reopened.write([STORY], articles={STORY.id: ARTICLE})
    assert [h.kind for h in reopened.search("negotiators")] == ["article"]


# -- bad queries ----------------------------------------------------------------------------------

NEWS = Source(id="audio-2", kind="audio", title="News", location="/pods/news.mp3", duration=60.0, language="en")
NEWS_TRANSCRIPT = Transcript(
    segments=[segment("Putin spoke to NATO about the text of the treaty.", 1.0), segment("Putin left.", 9.0)],
    language="en",
    duration=60.0,
)

CRASHING_QUERIES = ["start:1", "NOT *", "NOT OR x", "x ANDNOT ANDNOT text:", "Putin ANDNOT NATO", "seq:[1 TO]", "end:x"]


@pytest.mark.parametrize("query", CRASHING_QUERIES)
@pytest.mark.parametrize("kind", [None, "audio"])
def test_a_query_the_engine_cannot_run_is_one_query_error_or_results(index, query, kind):
    index.write([NEWS], transcripts={NEWS.id: NEWS_TRANSCRIPT})
    try:
        hits = index.search(query, kind=kind)
    except QueryError as e:
        assert "\n" not in str(e) and query in str(e)
    else:
        assert all(h.kind == (kind or h.kind) for h in hits)


def test_putin_andnot_nato_in_audio_finds_the_segment_without_nato(index):
    index.write([NEWS], transcripts={NEWS.id: NEWS_TRANSCRIPT})
    assert [h.text for h in index.search("Putin ANDNOT NATO", kind="audio")] == ["Putin left."]


def test_an_unknown_field_is_named(index):
    with pytest.raises(QueryError, match="no field 'nosuchfield'"):
        index.search("nosuchfield:Putin")
    with pytest.raises(QueryError, match="no field 'start'"):
        index.search("start:1")
    assert [h.kind for h in index.search("title:border")] == ["article", "article"]
    assert index.search("10:30") == []  # a time is words, not a field


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.one_of(
            st.sampled_from(
                [
                    "AND",
                    "OR",
                    "NOT",
                    "ANDNOT",
                    "ANDMAYBE",
                    "(",
                    ")",
                    '"',
                    "*",
                    ":",
                    "text:",
                    "title:",
                    "kind:",
                    "source_id:",
                    "start:",
                    "[",
                    "]",
                    "TO",
                    "^2",
                    "~",
                    "troops",
                    "Ushakov",
                    "red",
                    "line",
                    "the",
                ]
            ),
            st.text(max_size=6),
        ),
        min_size=1,
        max_size=7,
    ).map(" ".join),
    st.sampled_from([None, "audio", "article"]),
)
def test_fuzzed_queries_give_results_or_one_query_error(index, query, kind):
    try:
        hits = index.search(query, kind=kind, limit=5)
    except QueryError as e:
        assert "\n" not in str(e).strip()
    else:
        assert len(hits) <= 5


# -- what is not an index -------------------------------------------------------------------------


@pytest.mark.parametrize("read", ["search", "sources", "transcript", "source"])
def test_reading_where_there_is_no_index_says_so_and_creates_nothing(tmp_path, read):
    empty = tmp_path / "nothing-here"
    empty.mkdir()
    with TextIndex(empty) as index:
        call = {"search": lambda: index.search("x"), "transcript": lambda: index.transcript("audio-1")}.get(
            read, lambda: getattr(index, read)(*(["audio-1"] if read == "source" else []))
        )
        with pytest.raises(IndexUnavailableError, match=f"no index in {empty}: ingest something first"):
            call()
    assert list(empty.iterdir()) == []
    with TextIndex(tmp_path / "missing") as index, pytest.raises(IndexUnavailableError, match="no index in"):
        index.sources()
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("command", [["search", "x"], ["sources"], ["transcript", "audio-1"], ["remove", "audio-1"]])
def test_a_command_where_there_is_no_index_says_so(tmp_path, command):
    from click.testing import CliRunner

    from indexer import Index
    from indexer.cli import cli

    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(cli, ["--index", str(empty), *command])
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: no index in {empty}: ingest something first"
    with Index(empty) as index, pytest.raises(IndexUnavailableError, match="no index in"):
        index.search("x")
    assert list(empty.iterdir()) == []


def _whoosh_files(directory) -> list:
    return sorted(p for p in directory.iterdir() if p.suffix == ".seg")


@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_a_missing_or_truncated_index_file_is_one_clear_error(tmp_path, damage):
    directory = tmp_path / "index"
    with TextIndex(directory) as index:
        index.write([EPISODE], transcripts={EPISODE.id: TRANSCRIPT})
    (segment_file,) = _whoosh_files(directory)
    if damage == "missing":
        segment_file.unlink()
    else:
        segment_file.write_bytes(segment_file.read_bytes()[: segment_file.stat().st_size // 3])
    for read in (lambda index: index.search("troops"), lambda index: index.sources()):
        with TextIndex(directory) as index, pytest.raises(IndexUnavailableError) as raised:
            read(index)
        assert str(directory) in str(raised.value) and "\n" not in str(raised.value)


LEAN_TEXTS = [
    "The harbour holds 14 boats and fourteen cranes.",
    "Thirty-eight million litres of water; 38 million liters more.",
    "O'Brien said the U.S. harbor colour was grey, the color of rain.",
    "Ushakov replied that the troops were running late.",
    "She ran 3.5 km on the 1st of May, up 14% on April.",
]
LEAN_QUERIES = [
    "harbour",
    "harbor",
    "14",
    "fourteen",
    "litres",
    "liters",
    "38 million",
    '"thirty eight million"',
    "colour",
    "color",
    "OBrien",
    "O'Brien",
    "U.S.",
    "troop",
    "run",
    "first",
    "percent",
    "3.5",
    "ushakov OR harbour",
    "boats AND cranes",
    "water NOT rain",
    "grey",
]


def test_leaving_out_needless_norm_clauses_finds_the_same(tmp_path, monkeypatch):
    # The Whoosh backend drops a word's norm clause where it can match nothing the text clause
    # does not; every query must find exactly what the whole query finds.
    from indexer.index import whoosh

    index = TextIndex(tmp_path / "ix")
    segments = [segment(text, 10.0 * k) for k, text in enumerate(LEAN_TEXTS)]
    index.write([EPISODE], transcripts={EPISODE.id: Transcript(segments=segments, language="en", duration=60.0)})
    index.write([STORY], articles={STORY.id: Article(title=STORY.title, location=STORY.location, paragraphs=LEAN_TEXTS)})
    lean = {q: [(h.source_id, h.start, h.end, h.snippet, h.match) for h in index.search(q, limit=20)] for q in LEAN_QUERIES}
    monkeypatch.setattr(whoosh, "_lean", lambda query, reader: query)
    whole = {q: [(h.source_id, h.start, h.end, h.snippet, h.match) for h in index.search(q, limit=20)] for q in LEAN_QUERIES}
    for q in LEAN_QUERIES:
        assert sorted(lean[q], key=repr) == sorted(whole[q], key=repr), q
    assert all(whole[q] for q in ("14", "fourteen", "litres", "liters", "colour", "OBrien", "troop")), whole
    index.close()


def test_a_plain_word_is_searched_in_one_field_and_a_normalised_one_in_both(tmp_path):
    from whoosh.query import Term

    from indexer.index import whoosh

    backend = whoosh.WhooshBackend(tmp_path / "ix")
    index = TextIndex(backend=backend)
    segments = [segment(text, 10.0 * k) for k, text in enumerate(LEAN_TEXTS)]
    index.write([EPISODE], transcripts={EPISODE.id: Transcript(segments=segments, language="en", duration=60.0)})
    with backend._index().searcher() as searcher:

        def fields(q: str) -> set[str]:
            leaves = whoosh._lean(backend._parse(q), searcher.reader()).leaves()
            return {leaf.fieldname for leaf in leaves if isinstance(leaf, Term)}

        assert "norm" not in fields("boats")
        assert "norm" in fields("fourteen")  # "14" is indexed as "fourteen" in norm only
        assert "norm" in fields("14")
    index.close()


def test_a_long_lived_index_shows_a_record_rewritten_after_it_searched(index):
    # Hits' records are remembered per commit read; a newer commit must show the new record.
    assert {h.title for h in index.search("Ushakov", kind="audio")} == {"Episode one"}
    renamed = Source(**{**EPISODE.__dict__, "title": "Episode one, renamed"})
    index.write([renamed])
    assert {h.title for h in index.search("Ushakov", kind="audio")} == {"Episode one, renamed"}


def _sound_index(directory) -> TextIndex:
    index = TextIndex(directory)
    said = Transcript(
        segments=[segment("We spoke to Ushakoff and to Ada Yemi about the talks.", 0.0)], language="en", duration=10.0
    )
    index.write([EPISODE], transcripts={EPISODE.id: said})
    return index


def test_sound_alike_candidates_are_found_by_code_not_by_reading_every_heard_word(tmp_path, monkeypatch):
    from whoosh.reading import SegmentReader

    index = _sound_index(tmp_path / "ix")

    def unread(self, fieldname):
        raise AssertionError(f"read the whole {fieldname} lexicon")

    monkeypatch.setattr(SegmentReader, "lexicon", unread)
    assert [(h.match, h.snippet) for h in index.search("Ushakov")] == [
        ("sounds-like", "We spoke to **Ushakoff** (sounds like Ushakov) and to Ada Yemi about the talks.")
    ]
    assert [h.match for h in index.search("Adeyemi")] == ["sounds-like"]
    assert index.search("Zbigniewski") == []
    index.close()


def test_an_index_made_before_sound_codes_still_finds_by_sound(tmp_path, monkeypatch):
    from indexer.index import whoosh

    made = whoosh._schema

    def without_codes():
        schema = made()
        schema.remove("sounds")
        return schema

    monkeypatch.setattr(whoosh, "_schema", without_codes)
    index = _sound_index(tmp_path / "ix")
    assert "sounds" not in index.backend._index().schema
    assert [h.match for h in index.search("Ushakov")] == ["sounds-like"]
    assert [h.match for h in index.search("Adeyemi")] == ["sounds-like"]
    index.close()
