"""The index-wide name lexicon: a name one article spells is found where any audio says it.

Units on made-up heard words, then the index with the fake engine (tests/fakes.py), which hears the
sample and mishears "Ushakov" as "Ashikov": the sample's audio read with its article, and a clip of
it (the sentences that name Ushakov) that no article embeds.
"""

from __future__ import annotations

import pytest

from indexer import Index, lexicon
from indexer.index import TextIndex
from indexer.models import Segment, Word, source_json

from .conftest import SAMPLE_ARTICLE, SAMPLE_AUDIO, ffmpeg
from .fakes import FakeEngine

MISHEARD = {"Ushakov": "Ashikov"}


def segment(*words: str) -> Segment:
    heard = [Word(start=k * 0.4, end=k * 0.4 + 0.3, word=" " + w, probability=0.9) for k, w in enumerate(words)]
    return Segment(0.0, heard[-1].end, "".join(w.word for w in heard), heard)


def test_an_articles_names_make_its_lexicon():
    found = lexicon.names("Ferry to Stornoway restored", ["Captain Eilidh MacLeod said the ferry to Stornoway sailed on Friday."])
    assert {"Stornoway", "Eilidh", "MacLeod", "Captain"} <= found
    assert "Ferry" not in found  # also written in lower case
    # A dictionary word is in the lexicon (heard as written, it is not re-spelled) but never matched by sound.
    assert lexicon.name_aliases([segment("Captin", "Eilidh")], found) == {}


def test_heard_words_and_pairs_that_sound_like_a_name_get_its_spelling():
    segments = [segment("Yury", "Ashikov,", "said"), segment("Captain", "Ailey", "MacLeod", "met", "in", "grid", "today")]
    aliases = lexicon.name_aliases(segments, {"Ushakov", "Ingrid", "Eilidh"})
    assert aliases == {0: [(1, "~Ushakov")], 1: [(4, "~Ingrid"), (5, "")]}  # marked as given by sound


def test_what_is_never_given_a_lexicon_spelling():
    # A word heard as another lexicon name spells it, common words never match, aligned words keep theirs.
    segments = [segment("Okonkwo", "said", "troops", "and", "Ashikov", "left")]
    assert lexicon.name_aliases(segments, {"Okonjo", "Okonkwo", "Troopski"}) == {}
    assert lexicon.name_aliases(segments, {"Ushakov"}, {0: [(4, "Ushakova")]}) == {}
    # A pair that opens with a name ("Russia in" is not "Russian"), and a name heard as written
    # elsewhere in the transcript: the near spelling is another word.
    assert lexicon.name_aliases([segment("danger", "to", "Russia", "in", "a", "sense")], {"Russia", "Russian"}) == {}
    assert lexicon.name_aliases([segment("Ushakov", "and", "Ashikov")], {"Ushakov"}) == {}
    assert lexicon.merged({0: [(4, "Ushakova")]}, {0: [(1, "X"), (4, "Ushakov")]}) == {0: [(1, "X"), (4, "Ushakova")]}


@pytest.fixture(scope="module")
def quote(tmp_path_factory) -> str:
    """The sample's sentences that name Ushakov, cut out as a file of their own."""
    out = tmp_path_factory.mktemp("quote") / "quote.wav"
    ffmpeg("-i", str(SAMPLE_AUDIO), "-ss", "25", "-t", "25", "-ac", "1", "-ar", "16000", str(out))
    return str(out)


def open_index(tmp_path) -> Index:
    return Index(tmp_path / "index", cache_dir=tmp_path / "cache", engine=FakeEngine(mishear=MISHEARD))


def audio_hits(index: Index, query: str) -> dict[str, set[str]]:
    """audio location -> how its hits matched."""
    found: dict[str, set[str]] = {}
    for hit in index.search(query, kind="audio", limit=50):
        found.setdefault(hit.audio or "", set()).add(hit.match)
    return found


def test_audio_ingested_after_an_article_that_spells_the_name(tmp_path, quote):
    index = open_index(tmp_path)
    assert index.ingest(SAMPLE_ARTICLE, audio=[SAMPLE_AUDIO]).ok
    assert index.ingest(quote).ok  # nobody embeds it
    # Aligned in the article's own audio; found by sound in the clip, and said so.
    assert audio_hits(index, "Ushakov") == {str(SAMPLE_AUDIO): {"article"}, quote: {"sounds-like"}}
    hits = [h for h in index.search("Ushakov", kind="audio", limit=50) if h.audio == quote]
    assert all("**Ashikov** (sounds like Ushakov)" in h.snippet for h in hits)
    assert min(h.start for h in hits) < 2.0  # "Yury Ushakov" opens the clip
    # A phrase across the name works in the clip too.
    assert quote in audio_hits(index, '"Yury Ushakov"')


def test_an_article_ingested_after_audio_that_says_its_name(tmp_path, quote):
    index = open_index(tmp_path)
    assert index.ingest(quote).ok
    assert index.ingest(SAMPLE_ARTICLE, audio=[SAMPLE_AUDIO]).ok  # spells Ushakov; embeds the sample, not the clip
    assert audio_hits(index, "Ushakov") == {str(SAMPLE_AUDIO): {"article"}, quote: {"sounds-like"}}
    # The clip was written again with the name added; what it had stays.
    assert index.transcript(next(s.id for s in index.sources() if s.location == quote)).text.count("Ashikov") >= 1
    assert {h.match for h in index.search("Ashikov", kind="audio", limit=50)} == {"exact"}


def test_names_nobody_says_find_no_audio(tmp_path, quote):
    index = open_index(tmp_path)
    other = tmp_path / "quotas.txt"
    other.write_text(
        "Fishing quotas cut for Peterhead fleet\n\n"
        "Fisheries officer Morag Strachan and inspector Yuri Ushenko of Przybylski Marine met in Peterhead.\n",
        encoding="utf-8",
    )
    assert index.ingest(other, quote).ok
    for name in ("Peterhead", "Strachan", "Ushenko", "Przybylski"):
        assert index.search(name, kind="audio") == [], name


def test_the_lexicon_is_read_from_the_articles_records(tmp_path, quote, monkeypatch):
    # An ingest into a large archive reads every record, never every article's text.
    index = open_index(tmp_path)
    assert index.ingest(SAMPLE_ARTICLE, audio=[SAMPLE_AUDIO]).ok
    article = next(s for s in index.sources() if s.kind == "article")
    assert "Ushakov" in (article.names or [])
    assert "names" not in [key for s in index.sources() for key in source_json(s)]

    def unread(self, source_id):
        raise AssertionError(f"read the text of {source_id}")

    monkeypatch.setattr(TextIndex, "article", unread)
    assert index.ingest(quote).ok  # nobody embeds it; the lexicon gives it the name
    assert quote in audio_hits(index, "Ushakov")


def test_a_name_given_by_sound_is_spelled_in_the_article_spelling_transcript(tmp_path, quote):
    index = open_index(tmp_path)
    assert index.ingest(SAMPLE_ARTICLE, audio=[SAMPLE_AUDIO]).ok
    assert index.ingest(quote).ok
    clip = next(s.id for s in index.sources() if s.location == quote)
    spelled = index.transcript(clip, spelling="article")
    assert "Ushakov" in spelled.text and "~" not in spelled.text
    assert "Ashikov" in index.transcript(clip).text  # the default stays what was heard
