"""Fuzzing every reader of untrusted input: each one returns a result or raises IndexerError, nothing else.

The inputs are the real test documents with random edits, spliced with the fragments that broke readers
before (unclosed IPv6 brackets, bad ports, broken encoding declarations, NUL bytes, NaN times), plus
random text for the small parsers. Bounded so the whole file runs in well under a minute;
``INDEXER_FUZZ_EXAMPLES=N`` raises the number of inputs per reader for a longer campaign.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexer.cli import _printable
from indexer.errors import IndexerError
from indexer.models import Article, Transcript
from indexer.sources import classify
from indexer.sources.embeds import find_embedded_audio, parse_media_fragment, resolve_reference
from indexer.sources.feed import looks_like_feed, read_feed
from indexer.sources.fetch import check_reference, is_url, redact_url, validate_url
from indexer.sources.html import html_to_paragraphs, read_html_article
from indexer.sources.text import read_text_article
from indexer.sources.transcripts import read_publisher_transcript

DATA = Path(__file__).parent / "data"
EXAMPLES = int(os.environ.get("INDEXER_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Fragments that once crashed a reader, and their relatives.
HOSTILE = [
    b"http://[::1",
    b"//[",
    b"//]",
    b"//]#",
    b"http://[x/a.mp3",
    b"http://x:99999/a.mp3",
    b"http://x:0/",
    b"http://u:p@x/",
    b"file:///etc/passwd",
    b"ftp://x/a.mp3",
    b"gopher://x/",
    b"#t=",
    b"#t=abc",
    b"#t=5,2",
    b"#t=smpte:1",
    b"#t=1:99",
    b'encoding="\x95"',
    b'encoding="\x00"',
    b'encoding="utf-16"',
    b"\x00",
    b"\x95",
    b"\xff\xfe",
    b"\xef\xbb\xbf",
    b"&#0;",
    b"&#xD800;",
    b"<![CDATA[",
    b"]]>",
    b"<!ENTITY x SYSTEM 'file:///etc/passwd'>",
    b"&x;",
    b"NaN",
    b"Infinity",
    b"-1e400",
    b"1e400",
    b"-->",
    b"00:00:01,000 --> 00:00:00,500",
    b"99:99:99,999",
    b"\x1b[2J",
    b"\r",
    b"\n\n",
    b"<base href='file:///'>",
    b"<audio src='",
    b"<enclosure url='",
    b"<podcast:transcript url='",
    b"<link>",
    b'"startTime": ',
]


@st.composite
def mutated(draw, seed: bytes) -> bytes:
    """``seed`` with up to 8 random edits: bytes inserted, deleted or replaced, hostile fragments spliced in."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(0, 8))):
        position = draw(st.integers(0, len(data)))
        piece = draw(st.one_of(st.sampled_from(HOSTILE), st.binary(max_size=12)))
        operation = draw(st.sampled_from(["insert", "replace", "delete"]))
        if operation == "insert":
            data[position:position] = piece
        elif operation == "replace":
            data[position : position + len(piece)] = piece
        else:
            del data[position : position + draw(st.integers(1, 64))]
    return bytes(data)


def seeds(*names: str) -> st.SearchStrategy[bytes]:
    return st.one_of(*(mutated((DATA / name).read_bytes()) for name in names))


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="surrogateescape")


url_text = st.one_of(
    st.text(max_size=40),
    st.lists(
        st.sampled_from([h.decode("latin-1") for h in HOSTILE] + ["http://", "https://", "a", "/", ":", "@", "[", "]"]),
        max_size=6,
    ).map("".join),
)


def only_indexer_errors(call) -> object:
    try:
        return call()
    except IndexerError as error:
        # Says what is wrong; the command line prints it on one line whatever the input held.
        assert str(error) and "\n" not in _printable(f"Error: {error}")
        return None


# ---------------------------------------------------------------- HTML pages and embeds


@FUZZ
@given(
    seeds("embed_players.html", "embed_links.html", "embed_jsonld.html", "news_page.html"),
    st.sampled_from(["https://news.example/story", "/home/me/page.html", "http://[::1/"]),
)
def test_embed_discovery(page: bytes, base: str) -> None:
    refs = only_indexer_errors(lambda: find_embedded_audio(page, base))
    for ref in refs or []:
        assert "#" not in ref.url or not is_url(ref.url)


@settings(FUZZ, max_examples=max(20, EXAMPLES // 4))  # trafilatura takes ~20 ms a page
@given(seeds("news_page.html", "embed_players.html"))
def test_html_article_reader(page: bytes) -> None:
    article = only_indexer_errors(lambda: read_html_article(page, "https://news.example/story"))
    # A page either fails with one IndexerError line or gives an article with text.
    assert article is None or (isinstance(article, Article) and all(p.strip() for p in article.paragraphs))


@FUZZ
@given(st.one_of(url_text, seeds("embed_players.html").map(_text)))
def test_show_notes_html(fragment: str) -> None:
    assert isinstance(html_to_paragraphs(fragment), list)


# ---------------------------------------------------------------- feeds


@FUZZ
@given(
    seeds("podcast_rss.xml", "news_atom.xml", "malformed_rss.xml"),
    st.sampled_from(["https://podcast.example/feed.xml", "/home/me/feed.xml"]),
)
def test_feed_reader(feed: bytes, location: str) -> None:
    assert isinstance(looks_like_feed(feed), bool)
    items = only_indexer_errors(lambda: read_feed(feed, location))
    assert items is None or all(isinstance(item, Article) and item.title for item in items)


# ---------------------------------------------------------------- transcripts


@FUZZ
@given(
    seeds("ep11.srt", "ep11.vtt", "ep11.json", "ep11_words.json"),
    st.sampled_from(["application/json", "application/x-subrip", "text/vtt", "text/plain", "text/html", "", "x/y"]),
)
def test_publisher_transcript_reader(data: bytes, kind: str) -> None:
    transcript = only_indexer_errors(lambda: read_publisher_transcript(data, kind, location="https://p.example/t"))
    if transcript is not None:
        assert all(math.isfinite(s.start) and math.isfinite(s.end) and s.start <= s.end for s in transcript)


json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.floats(allow_nan=True, allow_infinity=True), st.integers(), st.text(max_size=5)),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=10,
)


@FUZZ
@given(
    st.fixed_dictionaries(
        {
            "segments": st.lists(
                st.fixed_dictionaries(
                    {"start": json_value, "end": json_value, "text": json_value},
                    optional={
                        "words": st.lists(
                            st.fixed_dictionaries(
                                {"start": json_value, "end": json_value, "word": json_value, "probability": json_value}
                            ),
                            max_size=2,
                        )
                    },
                ),
                max_size=3,
            )
        },
        optional={"language": json_value, "duration": json_value, "source_id": json_value},
    )
    | json_value
)
def test_cached_transcript_validation(entry) -> None:
    # The transcript cache reads entries with Transcript.from_dict and discards what raises ValueError.
    try:
        transcript = Transcript.from_dict(entry)
    except ValueError:
        return
    for segment in transcript:
        assert math.isfinite(segment.start) and math.isfinite(segment.end) and isinstance(segment.text, str)
        for word in segment.words:
            assert math.isfinite(word.start) and math.isfinite(word.probability) and isinstance(word.word, str)
    assert math.isfinite(transcript.duration)


# ---------------------------------------------------------------- text articles


@FUZZ
@given(data=st.one_of(seeds("seed_article.txt"), st.binary(max_size=2000)))
def test_text_article_reader(data: bytes, tmp_path_factory) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "article.txt"
    path.write_bytes(data)
    article = only_indexer_errors(lambda: classify.read_article(path, "text", str(path)))
    if article is not None:
        assert article.title and article.paragraphs
    only_indexer_errors(lambda: read_text_article(_text(data), "/home/me/article.txt"))


# ---------------------------------------------------------------- URLs and media fragments


@FUZZ
@given(url_text)
def test_media_fragment_parser(url: str) -> None:
    result = only_indexer_errors(lambda: parse_media_fragment(url))
    if result is not None:
        _, span = result
        assert span is None or (span[0] >= 0 and (span[1] is None or span[1] > span[0]))


@FUZZ
@given(url_text, st.sampled_from(["https://news.example/a/story", "/home/me/page.html", "file:///home/me/"]))
def test_url_helpers(reference: str, base: str) -> None:
    only_indexer_errors(lambda: resolve_reference(reference, base))
    only_indexer_errors(lambda: validate_url(reference))
    only_indexer_errors(lambda: check_reference(reference, base))
    assert isinstance(is_url(reference), bool)
    redacted = redact_url(reference)
    if "://" in redacted:
        authority = redacted.split("://", 1)[1]
        for separator in "/?#":
            authority = authority.split(separator, 1)[0]
        assert "@" not in authority
