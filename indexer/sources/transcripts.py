"""Transcripts that publishers ship with their episodes (Podcasting 2.0 ``<podcast:transcript>``).

SRT, WebVTT and the Podcasting 2.0 JSON format all carry times, so they can stand in for speech
recognition. HTML transcripts carry none and are refused: see :func:`read_publisher_transcript`.
"""

from __future__ import annotations

import html
import itertools
import json
import logging
import math
import re
from typing import Iterable, Optional

from ..errors import SourceError
from ..models import Segment, Transcript, Word

logger = logging.getLogger("indexer")

__all__ = ["read_publisher_transcript", "transcript_format"]

_FORMATS = {
    "json": "json",
    "application/json": "json",
    "srt": "srt",
    "application/x-subrip": "srt",
    "application/srt": "srt",
    "text/srt": "srt",
    "text/x-srt": "srt",
    "vtt": "vtt",
    "webvtt": "vtt",
    "text/vtt": "vtt",
    "html": "html",
    "htm": "html",
    "text/html": "html",
}

# SRT has no formal markup, but files carry HTML-like tags (<i>, <font color>) and ASS
# overrides ({\an8}); they are formatting, not speech.
_SRT_TAG = re.compile(r"</?[a-zA-Z][^<>]*>|\{\\[^{}]*\}")


def transcript_format(type: str) -> str:
    """``"json"``, ``"srt"``, ``"vtt"`` or ``"html"`` for a MIME type, a name or a file extension.

    Raises:
      SourceError: the type is none of these.
    """
    key = type.split(";")[0].strip().lower().lstrip(".")
    try:
        return _FORMATS[key]
    except KeyError:
        raise SourceError(f"unsupported transcript type {type!r}: expected JSON, SRT, WebVTT or HTML") from None


def read_publisher_transcript(
    data: bytes,
    type: str,
    *,
    duration: Optional[float] = None,
    language: str = "",
    location: str = "",
) -> Transcript:
    """Read a publisher's transcript into a :class:`Transcript` with ``origin="publisher"``.

    ``type`` is the ``<podcast:transcript type>`` MIME type (or ``json``/``srt``/``vtt``); when it
    is none of those (``text/plain``, ``application/octet-stream``), the data's own shape decides.
    Segments come sorted by start time with formatting and voice tags removed. Podcasting 2.0 JSON given one
    word per segment is regrouped into sentence segments whose ``words`` hold the word times
    (probability 1.0: a publisher's words are not guesses). ``duration`` defaults to the end of the
    last segment; ``language`` is the caller's (the feed's ``language`` attribute), else ``""``;
    ``location`` (the transcript's URL or path) names the input in error messages.

    HTML transcripts are refused: they have no times, and a transcript whose every hit would jump
    to 0:00 is worse than recognising the audio, which gives the second each word is spoken.

    Raises:
      SourceError: unsupported type, HTML, undecodable or malformed data, or no text at all.
    """
    name = location or "transcript"
    try:
        text = _decode(data)
        try:
            kind = transcript_format(type)
        except SourceError:
            # Servers often label SRT as text/plain or anything as application/octet-stream.
            kind = _sniff_format(text)
            if kind is None:
                raise
        if kind == "html":
            raise SourceError("HTML transcripts have no times; transcribe the audio instead")
        if kind == "srt":
            segments = _read_srt(text)
        elif kind == "vtt":
            segments = _read_vtt(text)
        else:
            segments = _read_json(text)
    except SourceError as e:
        # The readers know the format, the caller knows the file: name it in the one line.
        raise SourceError(f"{name}: {e}") from e.__cause__
    segments = [segment for segment in segments if segment.text]
    if not segments:
        raise SourceError(f"{name}: {kind.upper()} transcript has no text")
    segments.sort(key=lambda segment: (segment.start, segment.end))
    end = max(segment.end for segment in segments)
    return Transcript(
        segments=segments,
        language=language or "",
        duration=float(duration) if duration is not None else end,
        engine="",
        model="",
        origin="publisher",
    )


def _sniff_format(text: str) -> Optional[str]:
    """The format the text itself shows: a WEBVTT header, a JSON object, an SRT cue, or markup."""
    head = text.lstrip()[:1000]
    if head.startswith("WEBVTT"):
        return "vtt"
    if head.startswith("{"):
        return "json"
    lines = head.splitlines()
    if len(lines) >= 2 and lines[0].strip().isdigit() and "-->" in lines[1]:
        return "srt"
    if head.startswith("<"):
        return "html"
    return None


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Older subtitle files are often Windows-1252; a wrong guess costs accents, not times.
        logger.warning("transcript is not UTF-8; reading it as Windows-1252")
        return data.decode("cp1252", errors="replace")


def _read_srt(text: str) -> list[Segment]:
    import srt

    try:
        subtitles = list(srt.parse(text))
    except (srt.SRTParseError, ValueError) as e:
        raise SourceError(f"malformed SRT transcript: {_one_line(e)}") from e
    return [
        Segment(
            start=subtitle.start.total_seconds(),
            end=max(subtitle.end.total_seconds(), subtitle.start.total_seconds()),
            text=_clean(_SRT_TAG.sub("", subtitle.content)),
        )
        for subtitle in subtitles
    ]


def _read_vtt(text: str) -> list[Segment]:
    import webvtt
    from webvtt.errors import MalformedCaptionError, MalformedFileError

    try:
        captions = webvtt.WebVTT.from_string(text).captions
    except (MalformedFileError, MalformedCaptionError, ValueError) as e:
        raise SourceError(f"malformed WebVTT transcript: {_one_line(e) or 'no WEBVTT header'}") from e
    segments = []
    for caption in captions:
        # ``start_in_seconds`` drops the milliseconds; the timestamp's milliseconds keep them.
        start = caption.start_time.in_milliseconds() / 1000
        end = caption.end_time.in_milliseconds() / 1000
        # ``text`` strips cue tags (<v Speaker>, <c.loud>, <00:01.000>); entities stay escaped.
        segments.append(Segment(start=start, end=max(end, start), text=_clean(html.unescape(caption.text))))
    return segments


def _read_json(text: str) -> list[Segment]:
    try:
        document = json.loads(text)
    except ValueError as e:
        raise SourceError(f"malformed JSON transcript: {_one_line(e)}") from e
    raw_segments = document.get("segments") if isinstance(document, dict) else None
    if not isinstance(raw_segments, list):
        raise SourceError('JSON transcript has no "segments" list (expected Podcasting 2.0 format)')

    cues: list[tuple[float, float, str, Optional[str]]] = []
    skipped = 0
    for raw in raw_segments:
        cue = _json_cue(raw)
        if cue is None:
            skipped += 1
        else:
            cues.append(cue)
    if skipped:
        logger.warning("skipped %d JSON transcript segment(s) without valid times or body", skipped)
    if not cues:
        raise SourceError("JSON transcript has no segments with times and text")
    cues.sort(key=lambda cue: cue[0])
    single_words = sum(1 for cue in cues if len(cue[2].split()) == 1)
    # Some publishers write one segment per word: those are word times, worth keeping as words.
    if single_words >= 0.8 * len(cues) and len(cues) > 1:
        return list(_group_words(cues))
    return [Segment(start=start, end=end, text=body) for start, end, body, _speaker in cues]


def _json_cue(raw) -> Optional[tuple[float, float, str, Optional[str]]]:
    if not isinstance(raw, dict):
        return None
    try:
        start = float(raw["startTime"])
        end = float(raw["endTime"])
    except (KeyError, TypeError, ValueError):
        return None
    body = raw.get("body")
    if not isinstance(body, str) or not math.isfinite(start) or not math.isfinite(end) or start < 0:
        return None
    body = _clean(html.unescape(body))
    if not body:
        return None
    speaker = raw.get("speaker") if isinstance(raw.get("speaker"), str) else None
    return start, max(end, start), body, speaker


def _group_words(cues: Iterable[tuple[float, float, str, Optional[str]]]) -> Iterable[Segment]:
    """Join word-per-segment cues into sentence segments with their words.

    The grouping and the word convention (stripped words) are recognised speech's
    (:func:`indexer.align.sentences`), so a transcript reads the same whatever its origin; a change
    of speaker also ends a segment.
    """
    from ..align import sentences

    for _speaker, run in itertools.groupby(cues, key=lambda cue: cue[3]):
        words = [Word(start=start, end=end, word=body, probability=1.0) for start, end, body, _ in run]
        yield from sentences([Segment(start=words[0].start, end=words[-1].end, text="", words=words)])


def _clean(text: str) -> str:
    return " ".join(text.split())


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())
