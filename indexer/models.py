"""Typed records that flow through the pipeline: sources -> audio -> transcribe -> align -> index -> search.

Records are plain dataclasses; dicts appear only at the JSON edge (``to_dict``/``from_dict``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator, Literal, Optional, Tuple

SourceKind = Literal["audio", "article"]
# A time range of a file in seconds, ``(start, end)``; ``end`` None runs to the end of the file. The README
# calls it a segment (``#t=start,end``); a transcript's piece is a ``Segment``, so the code says time range.
TimeRange = Tuple[float, Optional[float]]


@dataclass
class Word:
    """A recognised word; times are seconds in the original file's timeline."""

    start: float
    end: float
    word: str
    probability: float
    # With an article's spelling (Index.transcript(spelling="article")): the word as heard.
    heard: Optional[str] = None


@dataclass
class Segment:
    """A stretch of speech with its text and, when the engine gives them, its words."""

    start: float
    end: float
    text: str
    words: list[Word] = field(default_factory=list)


@dataclass
class Transcript:
    """What was said in one audio source.

    Iterating a transcript yields its segments. ``origin`` is ``"asr"`` for speech recognition and
    ``"publisher"`` for a transcript shipped by a podcast feed (those have no word times).
    """

    segments: list[Segment]
    language: str
    duration: float
    source_id: Optional[str] = None
    engine: str = ""
    model: str = ""
    origin: str = "asr"

    def __iter__(self) -> Iterator[Segment]:
        return iter(self.segments)

    def __len__(self) -> int:
        return len(self.segments)

    @property
    def text(self) -> str:
        return " ".join(segment.text.strip() for segment in self.segments).strip()

    def to_dict(self) -> dict:
        return {
            "source_id": self.source_id,
            "language": self.language,
            "duration": self.duration,
            "engine": self.engine,
            "model": self.model,
            "origin": self.origin,
            "segments": [_segment_dict(segment) for segment in self.segments],
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Transcript":
        """Read a transcript back from JSON, checking every field, since the JSON may be a damaged file.

        Raises:
          ValueError: a field is missing, of the wrong type, or a time is not a finite number >= 0.
        """
        if not isinstance(data, dict) or not isinstance(data.get("segments"), list):
            raise ValueError('a transcript is an object with a "segments" list')
        segments = []
        for s in data["segments"]:
            if not isinstance(s, dict):
                raise ValueError("a segment is not an object")
            words = s.get("words", [])
            if not isinstance(words, list):
                raise ValueError('a segment\'s "words" is not a list')
            segments.append(
                Segment(
                    start=_time(s.get("start")),
                    end=_time(s.get("end")),
                    text=_text(s.get("text")),
                    words=[_word(w) for w in words],
                )
            )
        return cls(
            segments=segments,
            language=_text(data.get("language", "")),
            duration=_time(data.get("duration", 0.0)),
            source_id=_optional_text(data.get("source_id")),
            engine=_text(data.get("engine", "")),
            model=_text(data.get("model", "")),
            origin=_text(data.get("origin", "asr")),
        )


def _time(value: Any) -> float:
    """A time in seconds from JSON: a finite number >= 0 (not a bool, a string, NaN or Infinity)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"not a time in seconds: {value!r}")
    return float(value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"not a string: {value!r}")
    return value


def _optional_text(value: Any) -> Optional[str]:
    return None if value is None else _text(value)


def _word(data: Any) -> Word:
    if not isinstance(data, dict):
        raise ValueError("a word is not an object")
    probability = data.get("probability", 1.0)
    if isinstance(probability, bool) or not isinstance(probability, (int, float)) or not math.isfinite(probability):
        raise ValueError(f"not a probability: {probability!r}")
    return Word(
        start=_time(data.get("start")), end=_time(data.get("end")), word=_text(data.get("word")), probability=float(probability)
    )


def _finite(value: Optional[float]) -> Optional[float]:
    """None for NaN and infinities, which JSON cannot carry."""
    return value if value is None or math.isfinite(value) else None


def _segment_dict(segment: Segment) -> dict:
    data = asdict(segment)
    for word in data["words"]:
        if word.get("heard") is None:
            word.pop("heard", None)
    return data


@dataclass
class AudioRef:
    """Audio that an article embeds or a feed item encloses, as found in the document.

    ``url`` is a path or an absolute URL without any media fragment; ``segment`` is the
    ``#t=start,end`` fragment in seconds when only part of the file is embedded (``end`` may be None:
    to the end of the file). ``type`` is ``"audio"`` or ``"video"`` for a media file, ``"hls"`` for an
    HLS playlist, ``"dash"`` for a DASH manifest, ``"player"`` for a player page (YouTube, SoundCloud ...) resolved when ingested.
    ``found_by`` names where the URL came from (``"html5"``, ``"iframe"``, ``"og:audio"``, ``"json-ld"``,
    ``"enclosure"`` ...).
    """

    url: str
    segment: Optional[TimeRange] = None
    transcript_url: Optional[str] = None
    transcript_type: Optional[str] = None
    title: Optional[str] = None
    type: str = "audio"
    found_by: str = ""


@dataclass
class Article:
    """An article's own text (no navigation or boilerplate) and the audio it embeds."""

    title: str
    location: str
    paragraphs: list[str]
    date: Optional[str] = None
    author: Optional[str] = None
    url: Optional[str] = None
    audio: list[AudioRef] = field(default_factory=list)
    guid: Optional[str] = None


@dataclass
class Source:
    """Something in the index: an audio file (or a segment of one) or an article.

    ``location`` is the path or URL as ingested. An audio source lists the articles that embed it
    in ``article_ids``; an article lists its audio in ``audio_ids``.
    """

    id: str
    kind: SourceKind
    title: str
    location: str
    segment: Optional[TimeRange] = None
    date: Optional[str] = None
    author: Optional[str] = None
    duration: Optional[float] = None
    language: Optional[str] = None
    guid: Optional[str] = None
    audio_ids: list[str] = field(default_factory=list)
    article_ids: list[str] = field(default_factory=list)
    # An article's names (indexer.lexicon), kept so the index-wide lexicon is read from records, not
    # from every article's text; None in records written before.
    names: Optional[list[str]] = None

    def to_dict(self) -> dict:
        data = asdict(self)
        data["segment"] = list(self.segment) if self.segment else None
        data["duration"] = _finite(self.duration)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Source":
        data = dict(data)
        if data.get("segment"):
            data["segment"] = tuple(data["segment"])
        return cls(**data)


def source_json(source: Source) -> dict:
    """A source as ``sources --json`` prints it: ``audio`` instead of ``location`` for audio, and only
    the link list that applies to its kind."""
    data = source.to_dict()
    data.pop("names")
    if source.kind == "audio":
        data["audio"] = data.pop("location")
        data.pop("audio_ids")
        if not source.segment:
            data.pop("segment")
    else:
        data.pop("segment")
        data.pop("article_ids")
    return data


@dataclass
class HeardAt:
    """Where an article paragraph is spoken in an audio source (found by aligning the two)."""

    source_id: str
    audio: str
    start: float
    end: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Hit:
    """One search result: a transcript segment (kind "audio") or an article paragraph."""

    kind: SourceKind
    source_id: str
    title: str
    text: str
    snippet: str
    score: float
    audio: Optional[str] = None
    start: Optional[float] = None
    end: Optional[float] = None
    location: Optional[str] = None
    date: Optional[str] = None
    # "exact": the query's words (or their normal forms) as heard or written; "article": heard
    # differently, found under the aligned article's spelling; "sounds-like": a sound-alike fallback.
    match: str = "exact"
    heard_at: list[HeardAt] = field(default_factory=list)  # article hits: where the paragraph is spoken

    def to_dict(self) -> dict:
        data = asdict(self)
        for key in ("score", "start", "end"):
            data[key] = _finite(data[key])
        if self.kind == "article":
            for key in ("audio", "start", "end"):
                data.pop(key)
        else:
            data.pop("heard_at")
        return data
