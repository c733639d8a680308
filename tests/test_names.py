"""Article-informed audio, end to end: real speech from bench/names, recognised by tiny.en.

What a user sees: a misheard name found where it is spoken, with both spellings in the snippet;
paragraphs that know where they are heard; number words and British spellings found both ways; the
transcript in the article's spelling; and no audio hits for words nobody says.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from indexer import Index
from indexer.cli import cli

from .conftest import ROOT

NAMES = ROOT / "bench" / "names"
HARBOUR, MINE, EPISODE = NAMES / "harbour_read", NAMES / "mine_podcast", NAMES / "episode_page"

pytestmark = pytest.mark.e2e


def truth(case: Path) -> dict:
    return json.loads(case.with_suffix(".truth.json").read_text(encoding="utf-8"))


def sentence_with(case: Path, word: str) -> dict:
    return next(s for s in truth(case)["sentences"] if word in s["text"])


@pytest.fixture(scope="module")
def built(tmp_path_factory, shared_cache) -> Path:
    """An index with the harbour article read aloud and the mining story discussed in a podcast."""
    directory = tmp_path_factory.mktemp("names") / "index"
    index = Index(directory, cache_dir=shared_cache)
    report = index.ingest(str(HARBOUR.with_suffix(".txt")), audio=[str(HARBOUR.with_suffix(".mp3"))])
    assert report.ok, report.failures
    report = index.ingest(str(MINE.with_suffix(".html")), str(EPISODE.with_suffix(".html")))
    assert report.ok, report.failures
    return directory


@pytest.fixture
def index(built, tmp_path, shared_cache) -> Index:
    copy = tmp_path / "index"
    shutil.copytree(built, copy)
    return Index(copy, cache_dir=shared_cache)


def audio_of(case: Path) -> str:
    return str(case.with_suffix(".mp3"))


def test_a_misheard_name_is_found_where_it_is_spoken(index):
    spoken = sentence_with(HARBOUR, "Okonkwo")
    hits = index.search("Okonkwo", kind="audio")
    assert len(hits) == 1
    hit = hits[0]
    assert hit.audio == audio_of(HARBOUR) and hit.match == "article"
    assert spoken["start"] - 1 <= hit.start <= spoken["end"]
    assert "(Harbourmaster Siobhan Okonkwo)" in hit.snippet and "Okonkwo" not in hit.text


def test_a_phrase_across_a_corrected_word(index):
    hits = index.search('"councillor Gwilym Prydderch"', kind="audio")
    assert [h.audio for h in hits] == [audio_of(HARBOUR)]
    spoken = sentence_with(HARBOUR, "Prydderch")
    assert spoken["start"] - 1 <= hits[0].start <= spoken["end"]


def test_a_podcast_that_quotes_the_story_finds_the_quoted_names(index):
    spoken = sentence_with(MINE, "Haugland")
    hits = index.search("Haugland", kind="audio")
    assert [h.audio for h in hits] == [audio_of(MINE)]
    assert spoken["start"] - 1 <= hits[0].start <= spoken["end"] and hits[0].match == "article"


def test_words_nobody_says_give_no_audio_hits(index):
    # Bellona is in the mining article, in a paragraph the podcast does not read.
    for query in ("Bellona", "Okonjo", "Kowalski", "Regensburg"):
        assert index.search(query, kind="audio") == [], query
    assert index.search("Bellona", kind="article")


def test_article_hits_say_where_the_paragraph_is_heard(index):
    hit = index.search('"fire service"', kind="article")[0]
    paragraph = next(s for s in truth(HARBOUR)["sentences"] if s["paragraph"] == 3)
    [heard] = hit.heard_at
    assert heard.audio == audio_of(HARBOUR) and heard.source_id.startswith("audio-")
    assert abs(heard.start - paragraph["start"]) < 1.0
    # The podcast reads the mining article's third paragraph, not its fourth.
    assert index.search("Bellona", kind="article")[0].heard_at == []
    assert index.search("Inspectors", kind="article")[0].heard_at[0].audio == audio_of(MINE)


@pytest.mark.parametrize(
    "query, heard",
    [
        ("fourteen", "14"),
        ('"thirty-eight million"', "38"),
        ("litres", "liters"),
        ("harbour", "Harbor"),
        ('"2,400 litres"', "2,400"),
    ],
)
def test_numbers_and_spellings_are_found_in_either_form(index, query, heard):
    hit = next(h for h in index.search(query, kind="audio") if h.audio == audio_of(HARBOUR))
    assert heard in hit.text and hit.match == "exact" and "**" in hit.snippet


@pytest.mark.parametrize("query, written", [("14", "fourteen"), ('"38 million"', "thirty-eight million"), ("liters", "litres")])
def test_articles_are_found_by_the_other_form_too(index, query, written):
    hits = index.search(query, kind="article")
    assert hits and written in hits[0].text


def test_transcript_in_the_articles_spelling(index):
    audio_id = index.search("Okonkwo", kind="audio")[0].source_id
    heard = index.transcript(audio_id)
    spelled = index.transcript(audio_id, spelling="article")
    assert "Okonkwo" not in heard.text and "Harbourmaster Siobhan Okonkwo" in spelled.text
    word = next(w for s in spelled for w in s.words if w.word.startswith("Harbourmaster"))
    assert word.heard == "Harbor Master Shavonakonqua"
    assert all(w.heard is None for s in heard for w in s.words)


def test_cli_contract(index):
    runner = CliRunner()
    base = ["--index", str(index.path)]
    hits = json.loads(runner.invoke(cli, [*base, "search", "Okonkwo", "--json"], catch_exceptions=False).output)
    assert {h["kind"] for h in hits} == {"audio", "article"}
    for hit in hits:
        assert hit["match"] in ("exact", "article", "sounds-like")
        assert ("heard_at" in hit) == (hit["kind"] == "article")
    article = next(h for h in hits if h["kind"] == "article")
    assert set(article["heard_at"][0]) == {"source_id", "audio", "start", "end"}

    text = runner.invoke(cli, [*base, "search", "Okonkwo", "--kind", "article"], catch_exceptions=False).output
    assert "▶ 00:" in text and "in harbour_read.mp3" in text

    audio_id = next(h for h in hits if h["kind"] == "audio")["source_id"]
    result = runner.invoke(
        cli, [*base, "transcript", audio_id, "--spelling", "article", "--format", "json"], catch_exceptions=False
    )
    words = [w for s in json.loads(result.output)["segments"] for w in s["words"]]
    spelled = next(w for w in words if w["word"].startswith("Harbourmaster"))
    assert spelled["heard"] == "Harbor Master Shavonakonqua" and spelled["start"] < spelled["end"]
    plain = runner.invoke(cli, [*base, "transcript", audio_id], catch_exceptions=False).output
    assert "Okonkwo" not in plain and "Shavonakonqua" in plain


def test_unrelated_or_foreign_articles_align_nowhere(index, tmp_path):
    unrelated = tmp_path / "quotas.txt"
    unrelated.write_text(
        "Fishing quotas cut for Peterhead fleet\n\nSkippers in Peterhead said the new quotas would cost the fleet dearly.\n\n"
        "Fisheries officer Morag Strachan said the cuts of fourteen percent were needed.\n",
        encoding="utf-8",
    )
    german = tmp_path / "bruecke.txt"
    german.write_text(
        "Regensburg plant eine neue Brücke\n\nDie Stadt Regensburg will bis 2028 eine neue Brücke über die Donau bauen, "
        "sagte Bürgermeisterin Gertrud Maltz am Mittwoch.\n",
        encoding="utf-8",
    )
    for page in (unrelated, german):
        assert index.ingest(str(page), audio=[audio_of(HARBOUR)]).ok
    for query in ("Peterhead", "Strachan", "Regensburg", "Maltz"):
        assert index.search(query, kind="audio") == []
        assert all(h.heard_at == [] for h in index.search(query, kind="article"))
    # The harbour audio, now embedded by three articles, keeps what its own article's alignment gave.
    assert [h.audio for h in index.search("Okonkwo", kind="audio")] == [audio_of(HARBOUR)]


def test_reingesting_the_audio_alone_keeps_the_alignment(index):
    assert index.ingest(audio_of(HARBOUR)).ok
    assert [h.match for h in index.search("Okonkwo", kind="audio")] == ["article"]


def test_an_audio_embedded_by_two_articles_keeps_both_alignments(index, tmp_path):
    # A second article quotes only the clinic story's last paragraph, and embeds the harbour audio too.
    second = tmp_path / "roundup.txt"
    second.write_text(
        "Weekly roundup\n\nFuel tanks holding 2,400 litres of diesel were checked by the fire service, "
        "and the sea wall was given a new coat of grey colour, said Harbourmaster Shavon Okonkwo-Reid.\n",
        encoding="utf-8",
    )
    assert index.ingest(str(second), audio=[audio_of(HARBOUR)]).ok
    assert [h.match for h in index.search("Prydderch", kind="audio")] == ["article"]
    assert [h.match for h in index.search("Okonkwo", kind="audio")] == ["article"]


def test_a_name_no_article_spells_is_found_by_sound_below_the_rest(index):
    # The guest says "I'm Ngozi Adeyemi"; tiny.en hears "Angozia". The page never names her.
    hits = index.search("Ngozi")
    assert [h.match for h in hits] == ["sounds-like", "sounds-like"]
    assert {h.audio for h in hits} == {audio_of(EPISODE)}
    spoken = [s for s in truth(EPISODE)["sentences"] if "Ngozi" in s["text"]]
    assert len(spoken) == 2
    for hit, sentence in zip(sorted(hits, key=lambda h: h.start), spoken):
        assert sentence["start"] - 1 <= hit.start <= sentence["end"]
    assert all("(sounds like Ngozi)" in h.snippet for h in hits)


def test_sound_alike_never_floods(index):
    # Common words are never matched by sound, nor are names nobody says.
    for query in ("weather", "called", "Morag", "Okonjo", "Bellona", "Tewksbury"):
        assert [h for h in index.search(query, kind="audio") if h.match == "sounds-like"] == [], query
    # A name heard as written or aligned gets no sound-alike hits beside them.
    assert {h.match for h in index.search("Okonkwo", kind="audio")} == {"article"}


GUEST = NAMES / "guest_interview"


def test_a_name_spelled_only_in_another_article_is_found_where_an_episode_says_it(tmp_path, shared_cache):
    # The host names the guest; the episode page does not. A news story ingested later spells the
    # name without embedding the episode: the index-wide lexicon gives the episode its spelling, by sound.
    index = Index(tmp_path / "index", cache_dir=shared_cache)
    assert index.ingest(str(GUEST.with_suffix(".html"))).ok
    assert index.ingest(str(NAMES / "guest_interview.article.txt")).ok
    spoken = [s for s in truth(GUEST)["sentences"] if "Wieczorek" in s["text"]]
    hits = sorted(index.search("Wieczorek", kind="audio"), key=lambda h: h.start)
    assert {h.audio for h in hits} == {audio_of(GUEST)} and {h.match for h in hits} == {"sounds-like"}
    assert len(hits) == len(spoken)
    for hit, sentence in zip(hits, spoken):
        assert sentence["start"] - 1 <= hit.start <= sentence["end"] and "(sounds like Wieczorek)" in hit.snippet
    assert index.search('"Radomir Wieczorek"', kind="audio")
    for query in ("Kasprzak", "Shropshire"):  # the story names them; nobody says them
        assert index.search(query, kind="audio") == [], query
