from pathlib import Path

import pytest

from indexer.errors import ArticleError
from indexer.sources.text import read_text_article

DATA = Path(__file__).parent / "data"

NOISE_WORDS = ("icon", "bookmarkicon", "Podcasts", "0:00", "23:13", "25:0")


@pytest.fixture
def seed():
    path = DATA / "seed_article.txt"
    return read_text_article(path.read_text(encoding="utf-8"), str(path))


def test_seed_title_and_date(seed):
    assert seed.title == "Biden to discuss Putin proposals with NATO – Kremlin"
    assert seed.date == "2021-12-08T11:53"
    assert seed.location.endswith("seed_article.txt")
    assert seed.audio == []


def test_seed_body_paragraphs(seed):
    assert seed.paragraphs[0].startswith("American President Joe Biden")
    assert seed.paragraphs[-1].startswith("In a statement on Monday, a US State Department representative")
    assert seed.paragraphs[-1].endswith("would be laughable were the situation not so serious.”")
    assert len(seed.paragraphs) == 8
    # The title appears twice in the scrape; neither copy is body text.
    assert all("Biden to discuss Putin proposals" not in paragraph for paragraph in seed.paragraphs)


def test_seed_noise_is_gone(seed):
    text = "\n".join(seed.paragraphs)
    for word in NOISE_WORDS:
        assert word not in text.split(), word
    assert "icon" not in text
    assert "Podcasts" not in text
    assert "23:13" not in text


def test_other_icon_strings_and_player_labels_are_noise():
    text = """searchicon menuicon closeicon shareicon v-playicon tgicon
Published: 3 June 2022

Lighthouse keepers return to Skerrow

The last keeper left the island in 1987. This spring, two volunteers moved back
into the keeper's cottage to restore the lamp room and the foghorn.

"It is quieter than you think," said one of them.

Listen
0:00 / 12:31
"""
    article = read_text_article(text, "lighthouse.txt")
    assert article.title == "Lighthouse keepers return to Skerrow"
    assert article.date == "2022-06-03"
    assert article.paragraphs == [
        "The last keeper left the island in 1987. This spring, two volunteers moved back into the keeper's "
        "cottage to restore the lamp room and the foghorn.",
        '"It is quieter than you think," said one of them.',
    ]


def test_a_sentence_that_mentions_icons_is_kept():
    text = "Design notes\n\nThe new app icon replaces the old icon set.\n\nShort\n\nA paragraph about 10:30 trains."
    article = read_text_article(text, "notes.txt")
    assert article.paragraphs == [
        "The new app icon replaces the old icon set.",
        "Short",
        "A paragraph about 10:30 trains.",
    ]
    assert article.date is None


def test_hard_wrapped_lines_are_joined_and_long_lines_are_paragraphs():
    text = (
        "Harbour report\n\n"
        "The ferry left at nine and\n"
        "reached Skerrow at a quarter\n"
        "past ten, a well-\n"
        "known crossing.\n\n" + "A" * 120 + " first long line.\n" + "B" * 120 + " second long line.\n"
    )
    article = read_text_article(text, "report.txt")
    assert article.title == "Harbour report"
    assert article.paragraphs[0] == "The ferry left at nine and reached Skerrow at a quarter past ten, a well-known crossing."
    assert article.paragraphs[1].endswith("first long line.")
    assert article.paragraphs[2].endswith("second long line.")


def test_date_with_seconds_and_time_zone():
    article = read_text_article("Tuesday, 7 December 2021, 10:00:30 GMT\nCall ends\n\nThe call lasted two hours.", "call.txt")
    assert article.date == "2021-12-07T10:00:30+00:00"
    assert article.title == "Call ends"
    assert article.paragraphs == ["The call lasted two hours."]


def test_a_title_that_contains_a_year_is_not_a_date():
    article = read_text_article("2021 in review\n\nIt was a long year.", "review.txt")
    assert article.title == "2021 in review"
    assert article.date is None


def test_no_body_raises_with_the_location():
    text = "bookmarkicon cameraicon checkicon\n8 Dec, 2021 11:53\n\nJust a title\n\nJust a title\n\nPodcasts\n0:00\n23:13\n"
    with pytest.raises(ArticleError, match="empty.txt"):
        read_text_article(text, "empty.txt")
    with pytest.raises(ArticleError):
        read_text_article("", "blank.txt")
