"""Typed records that flow through the pipeline: sources -> audio -> transcribe -> align -> index -> search.

Records are plain dataclasses; dicts appear only at the JSON edge (``to_dict``/``from_dict``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Iterator, Literal, Optional, Tuple

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
            "segments": [asdict(segment) for segment in self.segments],
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Transcript":
        segments = [
            Segment(
                start=s["start"],
                end=s["end"],
                text=s["text"],
                words=[Word(**w) for w in s.get("words", [])],
            )
            for s in data["segments"]
        ]
        return cls(
            segments=segments,
            language=data.get("language", ""),
            duration=data.get("duration", 0.0),
            source_id=data.get("source_id"),
            engine=data.get("engine", ""),
            model=data.get("model", ""),
            origin=data.get("origin", "asr"),
        )


@dataclass
class AudioRef:
    """Audio that an article embeds or a feed item encloses, as found in the document.

    ``url`` is a path or an absolute URL without any media fragment; ``segment`` is the
    ``#t=start,end`` fragment in seconds when only part of the file is embedded (``end`` may be None:
    to the end of the file).
    """

    url: str
    segment: Optional[TimeRange] = None
    transcript_url: Optional[str] = None
    transcript_type: Optional[str] = None
    title: Optional[str] = None


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

    def to_dict(self) -> dict:
        data = asdict(self)
        data["segment"] = list(self.segment) if self.segment else None
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Source":
        data = dict(data)
        if data.get("segment"):
            data["segment"] = tuple(data["segment"])
        return cls(**data)


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

    def to_dict(self) -> dict:
        data = asdict(self)
        if self.kind == "article":
            for key in ("audio", "start", "end"):
                data.pop(key)
        return data
