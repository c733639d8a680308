"""Real pages from public test corpora (tests/data/corpus/pages, origins in SOURCES.md there).

For each page: its own media are found (and nothing else: no sidebar players, live radio, interface
sounds or the same recording twice), its title, phrases of its body, and none of its boilerplate.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from indexer.sources.html import read_html_article

CORPUS = Path(__file__).parent / "data" / "corpus" / "pages"
EXPECTED = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))

# Titles the page's metadata states otherwise than the corpus' annotators wrote them (the article's
# headline and the page's og:title differ); the indexer's is checked against what the page says.
PAGE_TITLES = {
    "litradio.net.bossong.html.gz": 'Interview mit Nora Bossong über ihren neuen Roman "Schutzzone"',
    # The show's name before the episode's, and a site's bracketed name: neither is marked as such.
    "metascraper-podcasts.google.com.html.gz": "ELON - Un cebo con forma de X",
    "readability-hukumusume.html.gz": "欲張りなイヌ ＜福娘童話集 きょうのイソップ童話＞",
    "gazetadopovo.com.br-pacheco.html.gz": "O que Pacheco pretende com acenos ao STF e à limitação do indulto",
    "guetemala.com-nicole.html.gz": "Ciclista guatemalteca competirá contra las mejores del mundo en el Reino Unido",
    "independent.co.uk.penalty.html.gz": "Falsely reporting a coronavirus contact to force them to self-isolate will receive £1,000 fine",
    "tagesschau.de.rheinmetall.html.gz": "Daten von Rheinmetall gehackt - Interne Unterlagen im Netz",
    # The annotators took one team's name; the page's <h1> names the match.
    "sportowefakty.wp.pl.falubaz.html.gz": "Fogo Unia Leszno - RM Solar Falubaz Zielona Góra",
}


# What the indexer still gets wrong on these pages, asserted so that a change shows: boilerplate of a
# page laid out in tables, and phrases of articles cut short.
KNOWN_LEAKS: dict[str, list[str]] = {}
# The site's name, which the page's <title> sets before the word ("A.Word.A.Day --maudlin").
KNOWN_WRONG_TITLES = {"wordsmith.org.maudlin.html.gz": "A.Word.A.Day"}
KNOWN_MISSING = {
    "infobae.com-ucrania.html.gz": ["El periodista sostuvo que eso supondría “el fin"],
    "ladiaria.com.uy-productor.html.gz": ["consideran “excesivo” su tamaño."],
}


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


@pytest.fixture(scope="module")
def articles():
    cache = {}

    def read(name: str):
        if name not in cache:
            cache[name] = read_html_article(gzip.decompress((CORPUS / name).read_bytes()), EXPECTED[name]["url"])
        return cache[name]

    return read


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_pages_own_media_are_found_once(articles, name):
    expected = EXPECTED[name]
    urls = [ref.url for ref in articles(name).audio]
    for item in expected["media"]:
        matches = [url for url in urls if any(alternative in url for alternative in item)]
        assert len(matches) == 1, f"{item} found {len(matches)} times in {urls}"
    allowed = expected["media"] + expected["optional_media"]
    strangers = [url for url in urls if not any(alt in url for item in allowed for alt in item)]
    assert strangers == []
    for unwanted in expected["not_media"]:
        assert not any(unwanted in url for url in urls)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_found_media_says_how_it_was_found(articles, name):
    for ref in articles(name).audio:
        assert ref.found_by and ref.type in ("audio", "video", "hls", "dash", "player")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_body_phrases_and_no_boilerplate(articles, name):
    article = articles(name)
    body = _norm("\n".join(article.paragraphs))
    for phrase in EXPECTED[name]["with"]:
        # Some corpora list the headline among the body's phrases; the indexer keeps it as the title.
        found = _norm(phrase) in body or _norm(phrase) in _norm(article.title)
        assert found != (phrase in KNOWN_MISSING.get(name, [])), phrase
    for phrase in EXPECTED[name]["without"]:
        assert (_norm(phrase) in body) == (phrase in KNOWN_LEAKS.get(name, [])), phrase


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_title(articles, name):
    title = KNOWN_WRONG_TITLES.get(name) or PAGE_TITLES.get(name, EXPECTED[name]["title"])
    assert _norm(articles(name).title) == _norm(title)


def test_a_sidebar_column_after_the_article_and_the_stories_below_it_are_not_its_media(articles):
    # sonntag-sachsen.de: a video in the sidebar column ("col span_4_of_12"), whose caption the text
    # extractor takes as a fourth paragraph; correctiv.org: a list page whose later stories embed
    # YouTube and SoundCloud players, the page's own story none.
    assert articles("sonntag-sachsen.de.emanuel.html.gz").audio == []
    assert articles("correctiv.org.zusage.html.gz").audio == []
    assert len(articles("correctiv.org.zusage.html.gz").paragraphs) > 20


def test_media_in_the_article_of_a_page_set_apart_by_line_breaks_are_its_own(articles):
    # wordsmith.org: the word's text sits in one table cell, its parts set apart by <br>, with the
    # pronunciation's mp3 among them; the cell is the article, though no element holds a paragraph alone.
    audio = articles("wordsmith.org.maudlin.html.gz").audio
    assert [(ref.url, ref.found_by) for ref in audio] == [("https://wordsmith.org/words/maudlin.mp3", "link")]


def test_the_sites_closing_calls_to_use_another_service_are_not_the_article(articles):
    # guatemala.com ends its story with an invitation to its Telegram channel (t.me/guatemalacom);
    # resonator-podcast.de its episode page with the help text of fyyd.de's button, framed after it.
    guatemala = articles("guetemala.com-nicole.html.gz").paragraphs
    assert guatemala[-1].startswith("Por lo tanto, este evento como los que competirá en el resto del año")
    assert not any("Telegram" in paragraph for paragraph in guatemala)
    resonator = articles("resonator-podcast.de.res158.html.gz").paragraphs
    assert resonator[-1].startswith("Diese Folge zitieren: Holger Klein/Helmholtz-Gemeinschaft")
    assert not any("FYYD" in paragraph for paragraph in resonator)
    # Its guest's Twitter link, in the article's first paragraph, is the story's.
    assert resonator[0].startswith("Kathrin Göbel (Twitter) ist Astrophysikerin")


def test_the_site_footer_in_a_layout_table_is_not_the_article(articles):
    # AP sets the story and the site's footer ("©2015 The Associated Press. All rights reserved. Terms
    # under which this site is provided ...") in cells of one layout table; the story's own notice stays.
    body = "\n".join(articles("newspaper4k-ap_meta_refresh.html.gz").paragraphs)
    assert "Terms under which this site is provided" not in " ".join(body.split())
    assert "under which this site is provided" not in body and "©2015" not in body
    assert "© 2016 The Associated Press. All rights reserved. This material may not be published" in body


def test_a_video_pages_text_is_its_description_not_the_dialogs_in_its_markup(articles):
    # zdf.de: the login, registration ("... löschen den Verlauf und deine Cookies ..."), age-check and
    # children's-area dialogs are in the markup; the video's description is shown under the player.
    article = articles("zdf.de.corona.html.gz")
    assert article.paragraphs == [
        "New York ist das Epizentrum der Corona-Pandemie in den USA. Auch der Sport ist zum Stillstand gekommen. "
        "Die Anteilnahme in den Top-Ligen ist groß. Wie es sportlich weitergeht, ist unklar."
    ]
    assert [(ref.found_by, ref.type) for ref in article.audio] == [("json-ld", "player")]


def test_rows_of_a_stats_table_stay_rows(articles):
    # sportowefakty.wp.pl: a speedway match report with each team's points per heat in a table.
    paragraphs = articles("sportowefakty.wp.pl.falubaz.html.gz").paragraphs
    assert "Nr | Zawodnik | 1 | 2 | 3 | 4 | 5 | 6 | 7 | Suma" in paragraphs
    assert "13 | P. Pawlicki Piotr Pawlicki | 3 | 3 | 3 | 3 | - | 12" in paragraphs
    assert not [paragraph for paragraph in paragraphs if len(paragraph.split()) == 1]


def test_paragraphs_of_a_layout_table_stay_apart(articles):
    # The AP page sets its story in a table cell: each <p> is a paragraph, "said." ends one.
    paragraphs = articles("newspaper4k-ap_meta_refresh.html.gz").paragraphs
    said = next(i for i, paragraph in enumerate(paragraphs) if paragraph.endswith("an official said."))
    assert paragraphs[said + 1].startswith("Mateen met with reporters Monday")
    assert not any("said.Mateen" in paragraph for paragraph in paragraphs)


# Authors as the pages state them (the corpora's annotations where they have one), and pages whose
# author is unknown, where the indexer used to report a guess: "So Artikel Empfehlen" (a share
# button), "Autor; In Korinna Hennig", "No Author", "Anónimo", the site's name.
AUTHORS = {
    "biobiochile.cl-gremios.html.gz": "Alberto González",
    "californiaglobe.com.amazon.html.gz": "Evan Symon",
    "citylimits.org-Nycha.html.gz": "Tatyana Turner",
    "independent.co.uk.penalty.html.gz": "Andrew Woodcock",
    "knowledge-on-air.de.koa039.html.gz": "Simon Dückert",
    "litradio.net.bossong.html.gz": "Nicole Collignon",
    "unsere-zeitung.at.inklusion.html.gz": "Alexander Roll",
    "readability-engadget.html.gz": "Devindra Hardawar",
    "sonntag-sachsen.de.emanuel.html.gz": None,
    "ndr.de.podcastcoronavirus140.html.gz": None,
    "japantimes.co.jp.surgical.html.gz": None,
    "infobae.com-ucrania.html.gz": None,
    "tagesschau.de.rheinmetall.html.gz": None,
    "cbsnews.com.carolina.html.gz": None,
    "mitternachtskabinett.wordpress.com.gentrifizierung.html.gz": None,
}


@pytest.mark.parametrize("name", sorted(AUTHORS))
def test_author(articles, name):
    assert articles(name).author == AUTHORS[name]
