"""indexer inspect: pages, feeds and transcript files read as ingest reads them, nothing else fetched."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from click.testing import CliRunner

import indexer
from indexer.cli import cli

DATA = Path(__file__).parent / "data"
CORPUS = DATA / "corpus" / "pages"


VTT = "WEBVTT\n\n00:00:01.000 --> 00:00:03.500\nWelcome aboard.\n\n00:00:04.000 --> 00:00:06.000\nThe ferry leaves at six.\n"


def test_one_object_per_input_in_order_with_errors_listed(tmp_path):
    page = tmp_path / "picard.html"
    page.write_bytes(gzip.decompress((CORPUS / "1337kultur.de.picard.html.gz").read_bytes()))
    vtt = tmp_path / "ep.vtt"
    vtt.write_text(VTT)
    result = CliRunner().invoke(cli, ["inspect", "--json", str(page), str(tmp_path / "missing.html"), str(vtt)])
    assert result.exit_code == 1
    assert result.stderr == f"Error: {tmp_path / 'missing.html'}: no such file\n"
    found = json.loads(result.stdout)
    assert [entry["input"] for entry in found] == [str(page), str(tmp_path / "missing.html"), str(vtt)]
    article, missing, transcript = found
    assert article["kind"] == "article" and article["title"] == "Folge 70: Star Trek: Picard"
    assert article["location"] == "https://1337kultur.de/2020/folge-70-star-trek-picard/"
    # Four encodings of one episode (og:audio and the player's <source>s): one reference, the MP3.
    assert article["audio"] == [
        {
            "url": "https://1337kultur.de/podlove/file/989/s/opengraph/c/episode/LK070_StarTrek-Picard.mp3",
            "segment": None,
            "type": "audio",
            "title": None,
            "found_by": "og:audio",
            "transcript": None,
        }
    ]
    assert any("fünften Episode der" in paragraph for paragraph in article["paragraphs"])
    assert missing == {
        "input": str(tmp_path / "missing.html"),
        "kind": None,
        "error": f"{tmp_path / 'missing.html'}: no such file",
    }
    assert transcript["kind"] == "transcript"
    assert transcript["segments"] == [
        {"start": 1.0, "end": 3.5, "text": "Welcome aboard.", "words": []},
        {"start": 4.0, "end": 6.0, "text": "The ferry leaves at six.", "words": []},
    ]


def test_a_feed_over_http_lists_its_items_and_fetches_no_audio(site):
    feed = (
        '<?xml version="1.0"?><rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0"><channel>'
        "<title>Harbour Talk</title><language>en-us</language>"
        "<item><title>Episode 2</title><guid>ep2</guid><description>Gulls.</description>"
        '<enclosure url="/audio/ep2.mp3" type="audio/mpeg" length="1"/>'
        '<podcast:transcript url="/t/ep2.srt" type="application/x-subrip"/></item>'
        "</channel></rss>"
    )
    site.routes["/feed.xml"] = (200, {"Content-Type": "application/rss+xml"}, feed.encode())
    (found,) = indexer.inspect(f"{site.url}/feed.xml")
    assert found.kind == "feed" and site.requests == ["/feed.xml"]
    (item,) = found.to_dict()["items"]
    assert item["title"] == "Episode 2" and item["paragraphs"] == ["Gulls."]
    assert item["audio"] == [
        {
            "url": f"{site.url}/audio/ep2.mp3",
            "segment": None,
            "type": "audio",
            "title": "Episode 2",
            "found_by": "enclosure",
            "transcript": {"url": f"{site.url}/t/ep2.srt", "type": "application/x-subrip"},
        }
    ]


def test_the_text_listing_names_media_and_how_they_were_found(tmp_path):
    page = tmp_path / "embedded.html"
    page.write_bytes(gzip.decompress((CORPUS / "readability-embedded-videos.html.gz").read_bytes()))
    result = CliRunner().invoke(cli, ["inspect", str(page)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:2] == [f"{page}: article", "  title: Lorem"]
    assert "  player: https://www.youtube.com/embed/LtOGa5M8AuU  (found by iframe)" in result.stdout
    assert "player.vimeo.com/video/32246206" in result.stdout


def test_an_audio_url_is_named_not_fetched(site):
    (found,) = indexer.inspect(f"{site.url}/episode.mp3")
    assert found.to_dict() == {"input": f"{site.url}/episode.mp3", "kind": "audio"}
    assert site.requests == []
