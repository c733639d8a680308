"""What alignment gives the index, in every backend: where paragraphs are heard, normal forms both
ways, article spellings of misheard words, how each hit matched, and the sound-alike fallback.

The documents are written straight into the index (as ingest writes them after aligning), so these
run in a moment; test_article_audio.py does the same through ingest with the fake engine.
"""

from __future__ import annotations

import pytest

from indexer.models import Article, HeardAt, Source, Transcript

from . import test_index
from .test_index import segment

open_index = test_index.open_index  # the fixture that runs each test on every backend

HARBOUR = Source(id="audio-h", kind="audio", title="Harbour", location="/pods/harbour.mp3", duration=60.0, language="en")
SPOKEN = Transcript(
    segments=[
        segment("The harbor holds 14 boats and 2,400 liters of diesel.", 0.0),
        segment("Yury Ashikov said it cost 38 million, not fourteen.", 10.0),
        segment("Hello, I'm Angozia from the clinic, and Ada Yemi joins us.", 20.0),
        segment("Our troops were seen near the harbor wall.", 30.0),
    ],
    language="en",
    duration=60.0,
)
# Segment 1 as the article spells it: "Ashikov" is "Ushakov"; "14" heard in segment 0 is the
# article's "fourteen" (a normal form of the heard word, so its matches stay exact).
ALIASES = {0: [(3, "fourteen")], 1: [(1, "Ushakov")]}
STORY = Source(
    id="article-h", kind="article", title="Harbour news", location="https://news.example/harbour", audio_ids=["audio-h"]
)
ARTICLE = Article(
    title="Harbour news",
    location="https://news.example/harbour",
    paragraphs=[
        "The harbour holds fourteen boats and 2,400 litres of diesel.",
        "Yury Ushakov said it cost thirty-eight million.",
        "Nothing of this paragraph is read aloud.",
    ],
)
HEARD_AT = {0: [HeardAt("audio-h", "/pods/harbour.mp3", 0.0, 5.0)], 1: [HeardAt("audio-h", "/pods/harbour.mp3", 10.0, 15.0)]}


@pytest.fixture
def index(open_index):
    index = open_index()
    index.write(
        [STORY, HARBOUR],
        transcripts={HARBOUR.id: SPOKEN},
        articles={STORY.id: ARTICLE},
        aliases={HARBOUR.id: ALIASES},
        heard_at={STORY.id: HEARD_AT},
    )
    return index


def word_start(segment_index: int, word: str) -> float:
    return next(w.start for w in SPOKEN.segments[segment_index].words if w.word.strip(",.").startswith(word))


def test_article_hits_carry_where_their_paragraph_is_heard(index):
    (read,) = index.search("diesel", kind="article")
    assert read.heard_at == HEARD_AT[0]
    assert read.to_dict()["heard_at"] == [{"source_id": "audio-h", "audio": "/pods/harbour.mp3", "start": 0.0, "end": 5.0}]
    (unread,) = index.search("paragraph", kind="article")
    assert unread.heard_at == []
    assert all("heard_at" not in h.to_dict() for h in index.search("diesel", kind="audio"))


@pytest.mark.parametrize(
    "query, segment_index, first, marked",
    [
        ("fourteen", 0, "14", "**14**"),
        ('"thirty-eight million"', 1, "38", "**million"),
        ("litres", 0, "liters", "**liters**"),
        ("harbour", 3, "harbor", "**harbor**"),
        ('"2,400 litres"', 0, "2,400", "**"),
    ],
)
def test_the_articles_forms_find_the_heard_forms(index, query, segment_index, first, marked):
    (hit,) = [h for h in index.search(query, kind="audio") if h.text == SPOKEN.segments[segment_index].text]
    assert hit.match == "exact" and marked in hit.snippet
    assert hit.start == word_start(segment_index, first)


@pytest.mark.parametrize(
    "query, written", [("14", "fourteen"), ('"38 million"', "thirty-eight million"), ("liters", "litres"), ("harbor", "harbour")]
)
def test_the_heard_forms_find_the_articles_forms(index, query, written):
    hits = index.search(query, kind="article")
    assert hits and written in hits[0].text and hits[0].match == "exact"
    assert "**" in hits[0].snippet


def test_a_misheard_word_is_found_under_the_articles_spelling_and_says_so(index):
    (hit,) = index.search("Ushakov", kind="audio")
    assert hit.match == "article" and "**Ashikov** (Ushakov)" in hit.snippet
    assert hit.start == word_start(1, "Ashikov")
    (phrase,) = index.search('"Yury Ushakov"', kind="audio")
    assert phrase.match == "article" and phrase.start == word_start(1, "Yury")
    assert [h.match for h in index.search("Ashikov", kind="audio")] == ["exact"]
    assert [h.match for h in index.search("text:Ushakov", kind="audio")] == []  # the text field is what was heard
    # An alias that is only a normal form of the heard word ("14" for "fourteen") is an exact match.
    assert {h.match for h in index.search("fourteen", kind="audio")} == {"exact"}


def test_a_name_no_article_spells_is_found_by_sound_after_the_rest(index):
    (hit,) = index.search("Ngozi")
    assert hit.match == "sounds-like" and hit.kind == "audio"
    assert "**Angozia** (sounds like Ngozi)" in hit.snippet and hit.start == word_start(2, "Angozia")
    # Two heard words joined sound like the name.
    (pair,) = index.search("Adeyemi")
    assert pair.match == "sounds-like" and "**Ada Yemi** (sounds like Adeyemi)" in pair.snippet
    assert pair.start == word_start(2, "Ada")
    # Beside a plain word, which must be heard as written.
    assert [h.match for h in index.search("clinic Ngozi")] == ["sounds-like"]
    assert index.search("boats Ngozi", kind="audio") == []
    # A stop word beside it is left out, as the query itself leaves it out.
    assert [h.match for h in index.search("the Ngozi")] == ["sounds-like"]
    # Two names by sound, heard in one segment: each heard term is looked for with the other name's.
    (both,) = index.search("Ngozi Adeyemi")
    assert both.match == "sounds-like" and "**Angozia** (sounds like Ngozi)" in both.snippet and "**Ada Yemi**" in both.snippet


def test_a_heard_word_said_everywhere_neither_floods_nor_hides_a_rarer_one(index):
    often = Source(id="audio-o", kind="audio", title="Often", location="/pods/often.mp3", duration=300.0, language="en")
    said = [segment("Angozia spoke again today.", 10.0 * k) for k in range(30)] + [segment("Angozea came.", 300.0)]
    index.write([often], transcripts={often.id: Transcript(segments=said, language="en", duration=310.0)})
    hits = index.search("Ngozi", limit=5)
    assert len(hits) == 5 and {h.match for h in hits} == {"sounds-like"}
    assert (hits[0].source_id, hits[0].start) == ("audio-o", 300.0) and "**Angozea** (sounds like Ngozi)" in hits[0].snippet


def test_two_heard_words_that_make_a_dictionary_word_are_never_a_name(index):
    said = Source(id="audio-d", kind="audio", title="Day", location="/pods/day.mp3", duration=10.0, language="en")
    index.write(
        [said], transcripts={said.id: Transcript(segments=[segment("We meet to day.", 0.0)], language="en", duration=10.0)}
    )
    assert index.search("Todai") == []


def test_sound_alike_never_floods(index):
    for query in ("Bellona", "Prydderch", "troupes", "harbours"):
        assert [h for h in index.search(query, kind="audio") if h.match == "sounds-like"] == [], query
    # A word heard as written (or aligned) gets no sound-alike hits beside it.
    assert {h.match for h in index.search("Ushakov")} == {"exact", "article"}
    assert index.search("Ngozi", kind="article") == []


def test_a_source_written_again_or_removed_takes_its_forms_with_it(index):
    shorter = Transcript(segments=[segment("Nothing more.", 0.0)], language="en", duration=5.0)
    index.write([HARBOUR], transcripts={HARBOUR.id: shorter})
    assert index.search("fourteen", kind="audio") == [] and index.search("Ngozi") == []
    index.remove(STORY.id)
    assert index.search("14") == []
