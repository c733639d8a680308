import logging
from pathlib import Path

import pytest

from indexer.errors import FeedError
from indexer.models import AudioRef
from indexer.sources.feed import looks_like_feed, read_feed

DATA = Path(__file__).parent / "data"
FEED_URL = "https://harbourtalk.example/feed.xml"


def read(name: str) -> bytes:
    return (DATA / name).read_bytes()


@pytest.fixture(scope="module")
def podcast():
    return read_feed(read("podcast_rss.xml"), FEED_URL)


def test_items_newest_first(podcast):
    assert [a.title for a in podcast] == [
        "Episode 11: The ferry vote",
        "Episode 10: Causeway delays",
        "Episode 9: Lifeboat night",
    ]
    # Dates are ISO 8601 in UTC (episode 9 was published at 18:30 +01:00).
    assert [a.date for a in podcast] == ["2024-03-14T06:00+00:00", "2024-01-15T07:00+00:00", "2023-12-01T17:30+00:00"]


def test_item_metadata(podcast):
    ep11, ep10, ep9 = podcast
    assert ep11.author == "Marta Okonkwo"  # itunes:author of the item
    assert ep9.author == "Coastal Courier Audio"  # the show's itunes:author
    assert ep11.url == "https://harbourtalk.example/episodes/11-ferry-vote"
    assert ep11.guid == "harbourtalk-ep-11"
    # No <guid>: the enclosure URL identifies the episode.
    assert ep10.guid == "https://cdn.harbourtalk.example/audio/ep10.mp3"
    assert all(a.location == FEED_URL for a in podcast)


def test_show_notes_become_paragraphs(podcast):
    ep11, ep10, ep9 = podcast
    # content:encoded (the fuller notes) wins over the one-line description.
    assert ep11.paragraphs[0] == "Captain Ilse Brannigan joins us after the vote on the Skerrow ferry."
    assert "Council minutes" in ep11.paragraphs
    assert not any("tracking" in p or "<" in p for p in ep11.paragraphs)
    assert ep10.paragraphs == ["Why the causeway will open late.", "Engineers explain the tides."]
    assert ep9.paragraphs == ["The lifeboat crew tell the story of the December rescue."]


def test_enclosures_and_preferred_transcripts(podcast):
    ep11, ep10, ep9 = podcast
    # Four transcripts: JSON is preferred over SRT, VTT and HTML.
    assert ep11.audio == [
        AudioRef(
            url="https://cdn.harbourtalk.example/audio/ep11.mp3",
            transcript_url="https://harbourtalk.example/transcripts/ep11.json",
            transcript_type="application/json",
            title="Episode 11: The ferry vote",
            found_by="enclosure",
        )
    ]
    # A French JSON transcript loses to an English VTT one in an English feed.
    assert ep10.audio[0].transcript_url == "https://harbourtalk.example/transcripts/ep10.vtt"
    assert ep10.audio[0].transcript_type == "text/vtt"
    # Relative enclosure and transcript URLs resolve against the feed's URL.
    assert ep9.audio[0].url == "https://harbourtalk.example/audio/ep9.m4a"
    assert ep9.audio[0].transcript_url == "https://harbourtalk.example/transcripts/ep9.srt"
    assert ep9.audio[0].transcript_type == "application/srt"


def test_atom_feed():
    articles = read_feed(read("news_atom.xml"), "https://www.coastalcourier.example/audio/atom.xml")
    assert [a.title for a in articles] == ["Harbour ferry vote: the result", "Storm warning for the harbour"]
    ferry, storm = articles
    assert ferry.paragraphs == ["Residents voted to keep the ferry.", "Captain Brannigan welcomed the result."]
    assert ferry.audio[0].url == "https://www.coastalcourier.example/audio/ferry-result.ogg"
    assert ferry.guid == "tag:coastalcourier.example,2024-03-14:ferry"
    assert storm.author == "Ilse Brannigan"
    assert storm.date == "2024-02-02T08:15+00:00"
    assert storm.paragraphs == ["Gales are expected on Friday.", "The ferry will not sail."]
    assert storm.audio == [
        AudioRef(
            url="https://www.coastalcourier.example/audio/storm-briefing.mp3",
            title="Storm warning for the harbour",
            found_by="enclosure",
        )
    ]
    assert storm.url == "https://www.coastalcourier.example/news/2024/02/storm"


def test_malformed_feed_still_gives_its_good_items(caplog):
    with caplog.at_level(logging.WARNING, logger="indexer"):
        articles = read_feed(read("malformed_rss.xml"), "nightshift.xml")
    assert "malformed feed" in caplog.text
    good = [a for a in articles if a.guid == "nightshift-1"]
    assert len(good) == 1
    assert good[0].title == "Fishing at dawn"
    assert good[0].paragraphs == ["The first boats leave at four."]
    assert good[0].audio == [
        AudioRef(url="https://nightshift.example/audio/1.mp3", title="Fishing at dawn", found_by="enclosure")
    ]
    # A plain guid is not a link, although RSS calls an unmarked guid a permalink.
    assert good[0].url is None
    assert articles[-1] is good[0]  # the older item comes last


def test_a_namespace_with_a_broken_character_reference_leaves_the_items_readable():
    # A recovering parser keeps "&#xD800;" (a lone surrogate) in the namespace; its elements' names
    # then cannot be decoded. The feed is read as far as it can be, with one warning, not an exception.
    feed = read("podcast_rss.xml").replace(b'xmlns:atom="http', b'xmlns:atom="&#xD800;http', 1)
    assert b"&#xD800;" in feed
    articles = read_feed(feed, "https://podcast.example/feed.xml")
    assert articles and all(article.title for article in articles)


def test_local_feed_resolves_enclosures_to_local_paths(tmp_path):
    feed = tmp_path / "feeds" / "local.xml"
    feed.parent.mkdir()
    feed.write_bytes(
        b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Local</title>
        <item><title>One</title><guid isPermaLink="false">one</guid>
        <enclosure url="../audio/one.mp3#t=30,90" type="audio/mpeg" length="1"/></item>
        </channel></rss>"""
    )
    (article,) = read_feed(feed.read_bytes(), str(feed))
    assert article.audio == [
        AudioRef(url=str(tmp_path / "audio" / "one.mp3"), segment=(30.0, 90.0), title="One", found_by="enclosure")
    ]
    assert article.date is None


def test_transcript_with_undeclared_podcast_prefix_is_found():
    data = b"""<rss version="2.0"><channel><title>Sloppy</title>
      <item><title>Two</title><guid>two</guid><pubDate>Mon, 01 Jan 2024 00:00:00 GMT</pubDate>
      <enclosure url="https://s.example/two.mp3" type="audio/mpeg" length="1"/>
      <podcast:transcript url="https://s.example/two.vtt" type="text/vtt"/>
      <podcast:transcript url="https://s.example/two.srt" type="application/x-subrip"/>
      </item></channel></rss>"""
    (article,) = read_feed(data, "https://s.example/feed")
    assert article.audio[0].transcript_url == "https://s.example/two.srt"
    assert article.audio[0].transcript_type == "application/x-subrip"


def test_item_without_enclosure_is_an_article_without_audio():
    data = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>
      <item><title>Text only</title><link>https://n.example/a</link><description>Just words.</description></item>
      </channel></rss>"""
    (article,) = read_feed(data, "https://n.example/rss")
    assert article.audio == []
    assert article.guid == "https://n.example/a"
    assert article.paragraphs == ["Just words."]


def test_enclosure_choice_by_type_and_extension():
    data = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Mixed</title>
      <item><title>Cover first</title><guid>c</guid>
        <enclosure url="https://m.example/cover.jpg" type="image/jpeg" length="1"/>
        <enclosure url="https://m.example/play?id=5" length="1"/></item>
      <item><title>Notes only</title><guid>n</guid>
        <enclosure url="https://m.example/notes.pdf" type="application/pdf" length="1"/></item>
      </channel></rss>"""
    cover, notes = read_feed(data, "https://m.example/feed")
    # An image is not the episode; an enclosure without a type or an extension is taken as audio.
    assert [ref.url for ref in cover.audio] == ["https://m.example/play?id=5"]
    assert notes.audio == []


def test_empty_feed_has_no_items():
    data = b'<?xml version="1.0"?><rss version="2.0"><channel><title>Nothing yet</title></channel></rss>'
    assert read_feed(data, "https://n.example/empty.xml") == []


@pytest.mark.parametrize("data", [b"<html><body><p>Not a feed.</p></body></html>", b"just some text", b""])
def test_not_a_feed_raises(data):
    with pytest.raises(FeedError, match="https://n.example/page"):
        read_feed(data, "https://n.example/page")


def test_looks_like_feed():
    assert looks_like_feed(read("podcast_rss.xml"))
    assert looks_like_feed(read("news_atom.xml"))
    assert looks_like_feed(read("malformed_rss.xml"))
    assert looks_like_feed(
        b'<?xml version="1.0"?>\n<!-- hi -->\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/>'
    )
    assert not looks_like_feed(read("news_page.html"))
    assert not looks_like_feed(read("seed_article.txt"))
    assert not looks_like_feed(b"ID3\x04\x00\x00\x00\x00\x00\x00")
    assert not looks_like_feed(b"")


def _rss(items: str, language: str = "en-us") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0"'
        ' xmlns:media="http://search.yahoo.com/mrss/">'
        f"<channel><title>Harbour Talk</title><language>{language}</language>{items}</channel></rss>"
    ).encode()


def test_show_notes_labelled_plain_text_are_stripped_of_their_html():
    # feedparser labels media:description text/plain, whatever it holds.
    item = (
        "<item><title>Ep 3</title><guid>ep3</guid>"
        "<media:description>&lt;ul&gt;&lt;li&gt;The ferry&lt;/li&gt;&lt;li&gt;The tides&lt;br clear=all&gt;&lt;/li&gt;&lt;/ul&gt;</media:description>"
        '<enclosure url="https://e.example/3.mp3" type="audio/mpeg" length="1"/></item>'
    )
    (article,) = read_feed(_rss(item), FEED_URL)
    assert article.paragraphs == ["The ferry", "The tides"]


def test_a_transcript_on_an_item_without_an_enclosure_is_kept():
    item = (
        "<item><title>Ep 4</title><guid>ep4</guid><link>https://e.example/ep4</link>"
        '<podcast:transcript url="https://e.example/ep4.vtt" type="text/vtt" language="en"/></item>'
    )
    (article,) = read_feed(_rss(item), FEED_URL)
    assert article.audio == [
        AudioRef(
            url="https://e.example/ep4",
            transcript_url="https://e.example/ep4.vtt",
            transcript_type="text/vtt",
            title="Ep 4",
            found_by="podcast:transcript",
        )
    ]


def test_a_transcript_in_another_language_is_not_used_in_place_of_recognition():
    item = (
        "<item><title>Ep 5</title><guid>ep5</guid>"
        '<enclosure url="https://e.example/5.mp3" type="audio/mpeg" length="1"/>'
        '<podcast:transcript url="https://e.example/5-es.vtt" type="text/vtt" language="es"/></item>'
    )
    (article,) = read_feed(_rss(item, language="en-US"), FEED_URL)
    assert article.audio[0].url == "https://e.example/5.mp3" and article.audio[0].transcript_url is None


@pytest.mark.parametrize("encoding", ["utf-32-le", "utf-32-be"])
def test_utf32_feeds_with_a_bom(encoding):
    data = (
        _rss(
            "<item><title>Épisode 6</title><guid>ep6</guid>"
            '<enclosure url="https://e.example/6.mp3" type="audio/mpeg" length="1"/></item>'
        )
        .decode()
        .replace('encoding="UTF-8"', 'encoding="UTF-32"')
    )
    raw = ("\ufeff" + data).encode(encoding)
    assert looks_like_feed(raw)
    (article,) = read_feed(raw, FEED_URL)
    assert article.title == "Épisode 6" and article.audio[0].url == "https://e.example/6.mp3"


def test_a_character_reference_lxml_cannot_decode_skips_only_that_element():
    # Found by the fuzz test: lxml keeps &#xD800; in an attribute and fails when it is read.
    data = (
        b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>F</title><entry><title>E</title>'
        b'<id>x</id><link href="&#xD800;abc"/><link rel="enclosure" href="http://example.org/a.mp3"/></entry></feed>'
    )
    (item,) = read_feed(data, "http://example.org/feed")
    assert item.title == "E"
