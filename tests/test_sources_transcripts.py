import json
from pathlib import Path

import pytest

from indexer.errors import SourceError
from indexer.sources.transcripts import read_publisher_transcript

DATA = Path(__file__).parent / "data"

EXPECTED_TIMES = [(0.0, 4.2), (4.2, 9.75), (62.5, 67.0)]


def read(name: str) -> bytes:
    return (DATA / name).read_bytes()


def times(transcript):
    return [(segment.start, segment.end) for segment in transcript]


def test_srt():
    transcript = read_publisher_transcript(read("ep11.srt"), "application/x-subrip", language="en")
    assert times(transcript) == EXPECTED_TIMES
    # Formatting tags (<i>, <b>, <font>) and ASS overrides ({\an8}) are not speech.
    assert [s.text for s in transcript] == [
        "Welcome to Harbour Talk, from the Port Alderney waterfront.",
        "I'm Marta Okonkwo, and today: the ferry vote.",
        "Captain Ilse Brannigan joins us.",
    ]
    assert transcript.origin == "publisher"
    assert (transcript.engine, transcript.model) == ("", "")
    assert transcript.language == "en"
    assert transcript.duration == 67.0
    assert all(segment.words == [] for segment in transcript)


def test_vtt_keeps_milliseconds_and_strips_voice_and_cue_tags():
    transcript = read_publisher_transcript(read("ep11.vtt"), "text/vtt; charset=utf-8")
    assert times(transcript) == EXPECTED_TIMES
    assert [s.text for s in transcript] == [
        "Welcome to Harbour Talk, from the Port Alderney waterfront.",
        "I'm Marta Okonkwo, and today: the ferry vote.",
        "Fish & chips first, then the ballot.",
    ]
    assert transcript.language == ""


def test_podcasting_json():
    transcript = read_publisher_transcript(read("ep11.json"), "application/json", duration=1393.0)
    assert times(transcript) == EXPECTED_TIMES
    assert transcript.segments[2].text == "People came out in the rain to vote for a boat."
    assert transcript.duration == 1393.0  # the caller's duration wins over the last cue's end
    assert transcript.text.startswith("Welcome to Harbour Talk, from the Port Alderney waterfront. I'm Marta")


def test_word_level_json_is_grouped_into_sentences_with_word_times():
    transcript = read_publisher_transcript(read("ep11_words.json"), "json")
    assert [s.text for s in transcript] == [
        "Welcome to Harbour Talk.",  # ends at the full stop
        "Today: the ferry vote",  # ends where the speaker changes
        "Thank you, Marta.",
        "Brannigan here",  # a three-second pause starts a new segment
    ]
    assert times(transcript) == [(0.1, 1.3), (1.5, 2.6), (3.0, 4.1), (7.0, 7.7)]
    brannigan = transcript.segments[3].words[0]
    assert (brannigan.start, brannigan.end, brannigan.word.strip()) == (7.0, 7.4, "Brannigan")
    for segment in transcript:
        assert segment.text == "".join(word.word for word in segment.words).strip()
        starts = [word.start for word in segment.words]
        assert starts == sorted(starts)
        assert all(word.probability == 1.0 for word in segment.words)


def test_cues_out_of_order_are_sorted_and_empty_ones_dropped():
    document = {
        "version": "1.0.0",
        "segments": [
            {"startTime": 10, "endTime": 12, "body": "Second sentence here."},
            {"startTime": "2.5", "endTime": "4", "body": "First sentence here."},
            {"startTime": 20, "endTime": 21, "body": "   "},
            {"startTime": "soon", "endTime": 30, "body": "No valid time."},
        ],
    }
    transcript = read_publisher_transcript(json.dumps(document).encode(), "application/json")
    assert [(s.start, s.text) for s in transcript] == [(2.5, "First sentence here."), (10.0, "Second sentence here.")]
    assert transcript.duration == 12.0


def test_windows_1252_srt_is_read():
    data = "1\r\n00:00:01,000 --> 00:00:02,500\r\nCaf\xe9 on the quay\r\n".encode("cp1252")
    (segment,) = read_publisher_transcript(data, "srt").segments
    assert (segment.start, segment.end, segment.text) == (1.0, 2.5, "Café on the quay")


@pytest.mark.parametrize("name", ["ep11.srt", "ep11.vtt", "ep11.json"])
def test_unhelpful_content_type_is_sniffed(name):
    transcript = read_publisher_transcript(read(name), "application/octet-stream")
    assert times(transcript) == EXPECTED_TIMES


def test_html_transcripts_are_refused_because_they_have_no_times():
    with pytest.raises(SourceError, match=r"ep11.html: HTML transcript marks no times \(<time>\)"):
        read_publisher_transcript(b"<p>Welcome to Harbour Talk.</p>", "text/html", location="ep11.html")


@pytest.mark.parametrize(
    "data, type, message",
    [
        (b"Welcome to the show", "application/x-subrip", "malformed SRT"),
        (b"Welcome to the show", "text/vtt", "malformed WebVTT"),
        (b'{"segments": [', "application/json", "malformed JSON"),
        (b'{"version": "1.0.0"}', "application/json", "no \"segments\" list"),
        (b'{"segments": [{"body": "no times"}]}', "application/json", "no segments with times"),
        (b"", "application/srt", "has no text"),
        (b"WEBVTT\n\n00:00.000 --> 00:01.000\n<v Marta></v>\n", "text/vtt", "has no text"),
        (b"Welcome", "text/plain", "unsupported transcript type 'text/plain'"),
    ],
)
def test_bad_input_raises_source_error_naming_the_input(data, type, message):
    with pytest.raises(SourceError, match="https://harbourtalk.example/t/ep11") as raised:
        read_publisher_transcript(data, type, location="https://harbourtalk.example/t/ep11")
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)
