"""Real transcripts, captions and feeds from public test corpora (tests/data/corpus, origins in SOURCES.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.errors import SourceError
from indexer.sources.feed import looks_like_feed, read_feed
from indexer.sources.transcripts import read_publisher_transcript

CORPUS = Path(__file__).parent / "data" / "corpus"
TRANSCRIPTS = CORPUS / "transcripts"
FEEDS = CORPUS / "feeds"


def read(name: str, type: str):
    return read_publisher_transcript((TRANSCRIPTS / name).read_bytes(), type, location=name)


def test_youtube_rolling_captions_are_read_once_with_their_word_times():
    transcript = read("youtube_dl.vtt", "text/vtt")
    words = [(word.word, round(word.start, 3)) for segment in transcript for word in segment.words]
    # Each cue repeats the previous line; the repeat and the zero-length hold cue add nothing.
    assert [word for word, _ in words] == ["yeah", "what", "this", "will", "happen", "is", "I'm", "telling"]
    assert dict(words)["will"] == 304.199 and dict(words)["happen"] == 304.379 and dict(words)["telling"] == 305.069
    assert transcript.text == "yeah what this will happen is I'm telling"
    for segment in transcript:
        # Words are stored stripped, as recognised speech's are, and the text is their join.
        assert segment.text == " ".join(word.word for word in segment.words)


@pytest.mark.parametrize("type", ["text/plain", "application/octet-stream", "application/x-subrip"])
def test_srt_without_cue_numbers_is_read_whatever_its_label(type):
    transcript = read("podcast-namespace-no-numbers.srt", type)
    assert len(transcript.segments) == 10
    assert transcript.segments[0].start == 0.179 and transcript.segments[0].end == 2.399
    assert transcript.segments[1].text.startswith("almost guaranteed that you're")
    assert "\ufeff" not in transcript.text and "\r" not in transcript.text
    # The same cues as the numbered original, speaker names dropped alike.
    numbered = read("podcast-namespace-example.srt", "application/srt").segments[:10]
    assert [(s.start, s.end, s.text) for s in transcript] == [(s.start, s.end, s.text) for s in numbered]


def test_utf16_srt_with_a_bom():
    assert read("podcast-namespace-utf-16-le.srt", "srt").text == read("podcast-namespace-no-numbers.srt", "srt").text


def test_podcasting20_html_transcript_with_time_stamps():
    transcript = read("podcast-namespace-example.html", "text/html")
    starts = [segment.start for segment in transcript]
    assert starts == [0.0, 53.0, 102.0, 219.0, 263.0, 322.0, 376.0, 562.0, 617.0, 691.0]
    assert transcript.segments[0].end == 53.0
    assert transcript.segments[1].text.startswith("Creating good audio is really key")
    assert "Travis:" not in transcript.text  # speaker names are not speech


def test_html_without_times_is_still_refused():
    with pytest.raises(SourceError, match="marks no times"):
        read_publisher_transcript(b"<p>Welcome to the show.</p><p>Today: ferries.</p>", "text/html", location="t.html")


@pytest.mark.parametrize(
    "name, type",
    [
        ("podcast-namespace-example.json", "application/json"),
        ("podcast-namespace-example.srt", "application/srt"),
        ("podcast-namespace-example.vtt", "text/vtt"),
        ("webvtt-sample.vtt", "text/vtt"),
    ],
)
def test_the_namespace_and_webvtt_examples(name, type):
    transcript = read(name, type)
    assert transcript.segments and transcript.origin == "publisher"
    assert all(a.start <= b.start for a, b in zip(transcript.segments, transcript.segments[1:]))


@pytest.mark.parametrize("name", ["feedparser-utf-32le-bom.xml", "feedparser-utf-32be-bom.xml"])
def test_utf32_feeds_with_a_bom_are_feeds(name):
    data = (FEEDS / name).read_bytes()
    assert looks_like_feed(data)
    assert read_feed(data, f"https://example.org/{name}") == []  # an empty channel, read without error


def test_a_transcript_served_as_plain_text_is_kept_for_the_item():
    (item,) = read_feed((FEEDS / "podcastparser-episode_podcast_transcript.rss").read_bytes(), "https://example.org/feed")
    assert item.audio[0].url == "http://example.org/example.mp3"
    # text/plain is no Podcasting 2.0 transcript type: the audio is recognised instead.
    assert item.audio[0].transcript_url is None


def test_html_in_a_description():
    (item,) = read_feed((FEEDS / "podcastparser-html_in_description.rss").read_bytes(), "https://example.org/feed")
    assert item.paragraphs == ["This is a test"]
    assert item.audio[0].url == "http://example.org/example.opus"
