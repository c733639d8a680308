"""Articles aligned with their audio, through the index: article spellings of misheard words, heard_at,
normal forms both ways, transcript --spelling article and the sound-alike fallback.

The sample article with its spoken rendition, heard by the fake engine (tests/fakes.py), which
mishears "Ushakov" as "Ashikov" as tiny.en does, in each index backend (Whoosh and PostgreSQL).
Real recognition of the names set: test_names.py.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from indexer import Index
from indexer.cli import cli
from indexer.errors import IndexerError

from .conftest import SAMPLE_ARTICLE, SAMPLE_AUDIO
from .fakes import FakeEngine

MISHEARD = {"Ushakov": "Ashikov"}


@pytest.fixture(params=["whoosh", "postgresql"])
def location(request, tmp_path) -> str:
    """Where the test's index lives: a directory, or the session PostgreSQL server's emptied database."""
    return request.getfixturevalue("postgres_url") if request.param == "postgresql" else str(tmp_path / "index")


@pytest.fixture
def index(location, tmp_path):
    index = Index(location, cache_dir=tmp_path / "cache", engine=FakeEngine(mishear=MISHEARD))
    report = index.ingest(SAMPLE_ARTICLE, audio=[SAMPLE_AUDIO])
    assert report.ok, report.failures
    yield index
    index.close()


def sentence(sentences: list[dict], opening: str) -> dict:
    return next(s for s in sentences if s["text"].startswith(opening))


def test_a_misheard_name_is_found_under_the_articles_spelling_and_marked_so(index, sentences):
    hits = index.search("Ushakov", kind="audio")
    assert hits and {h.match for h in hits} == {"article"}
    said = sentence(sentences, "On Wednesday, Yury Ushakov")
    first = min(hits, key=lambda h: h.start)
    assert said["start"] < first.start < said["start"] + 3.0
    assert "**Ashikov** (Ushakov)" in first.snippet
    # A phrase across the misheard word, in the article's spelling.
    assert [h.match for h in index.search('"Yury Ushakov"', kind="audio")] == ["article"]
    # What was heard is still found as heard, as an exact match.
    assert {h.match for h in index.search("Ashikov", kind="audio")} == {"exact"}


def test_article_paragraphs_know_where_they_are_spoken(index, sentences):
    (hit,) = index.search('"secure video call"', kind="article")
    (heard,) = hit.heard_at
    assert heard.audio == str(SAMPLE_AUDIO)
    assert abs(heard.start - sentence(sentences, "The two leaders spoke")["start"]) < 1.0
    assert hit.to_dict()["heard_at"][0]["audio"] == str(SAMPLE_AUDIO)
    # Audio hits carry no heard_at; every hit says how it matched.
    audio_hit = index.search('"secure video call"', kind="audio")[0]
    assert "heard_at" not in audio_hit.to_dict() and audio_hit.to_dict()["match"] == "exact"


def test_spellings_are_found_either_way(index):
    # The article writes "kilometers" and "neighbor"; a British query finds both article and audio.
    for query in ("kilometres", "neighbour"):
        assert {h.kind for h in index.search(query)} == {"article", "audio"}, query
    assert index.search('"thousands of kilometres"', kind="audio")


def test_the_transcript_in_the_articles_spelling(index, location):
    audio_id = index.search("Ushakov", kind="audio")[0].source_id
    heard, spelled = index.transcript(audio_id), index.transcript(audio_id, spelling="article")
    assert "Ushakov" not in heard.text and "Ashikov" in heard.text
    assert "Ushakov" in spelled.text and "Ashikov" not in spelled.text
    changed = [w for s in spelled.segments for w in s.words if w.heard is not None]
    assert changed and all(w.heard.strip(" ,.").endswith("Ashikov") for w in changed)
    assert len(heard.segments) == len(spelled.segments)
    with pytest.raises(IndexerError, match="spelling"):
        index.transcript(audio_id, spelling="british")

    runner = CliRunner()
    base = ["--index", location]
    out = runner.invoke(cli, [*base, "transcript", audio_id, "--spelling", "article", "--format", "json"])
    assert out.exit_code == 0, out.output
    words = [w for s in json.loads(out.output)["segments"] for w in s["words"]]
    assert any(w.get("heard", "").strip(" ,.") == "Ashikov" and "Ushakov" in w["word"] for w in words)
    plain = runner.invoke(cli, [*base, "transcript", audio_id, "--format", "json"])
    assert all("heard" not in w for s in json.loads(plain.output)["segments"] for w in s["words"])


def test_the_cli_shows_where_a_paragraph_is_spoken_and_how_a_hit_matched(index, location):
    out = CliRunner().invoke(cli, ["--index", location, "search", "Ushakov"])
    assert out.exit_code == 0, out.output
    assert "▶" in out.output and "in seed_article.mp3" in out.output
    assert "(article)" in out.output


def test_audio_ingested_again_alone_keeps_its_articles_spelling(index, location, tmp_path):
    with Index(location, cache_dir=tmp_path / "cache", engine=FakeEngine(mishear=MISHEARD)) as again:
        assert again.ingest(SAMPLE_AUDIO).ok
        assert {h.match for h in again.search("Ushakov", kind="audio")} == {"article"}


def test_a_name_no_article_spells_is_found_by_sound_below_other_hits(location, tmp_path):
    index = Index(location, cache_dir=tmp_path / "cache", engine=FakeEngine(mishear=MISHEARD))
    assert index.ingest(SAMPLE_AUDIO).ok
    hits = index.search("Ushakov")
    assert hits and {h.match for h in hits} == {"sounds-like"}
    assert "**Ashikov** (sounds like Ushakov)" in hits[0].snippet
    # Common words are never matched by sound, and a word heard as written is matched as it is.
    assert index.search("troupes") == []  # sounds like the spoken "troops", but an English word
    assert {h.match for h in index.search("Kremlin")} == {"exact"}
    index.close()


def test_an_index_made_before_the_aligned_fields_gets_them_when_opened(tmp_path):
    from whoosh.index import TOC

    from indexer.index import TextIndex, whoosh
    from indexer.models import Article, Source

    schema = whoosh._schema()
    for name in ("norm", "heard_at", "pairs"):
        schema.remove(name)
    (tmp_path / "index").mkdir()
    TOC.create(whoosh.SyncedStorage(str(tmp_path / "index")), schema, whoosh.INDEX_NAME)
    with TextIndex(tmp_path / "index") as index:
        record = Source(id="article-x", kind="article", title="Harbour", location="/x")
        index.write([record], articles={record.id: Article(title="Harbour", location="/x", paragraphs=["fourteen litres"])})
        assert [h.match for h in index.search("14")] == ["exact"]
        assert index.search("Ushakov") == []  # the sound-alike fallback reads the added pairs field
