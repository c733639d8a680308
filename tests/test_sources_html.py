import logging
from pathlib import Path

import pytest

from indexer.errors import ArticleError, SourceError
from indexer.models import AudioRef
from indexer.sources.html import (
    find_embedded_audio,
    html_to_paragraphs,
    looks_like_html,
    parse_media_fragment,
    read_html_article,
)

DATA = Path(__file__).parent / "data"
PAGE_URL = "https://www.coastalcourier.example/news/2024/03/harbour-ferry-vote"


def read(name: str) -> bytes:
    return (DATA / name).read_bytes()


# --- the article ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def news():
    return read_html_article(read("news_page.html"), PAGE_URL)


def test_metadata(news):
    assert news.title == "Harbour town votes to keep its ferry"
    assert news.date == "2024-03-14T09:30+00:00"
    assert news.author == "Marta Okonkwo"
    assert news.url == PAGE_URL
    assert news.location == PAGE_URL


def test_paragraphs_are_the_article_paragraphs(news):
    assert news.paragraphs[0].startswith("Residents of Port Alderney voted by a wide margin")
    assert news.paragraphs[0].endswith("ending two years of argument over its cost.")
    assert news.paragraphs[2] == (
        "“People came out in the rain to vote for a boat,” Brannigan said. “That tells you something about this place.”"
    )
    assert "What happens next" in news.paragraphs
    assert news.paragraphs[-1].startswith("Opponents of the ferry said")
    assert len(news.paragraphs) == 6
    # Hard-wrapped HTML source lines are one paragraph, with single spaces.
    assert all("\n" not in p and "  " not in p for p in news.paragraphs)


@pytest.mark.parametrize(
    "boilerplate",
    [
        "zeppelinfoo",  # the "Related stories" box
        "Related stories",
        "cookies",  # the cookie banner
        "newsletter",  # the footer
        "inbox",
        "Share on Facebook",
        "Email this story",
        "All rights reserved",
        "Weather",  # navigation
        "dataLayer",  # scripts
    ],
)
def test_boilerplate_is_not_in_the_paragraphs(news, boilerplate):
    text = " ".join(news.paragraphs).lower()
    assert boilerplate.lower() not in text


def test_embedded_player_is_found_with_its_segment(news):
    assert news.audio == [
        AudioRef(
            url="https://www.coastalcourier.example/audio/ferry-debate.mp3",
            segment=(60.0, 240.0),
            title="The ferry debate",
            found_by="html5",
        )
    ]


def test_str_input_reads_like_bytes(news):
    again = read_html_article(read("news_page.html").decode("utf-8"), PAGE_URL)
    assert again.paragraphs == news.paragraphs
    assert again.title == news.title


def test_local_page_resolves_root_relative_audio_on_its_site(tmp_path):
    page = tmp_path / "saved" / "ferry.html"
    page.parent.mkdir()
    page.write_bytes(read("news_page.html"))
    article = read_html_article(page.read_bytes(), str(page))
    assert article.location == str(page)
    assert article.url == PAGE_URL  # the canonical URL
    # Root-relative links in a saved page name files on its site, not on the local disk.
    assert article.audio[0].url == "https://www.coastalcourier.example/audio/ferry-debate.mp3"


def test_page_without_article_text_raises():
    html = """<html><head><title>Menu</title></head><body>
      <nav><ul><li><a href="/">Home</a></li><li><a href="/news">News</a></li></ul></nav>
    </body></html>"""
    with pytest.raises(ArticleError, match="https://example.org/menu"):
        read_html_article(html, "https://example.org/menu")
    with pytest.raises(ArticleError, match="empty.html"):
        read_html_article(b"", "empty.html")


def test_short_article_keeps_its_text_without_the_navigation():
    html = """<html><head><title>Brief: ferry delayed</title></head><body>
      <nav><a href="/">Home</a> <a href="/news">News</a></nav>
      <article><h1>Brief: ferry delayed</h1><p>The 9:15 ferry to Skerrow is delayed by fog this morning.</p></article>
    </body></html>"""
    article = read_html_article(html, "https://example.org/brief")
    assert article.title == "Brief: ferry delayed"
    assert article.paragraphs == ["The 9:15 ferry to Skerrow is delayed by fog this morning."]


def test_lists_and_line_breaks_become_separate_words():
    html = """<html><head><title>Tide times</title></head><body><article>
      <h1>Tide times</h1>
      <p>High water at Port Alderney is at six in the morning on Saturday.<br>Low water follows at noon on Saturday.</p>
      <p>Bring the following items when you walk across the sands at low tide this weekend:</p>
      <ul><li>A tide table printed from the harbour office.</li><li>Boots that can get wet up to the knee.</li></ul>
      <p>The causeway path is marked with posts every fifty metres all the way to Skerrow.</p>
    </article></body></html>"""
    article = read_html_article(html, "https://example.org/tides")
    assert article.title == "Tide times"
    assert (
        "High water at Port Alderney is at six in the morning on Saturday. Low water follows at noon on Saturday."
        in article.paragraphs
    )
    assert "A tide table printed from the harbour office." in article.paragraphs
    assert "Boots that can get wet up to the knee." in article.paragraphs


# --- embedded audio ------------------------------------------------------------------------------


def test_audio_and_video_players_in_a_local_page():
    refs = find_embedded_audio(read("embed_players.html"), "/srv/site/news/bulletin.html")
    assert refs == [
        AudioRef(url="/srv/site/news/media/bulletin.mp3", found_by="html5"),
        # Same file, a different segment: a separate reference.
        AudioRef(url="/srv/site/news/media/bulletin.mp3", segment=(300.0, 420.0), found_by="html5"),
        # <source> children are alternatives of one recording: an MP3 is preferred.
        AudioRef(url="/srv/site/news/media/interview.mp3", found_by="html5"),
        AudioRef(url="/video/harbour-walk.mp4", type="video", found_by="html5"),
        AudioRef(url="https://media.example.org/clips/lifeboat.webm", type="video", found_by="html5"),
    ]


def test_players_in_a_web_page_resolve_against_its_url():
    refs = find_embedded_audio(read("embed_players.html"), "https://news.example.org/bulletins/today.html")
    assert [ref.url for ref in refs] == [
        "https://news.example.org/bulletins/media/bulletin.mp3",
        "https://news.example.org/bulletins/media/bulletin.mp3",
        "https://news.example.org/bulletins/media/interview.mp3",
        "https://news.example.org/video/harbour-walk.mp4",
        "https://media.example.org/clips/lifeboat.webm",
    ]


def test_an_articles_lines_set_apart_by_line_breaks_keep_its_audio_and_not_a_column_after_it(caplog):
    # An old layout: the story is runs of text between <br> in one table cell, no paragraph element of
    # its own; the story's mp3 is in that cell, an archive show in a column after the table.
    lines = "<br>\n".join(
        f"Line {i} of the story: the harbour council met on the quay and spoke of the tides, the boats and the old keeper."
        for i in range(8)
    )
    page = f"""<html><head><title>Harbour news - The harbour council meets again</title></head><body>
    <table><tr><td class="top"><h1>The harbour council meets again</h1></td></tr>
    <tr><td><div>Listen: <a href="/audio/council.mp3">the meeting</a></div>{lines}</td></tr></table>
    <div class="column"><b>From the archive</b><br><a href="/audio/archive-show.mp3">Last year's show</a></div>
    </body></html>"""
    with caplog.at_level(logging.INFO, logger="indexer"):
        article = read_html_article(page, "https://harbour.example/news/council")
    assert [ref.url for ref in article.audio] == ["https://harbour.example/audio/council.mp3"]
    assert "archive-show.mp3 (link): in what follows the article" in caplog.text


def test_text_between_the_blocks_of_a_layout_cell_is_kept():
    # A word-of-the-day page set in a table: each label is a block of its own, the line after it is
    # text set apart by <br> in the cell, between the blocks.
    story = " ".join(f"Sentence {i} tells how the word came from a harbour town and its old keeper." for i in range(6))
    page = f"""<html><head><title>The word: maudlin</title></head><body>
    <table><tr><td><a href="/">Home</a></td><td>
    <h3>maudlin</h3><div>PRONUNCIATION:</div>(MAWD-lin)<br>
    <div>MEANING:</div>adjective: <i>Overly</i> sentimental.<br>
    <div>ETYMOLOGY:</div>{story}<br>
    <p>{story}</p>closing words of the cell</td></tr></table></body></html>"""
    paragraphs = read_html_article(page, "https://words.example/maudlin").paragraphs
    for line in ("(MAWD-lin)", "adjective: Overly sentimental.", story, "closing words of the cell"):
        assert line in paragraphs, line


def test_a_table_pages_small_boxes_after_the_article_are_left_out_and_its_data_kept():
    story = "".join(
        f"<p>Paragraph {i}: the harbour council met on the quay and spoke of the tides and boats.</p>" for i in range(8)
    )
    page = f"""<html><head><title>Harbour news</title></head><body>
    <table><tr><td><h1>The council meets</h1></td></tr><tr><td>{story}</td></tr></table>
    <table><tr><td><p>Boats</p></td><td><p>14</p></td></tr><tr><td><p>Keepers</p></td><td><p>2</p></td></tr></table>
    <table><tr><td></td><td><p>We need your help</p><p>Donate</p></td></tr></table>
    <table><tr><td><p>Photo: Harbour Archive</p></td></tr></table></body></html>"""
    paragraphs = read_html_article(page, "https://harbour.example/news").paragraphs
    assert "Paragraph 7: the harbour council met on the quay and spoke of the tides and boats." in paragraphs
    # A table of data keeps its cells; a box of its own, with little text, is the site's.
    assert {"Boats", "14", "Keepers", "2"} <= set(paragraphs)
    assert not {"We need your help", "Donate", "Photo: Harbour Archive"} & set(paragraphs)


def test_links_enclosures_and_open_graph_with_base_href():
    refs = find_embedded_audio(read("embed_links.html"), "https://harbourtalk.example/episodes/11/")
    base = "https://cdn.harbourtalk.example/files/"
    assert refs == [
        # og:audio (http) and og:audio:secure_url (https) name one file: kept once, over https; the
        # MP3 and FLAC download links are the same recording (ep11).
        AudioRef(url=base + "og/ep11.mp3", found_by="og:audio"),
        AudioRef(url=base + "og/ep11-trailer.m4a", found_by="og:audio"),
        AudioRef(url=base + "enclosures/ep11-full.mp3", title="Full episode", found_by="enclosure"),
    ]
    # Beside audio the page declares, other download links are taken as forms of it, not as recordings.
    assert "extra" not in " ".join(ref.url for ref in refs)


def test_json_ld_audio_objects_and_podcast_episodes():
    refs = find_embedded_audio(read("embed_jsonld.html"), "https://harbourtalk.example/episodes/11-ferry-vote")
    assert refs == [
        AudioRef(url="https://cdn.harbourtalk.example/audio/ep11.mp3", title="Episode 11: The ferry vote", found_by="json-ld"),
        AudioRef(url="https://harbourtalk.example/audio/ferry-vote-read-aloud.mp3", title="Read aloud", found_by="json-ld"),
        AudioRef(url="https://harbourtalk.example/audio/trailer.m4a", title="Trailer", found_by="json-ld"),
        AudioRef(url="https://harbourtalk.example/video/walk.mp4", title="Harbour walk", type="video", found_by="json-ld"),
    ]
    urls = " ".join(ref.url for ref in refs)
    assert "ep11.ogg" not in urls  # another encoding of the same episode
    assert "cover.jpg" not in urls


def test_relative_base_href_in_a_local_page(tmp_path):
    page = tmp_path / "pages" / "episode.html"
    html = '<html><head><base href="../media/"></head><body><audio src="ep%201.mp3#t=0:05:00"></audio></body></html>'
    refs = find_embedded_audio(html, str(page))
    assert refs == [AudioRef(url=str(tmp_path / "media" / "ep 1.mp3"), segment=(300.0, None), found_by="html5")]


def test_file_url_base_gives_local_paths(tmp_path):
    page = tmp_path / "page.html"
    refs = find_embedded_audio('<html><body><a href="talk.wav">talk</a></body></html>', page.as_uri())
    assert refs == [AudioRef(url=str(tmp_path / "talk.wav"), title="talk", found_by="link")]


def test_malformed_fragment_keeps_the_whole_file(caplog):
    html = '<html><body><audio src="https://e.example/a.mp3#t=90,30"></audio></body></html>'
    with caplog.at_level(logging.WARNING, logger="indexer"):
        refs = find_embedded_audio(html, "https://e.example/")
    assert refs == [AudioRef(url="https://e.example/a.mp3", found_by="html5")]
    assert "a.mp3#t=90,30" in caplog.text


def test_no_audio_and_no_html():
    assert find_embedded_audio(read("news_page.html").replace(b"<audio", b"<span"), PAGE_URL) == []
    assert find_embedded_audio("", PAGE_URL) == []


# --- media fragments -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://e.example/ep.mp3#t=300,420", ("https://e.example/ep.mp3", (300.0, 420.0))),
        ("https://e.example/ep.mp3#t=npt:300,420", ("https://e.example/ep.mp3", (300.0, 420.0))),
        ("https://e.example/ep.mp3#t=5:00,7:00", ("https://e.example/ep.mp3", (300.0, 420.0))),
        ("https://e.example/ep.mp3#t=0:05:00", ("https://e.example/ep.mp3", (300.0, None))),
        ("https://e.example/ep.mp3#t=300", ("https://e.example/ep.mp3", (300.0, None))),
        ("https://e.example/ep.mp3#t=,420", ("https://e.example/ep.mp3", (0.0, 420.0))),
        ("https://e.example/ep.mp3#t=1:02:03.5,1:02:10", ("https://e.example/ep.mp3", (3723.5, 3730.0))),
        ("https://e.example/ep.mp3?v=2#t=npt%3A10,20&xywh=0,0,1,1", ("https://e.example/ep.mp3?v=2", (10.0, 20.0))),
        ("https://e.example/ep.mp3#chapter-2", ("https://e.example/ep.mp3", None)),
        ("/data/ep.mp3", ("/data/ep.mp3", None)),
    ],
)
def test_parse_media_fragment(url, expected):
    assert parse_media_fragment(url) == expected


@pytest.mark.parametrize(
    "fragment",
    ["t=420,300", "t=10,10", "t=abc", "t=,", "t=1:75", "t=-5", "t=1::2", "t=smpte:0:00:01:00", "t=clock:2011-10-01T23:00:45Z"],
)
def test_bad_media_fragments_raise(fragment):
    with pytest.raises(SourceError, match="ep.mp3"):
        parse_media_fragment(f"https://e.example/ep.mp3#{fragment}")


# --- sniffing and fragments of HTML --------------------------------------------------------------


def test_looks_like_html():
    assert looks_like_html(read("news_page.html"))
    assert looks_like_html(b"\xef\xbb\xbf  <html><body><p>hi</p></body></html>")
    assert looks_like_html(b'<?xml version="1.0"?>\n<!DOCTYPE html>\n<html xmlns="http://www.w3.org/1999/xhtml"></html>')
    assert not looks_like_html(read("podcast_rss.xml"))
    assert not looks_like_html(read("news_atom.xml"))
    assert not looks_like_html(read("seed_article.txt"))
    assert not looks_like_html(b"ID3\x04\x00\x00\x00\x00\x00\x00<html>")
    assert not looks_like_html(b'{"version": "1.0.0", "segments": []}')
    # Show notes near the top of a feed hold HTML; the root element says it is a feed.
    assert not looks_like_html(b'<?xml version="1.0"?><rss version="2.0"><channel><description><p>Hi</p><html>')


def test_html_to_paragraphs():
    notes = """<p>Captain <strong>Ilse Brannigan</strong> on the vote.</p>
      <p>Chapters:<br>00:00 Intro<br>05:12 The ballot</p><ul><li>Council minutes</li></ul>
      <script>track()</script><div>Music by <a href="https://x.example">Tidewater</a></div>"""
    assert html_to_paragraphs(notes) == [
        "Captain Ilse Brannigan on the vote.",
        "Chapters:",
        "00:00 Intro",
        "05:12 The ballot",
        "Council minutes",
        "Music by Tidewater",
    ]
    assert html_to_paragraphs("Plain notes.\n\nSecond   paragraph\nwrapped.") == ["Plain notes.", "Second paragraph wrapped."]
    assert html_to_paragraphs("   ") == []


def test_a_link_with_a_broken_ipv6_host_is_skipped_alone():
    # Found by the fuzz test: the link's extension was read before the URL was checked.
    page = '<html><body><a href=http://[::1"x/ep11.opus>extra</a><a href="https://example.org/ep.mp3">ep</a></body></html>'
    assert [ref.url for ref in find_embedded_audio(page, "https://news.example/story")] == ["https://example.org/ep.mp3"]
