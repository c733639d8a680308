"""Aligning an article with heard words: what is paired, what is not, and how fast."""

from __future__ import annotations

import random
import time

from indexer.alignment import Alignment, align, align_words, article_words, word_aliases
from indexer.models import Segment, Transcript, Word
from indexer.normalise import normal_forms, normalising_analyzer


def transcript_of(*sentences: str, gap: float = 0.6) -> Transcript:
    """Heard words 0.3 s each, a sentence per segment."""
    segments, t = [], 0.5
    for sentence in sentences:
        words = []
        for w in sentence.split():
            words.append(Word(start=round(t, 2), end=round(t + 0.25, 2), word=w, probability=0.9))
            t += 0.3
        segments.append(Segment(words[0].start, words[-1].end, sentence, words))
        t += gap
    return Transcript(segments=segments, language="en", duration=t)


ARTICLE_TITLE = "Storm closes Aberystwyth harbour"
ARTICLE = [
    "Harbourmaster Siobhan Okonkwo said fourteen boats had been moved and that the centre of the town lost power for six hours.",
    "The council's programme of repairs will cost thirty-eight million pounds, according to councillor Gwilym Prydderch.",
    "Fuel tanks holding 2,400 litres of diesel were checked by the fire service.",
]
HEARD = transcript_of(
    "Storm closes Eberys with Harbor.",
    "Harbor Master Shavonakonqua said 14 boats had been moved and at the center of the town lost power for six hours.",
    "The council's program of repairs will cost 38 million pounds, according to Councillor Gwellan -Priturch.",
    "Field tanks holding 2 ,400 liters of diesel were checked by the fire service.",
)


def spelled(alignment: Alignment) -> dict[str, str]:
    return {c.article: " ".join(w.text for w in c.heard) for c in alignment.corrections}


def test_misheard_names_get_the_articles_spelling():
    found = spelled(align(ARTICLE_TITLE, ARTICLE, HEARD))
    assert found["Harbourmaster Siobhan Okonkwo"] == "Harbor Master Shavonakonqua"
    assert found["Gwilym Prydderch"] == "Gwellan -Priturch."


def test_numbers_and_british_spellings_align_as_the_same_word():
    alignment = align(ARTICLE_TITLE, ARTICLE, HEARD)
    same = {c.article: " ".join(w.text for w in c.heard) for c in alignment.correspondences if c.same and c.differs}
    assert same["fourteen"] == "14"
    assert same["thirty-eight"] == "38"
    assert same["2,400"].startswith("2")  # Whisper's "2" ",400" is one number
    assert same["litres"] == "liters" and same["centre"] == "center" and same["programme"] == "program"


def test_each_read_paragraph_knows_where_it_is_heard():
    alignment = align(ARTICLE_TITLE, ARTICLE, HEARD)
    heard = alignment.paragraphs_heard()
    assert sorted(heard) == [0, 1, 2]
    for p, segment in enumerate(HEARD.segments[1:]):
        start, end = heard[p]
        assert abs(start - segment.start) < 0.01 and end <= segment.end + 0.01


def test_unrelated_audio_aligns_nowhere():
    rng = random.Random(7)
    vocabulary = (
        "the of and to in a is that for it as was with be by on not he this are or his from at which but have "
        "an they you were their one all we can her has there been if more when will would who so no she other "
        "its may these about than into them only could new some what time two people said"
    ).split()
    babble = [" ".join(rng.choice(vocabulary) for _ in range(15)) + "." for _ in range(400)]
    alignment = align(ARTICLE_TITLE, ARTICLE, transcript_of(*babble))
    assert alignment.correspondences == [] and alignment.paragraphs_heard() == {}


def test_an_article_in_another_language_or_empty_aligns_nowhere():
    german = [
        "Die Stadt Regensburg will bis 2028 eine neue Brücke über die Donau bauen, sagte die Bürgermeisterin am Mittwoch.",
        "Die Kosten werden auf achtunddreißig Millionen Euro geschätzt; der Stadtrat stimmt im Herbst ab.",
    ]
    assert align("Regensburg plant eine neue Brücke", german, HEARD).correspondences == []
    assert align("", [], HEARD).correspondences == []
    assert align(ARTICLE_TITLE, ARTICLE, Transcript(segments=[], language="en", duration=0)).correspondences == []
    # A publisher's transcript has no word times: nothing to align.
    no_words = Transcript(segments=[Segment(0, 5, ARTICLE[0])], language="en", duration=5, origin="publisher")
    assert align(ARTICLE_TITLE, ARTICLE, no_words).correspondences == []


def test_a_podcast_aligns_only_where_it_quotes():
    heard = transcript_of(
        "Welcome back to the desk where we read the stories of the week together.",
        "Our first story is about a storm on the coast of Wales and what it cost.",
        "Field tanks holding 2 ,400 liters of diesel were checked by the fire service.",
        "That is a lot of diesel, and we will follow what the council does next.",
    )
    alignment = align(ARTICLE_TITLE, ARTICLE, heard)
    assert set(alignment.paragraphs_heard()) == {2}
    assert spelled(alignment).items() >= {("2,400", "2 ,400"), ("litres", "liters")}
    assert {c.paragraph for c in alignment.correspondences} == {2}


def test_word_aliases_put_a_groups_spelling_on_its_first_heard_word():
    alignment = align(ARTICLE_TITLE, ARTICLE, HEARD)
    aliases = word_aliases([alignment])
    # Segment 1 is "Harbor Master Shavonakonqua said 14 ..."
    assert aliases[1][:3] == [(0, "Harbourmaster Siobhan Okonkwo"), (1, ""), (2, "")]
    assert (4, "fourteen") in aliases[1]


def test_the_first_article_to_claim_a_heard_word_gives_its_spelling():
    other = ["Harbourmaster Shavon Okonkwo said fourteen boats had been moved and that the centre of the town lost power."]
    first = word_aliases([align(ARTICLE_TITLE, ARTICLE, HEARD), align("", other, HEARD)])
    assert first[1][0] == (0, "Harbourmaster Siobhan Okonkwo")
    second = word_aliases([align("", other, HEARD), align(ARTICLE_TITLE, ARTICLE, HEARD)])
    assert second[1][0] == (0, "Harbourmaster Shavon Okonkwo")


def test_normal_forms():
    assert normal_forms("Thirty-eight") == normal_forms("38") == ("thirty", "eight")
    assert normal_forms("14%") == ("fourteen", "percent")
    assert normal_forms("1,250") == ("one", "thousand", "two", "hundred", "and", "fifty")
    assert normal_forms("litres,") == ("liters",) and normal_forms("Harbour") == ("harbor",)
    assert normal_forms("Russia’s") == normal_forms("Russia's") == ("russias",)
    assert normal_forms("21st") == ("twenty", "first")
    assert normal_forms("—") == ()


def test_the_index_analyzer_reads_both_forms_as_one():
    analyzer = normalising_analyzer()

    def tokens(text: str) -> list[tuple[str, int]]:
        return [(t.text, t.pos) for t in analyzer(text, positions=True)]

    assert tokens("38 million litres") == tokens("thirty-eight million liters")
    assert tokens("fourteen percent") == tokens("14%")


def test_aligning_a_three_hour_transcript_with_a_long_article_is_fast():
    rng = random.Random(3)
    sentences = [" ".join(rng.choice(ARTICLE).split()[:12]) for _ in range(2500)]  # ~30k words
    article = [rng.choice(ARTICLE) for _ in range(250)]  # ~5k words
    transcript = transcript_of(*sentences, gap=0.2)
    assert sum(len(s.words) for s in transcript.segments) >= 29_000
    started = time.perf_counter()
    align("", article, transcript)
    # Under 1 s on an idle core (bench/RESULTS.md); generous for a loaded machine.
    assert time.perf_counter() - started < 10


def test_article_words_number_the_title_minus_one():
    words = article_words("A title", ["One two.", "Three"])
    assert [(w.paragraph, w.text) for w in words] == [(-1, "A"), (-1, "title"), (0, "One"), (0, "two."), (1, "Three")]
    assert align_words(words, []).correspondences == []
