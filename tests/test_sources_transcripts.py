import io
import json
from pathlib import Path

import pytest

from indexer import align
from indexer.errors import SourceError
from indexer.models import Segment, Transcript, Word
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
    assert (brannigan.start, brannigan.end, brannigan.word) == (7.0, 7.4, "Brannigan")
    for segment in transcript:
        # Recognised speech's convention: stripped words, the text their join.
        assert all(word.word == word.word.strip() for word in segment.words)
        assert segment.text == align.join_words(segment.words)
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
        (b'{"version": "1.0.0"}', "application/json", 'no "segments" list'),
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


def test_json_output_has_the_same_shape_whatever_the_transcripts_origin():
    from indexer.writers import get_writer

    published = read_publisher_transcript(read("ep11_words.json"), "json")
    # Recognised speech as the engine gives it (words with their leading space), placed by align.
    heard = [Word(0.1, 0.4, " Welcome", 0.9), Word(0.42, 0.55, " to", 0.9), Word(0.55, 1.3, " Harbour", 0.9)]
    heard.append(Word(0.9, 1.3, " Talk.", 0.9))
    recognised = Transcript(
        segments=list(align.sentences(align.place_segments([Segment(0.1, 1.3, " Welcome to Harbour Talk.", heard)], 0.0))),
        language="en",
        duration=2.0,
    )

    def written(transcript: Transcript) -> dict:
        out = io.StringIO()
        get_writer("json").write(transcript, out)
        return json.loads(out.getvalue())

    documents = [written(published), written(recognised)]
    first_segments = [d["segments"][0] for d in documents]
    assert first_segments[0]["text"] == first_segments[1]["text"] == "Welcome to Harbour Talk."
    assert [w["word"] for w in first_segments[0]["words"]] == [w["word"] for w in first_segments[1]["words"]]
    for document in documents:
        assert set(document) == {"source_id", "language", "duration", "segments"}
        for segment in document["segments"]:
            assert set(segment) == {"start", "end", "text", "words"}
            assert segment["text"] == align.join_words(Word(**w) for w in segment["words"])
            for word in segment["words"]:
                assert set(word) == {"start", "end", "word", "probability"} and word["word"] == word["word"].strip()
