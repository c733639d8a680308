"""Transcript writers: txt, json, srt, vtt. Each is a small class named by its extension (as openai-whisper's)."""

from __future__ import annotations

import datetime
import json
from typing import Protocol

from .models import Transcript


class TextOut(Protocol):
    """Where a writer writes: any text stream (a file, stdout, io.StringIO, the CLI's terminal-safe wrapper)."""

    def write(self, text: str, /) -> int: ...


class TranscriptWriter:
    extension: str

    def write(self, transcript: Transcript, out: TextOut) -> None:
        raise NotImplementedError


class WriteTXT(TranscriptWriter):
    extension = "txt"

    def write(self, transcript: Transcript, out: TextOut) -> None:
        for segment in transcript:
            print(segment.text.strip(), file=out)


class WriteJSON(TranscriptWriter):
    """The documented JSON contract: source_id, language, duration, segments with words."""

    extension = "json"

    def write(self, transcript: Transcript, out: TextOut) -> None:
        document = {
            "source_id": transcript.source_id,
            "language": transcript.language,
            "duration": transcript.duration,
            "segments": [
                {
                    "start": s.start,
                    "end": s.end,
                    "text": s.text,
                    "words": [
                        # "heard": what was heard, on a word given in an aligned article's spelling.
                        {"start": w.start, "end": w.end, "word": w.word, "probability": w.probability}
                        | ({"heard": w.heard} if w.heard is not None else {})
                        for w in s.words
                    ],
                }
                for s in transcript
            ],
        }
        json.dump(document, out, ensure_ascii=False, indent=2)
        out.write("\n")


class WriteSRT(TranscriptWriter):
    extension = "srt"

    def write(self, transcript: Transcript, out: TextOut) -> None:
        import srt

        subtitles = [
            srt.Subtitle(index=i, start=_delta(s.start), end=_delta(s.end), content=s.text.strip())
            for i, s in enumerate(transcript, start=1)
        ]
        out.write(srt.compose(subtitles))


class WriteVTT(TranscriptWriter):
    extension = "vtt"

    def write(self, transcript: Transcript, out: TextOut) -> None:
        import webvtt

        captions = webvtt.WebVTT()
        for s in transcript:
            captions.captions.append(webvtt.Caption(_vtt_time(s.start), _vtt_time(s.end), s.text.strip()))
        out.write(captions.content)


def _delta(seconds: float) -> datetime.timedelta:
    return datetime.timedelta(seconds=seconds)


def _vtt_time(seconds: float) -> str:
    millis = int(round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


WRITERS: dict[str, type[TranscriptWriter]] = {w.extension: w for w in (WriteTXT, WriteJSON, WriteSRT, WriteVTT)}


def get_writer(fmt: str) -> TranscriptWriter:
    return WRITERS[fmt]()
