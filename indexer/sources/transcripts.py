"""Transcripts that publishers ship with their episodes (Podcasting 2.0 ``<podcast:transcript>``).

SRT, WebVTT, the Podcasting 2.0 JSON format and HTML that marks its times with ``<time>`` all carry
times, so they can stand in for speech recognition. HTML without times is refused: see
:func:`read_publisher_transcript`.
"""

from __future__ import annotations

import html
import itertools
import json
import logging
import math
import re
from typing import Iterable, Iterator, Optional

from ..errors import SourceError
from ..models import Segment, Transcript, Word
from .text import collapse_whitespace

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

    WebVTT captions that roll (each cue repeats the previous line and adds words with inline
    ``<00:05:04.199>`` times, as YouTube writes them) are read once, word by word, with those times.
    An SRT file without cue numbers is read as SRT. HTML is read when it marks its times with
    ``<time>`` (the Podcasting 2.0 HTML form: ``<cite>Speaker:</cite><time>0:53</time><p>...</p>``);
    HTML without times is refused, since a transcript whose every hit would jump to 0:00 is worse than
    recognising the audio, which gives the second each word is spoken.

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
            sniffed = _sniff_format(text)
            if sniffed is None:
                raise
            kind = sniffed
        if kind == "html":
            segments = _read_html(text)
        elif kind == "srt":
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
    if lines and _SRT_TIMING.match(lines[0].strip()):
        return "srt"  # SRT without cue numbers
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


_SRT_TIMING = re.compile(r"^\d{1,3}:\d{2}:\d{2}[,.]\d{1,3}\s*-->\s*\d{1,3}:\d{2}:\d{2}[,.]\d{1,3}")


def _number_cues(text: str) -> str:
    """SRT with a number before every timing line, as the srt library expects."""
    lines = text.splitlines()
    out: list[str] = []
    number = 0
    for line in lines:
        if _SRT_TIMING.match(line.strip()):
            number += 1
            previous = next((kept for kept in reversed(out) if kept.strip()), "")
            if not previous.strip().isdigit() or (out and out[-1].strip()):
                if out and out[-1].strip().isdigit():
                    out.pop()
                if out and out[-1].strip():
                    out.append("")
                out.append(str(number))
        out.append(line)
    return "\n".join(out) + "\n"


def _read_srt(text: str) -> list[Segment]:
    import srt

    try:
        subtitles = list(srt.parse(_number_cues(text)))
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
    if any(_INLINE_TIME.search(caption.raw_text) for caption in captions):
        return list(_group_words(_rolling_words(captions)))
    segments = []
    for caption in captions:
        # ``start_in_seconds`` drops the milliseconds; the timestamp's milliseconds keep them.
        start = caption.start_time.in_milliseconds() / 1000
        end = caption.end_time.in_milliseconds() / 1000
        # ``text`` strips cue tags (<v Speaker>, <c.loud>, <00:01.000>); entities stay escaped.
        segments.append(Segment(start=start, end=max(end, start), text=_clean(html.unescape(caption.text))))
    return segments


_INLINE_TIME = re.compile(r"<((?:\d+:)?\d{2}:\d{2}\.\d{3})>")
_CUE_TAG = re.compile(r"</?[^<>]*>")


def _rolling_words(captions) -> Iterator[tuple[float, float, str, Optional[str]]]:
    """Words of rolling captions once each, timed: a cue's lines that repeat the previous cue's last
    line are dropped; a new line's words start at their inline times (the first at the cue's start),
    words without times share their cue evenly."""
    previous_line = ""
    for caption in captions:
        start = caption.start_time.in_milliseconds() / 1000
        end = max(caption.end_time.in_milliseconds() / 1000, start)
        lines = [line for line in caption.raw_text.splitlines() if _plain(line)]
        new_lines = [line for line in lines if _plain(line) != previous_line]
        if lines:
            previous_line = _plain(lines[-1])
        for line in new_lines:
            timed: list[tuple[float, str]] = []
            pieces = _INLINE_TIME.split(line)  # text, time, text, time, text ...
            moments = [start] + [_vtt_seconds(value) for value in pieces[1::2]]
            for moment, piece in zip(moments, pieces[0::2]):
                timed.extend((moment, word) for word in _plain(piece).split())
            if len(pieces) == 1:  # no inline times: spread the words over the cue
                words = _plain(line).split()
                step = (end - start) / max(len(words), 1)
                timed = [(start + i * step, word) for i, word in enumerate(words)]
            for i, (moment, word) in enumerate(timed):
                following = timed[i + 1][0] if i + 1 < len(timed) else end
                yield moment, max(following, moment), html.unescape(word), None


def _plain(line: str) -> str:
    return " ".join(_CUE_TAG.sub("", line).split())


def _vtt_seconds(value: str) -> float:
    seconds = 0.0
    for part in value.split(":"):
        seconds = seconds * 60 + float(part)
    return seconds


def _read_html(text: str) -> list[Segment]:
    """Segments of an HTML transcript that marks times with ``<time>``: each runs from its time to the next."""
    import lxml.html

    try:
        root = (
            lxml.html.fragment_fromstring(text, create_parent="div")
            if "<html" not in text[:500].lower()
            else lxml.html.document_fromstring(text)
        )
    except (ValueError, lxml.etree.ParserError) as e:
        raise SourceError(f"malformed HTML transcript: {_one_line(e)}") from e
    marks: list[tuple[float, list[str]]] = []
    for element in root.iter():
        tag = element.tag.lower() if isinstance(element.tag, str) else ""
        if tag == "time":
            moment = _clock_seconds(element.get("datetime") or element.text_content())
            if moment is not None:
                marks.append((moment, []))
        elif tag in ("p", "li", "blockquote") and marks:
            marks[-1][1].append(element.text_content())
        elif tag in ("script", "style", "cite"):
            continue
    if not marks:
        raise SourceError("HTML transcript marks no times (<time>); transcribe the audio instead")
    segments = []
    for i, (moment, texts) in enumerate(marks):
        body = _clean(" ".join(texts))
        if i + 1 < len(marks):
            end = marks[i + 1][0]
        else:
            # The last passage has no next time: assume ordinary speech, about 2.5 words a second.
            end = moment + len(body.split()) / 2.5
        segments.append(Segment(start=moment, end=max(end, moment), text=body))
    return segments


def _clock_seconds(value: str) -> Optional[float]:
    """Seconds from ``0:53``, ``1:02:03``, ``00:00:05.250``, ``PT1M5S`` (HTML ``datetime`` durations)."""
    value = value.strip()
    duration = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?", value, re.IGNORECASE)
    if duration and any(duration.groups()):
        hours, minutes, seconds = duration.groups()
        return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)
    if re.fullmatch(r"\d+(?::\d{1,2}){1,2}(?:[.,]\d+)?", value):
        return _vtt_seconds(value.replace(",", "."))
    return None


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
    return collapse_whitespace(text) or ""


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())
