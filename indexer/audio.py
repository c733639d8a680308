"""Decoding audio to 16 kHz mono float32, in chunks, so a 3-hour file never sits in memory whole.

PyAV (FFmpeg's libraries, shipped in the wheel that faster-whisper already needs) reads every format
FFmpeg reads: mp3, m4a/aac, ogg/vorbis, opus, wav, flac, and the audio track of mp4/webm. pydub was
the other candidate, but it decodes a whole file at its source rate into memory before anything can
be done with it, which is what a 3-hour podcast must not do.
"""

from __future__ import annotations

import hashlib
import logging
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from .errors import AudioError, SourceError
from .models import TimeRange

logger = logging.getLogger("indexer")

SAMPLE_RATE = 16000
# Recognition runs on chunks of this length, so memory stays flat whatever the file's length.
# A chunk's features are computed in one go, so their memory grows with it (bench/RESULTS.md, "Memory").
CHUNK_SECONDS = 120.0
# A chunk is cut at the quietest 100 ms within this many seconds before its nominal end, so that a
# cut almost never falls inside a word.
CUT_SEARCH_SECONDS = 15.0


@dataclass
class AudioInfo:
    path: Path
    duration: Optional[float]  # as the container declares it; None when unknown
    title: Optional[str] = None  # the file's own title tag, when it has one


def _open(path: Path):
    import av

    if not path.exists():
        raise SourceError(f"{path}: no such file")
    if path.is_dir():
        raise SourceError(f"{path}: is a directory")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: is empty (0 bytes)")
    check_file(path)
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError as e:
        raise AudioError(f"{path}: not an audio file FFmpeg can read ({_reason(e)})") from e
    if not container.streams.audio:
        container.close()
        raise AudioError(f"{path}: has no audio track")
    return container


def _reason(error: Exception) -> str:
    # PyAV's messages read "[Errno 1094995529] Invalid data found when processing input: 'x.mp3'";
    # the strerror is the part a user needs.
    return getattr(error, "strerror", None) or str(error)


def probe(path: Path) -> AudioInfo:
    """Open the file and read its declared duration.

    Raises AudioError when it is not audio, holds nothing but zero bytes, or is a WAV or Ogg file
    cut short (its header or its missing last page shows it; such a file would otherwise be indexed
    as if it were whole).
    """
    container = _open(path)
    try:
        title = (container.metadata.get("title") or "").strip() or None
        return AudioInfo(path=path, duration=probe_duration(container), title=title)
    finally:
        container.close()


# How much of a file is sampled to tell real audio from a zero-filled (or sparse) one.
_BLANK_PROBES = 16
_BLANK_PROBE_BYTES = 4096
_HEAD_BYTES = 64 * 1024
# Compressed audio has no 4 kB runs of zero bytes; PCM may (digital silence), so only all-zero counts there.
_MAX_BLANK_PROBES_COMPRESSED = 3


def check_file(path: Path) -> None:
    """Refuse files that FFmpeg would spend minutes and gigabytes on, or decode only in part.

    A zero-filled ``.mp3`` (or real audio followed by a long run of zero bytes) makes FFmpeg's
    demuxer read the zeros as one packet (2 GB of memory for 1 GB); a sparse multi-gigabyte WAV is
    hours of digital silence. No real recording starts with 64 kB of zero bytes, and compressed audio
    has no 4 kB run of them: 16 places spread over the file are sampled (a PCM file is refused only
    when every one is zero, since its silence may be exact zeros). A WAV whose
    ``data`` chunk declares more bytes than the file holds, and an Ogg file whose last page does not
    end the stream, were cut short (an interrupted download or copy).

    Raises:
      AudioError: the file is blank or truncated.
    """
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(_HEAD_BYTES)
            if size > _HEAD_BYTES and not head.strip(b"\0"):
                raise AudioError(f"{path}: not audio: it starts with {_HEAD_BYTES // 1024} kB of zero bytes")
            pcm = head[:4] in (b"RIFF", b"RIFX", b"RF64", b"FORM")  # WAV, AIFF: samples stored as they are
            blank = _blank_probes(f, size) if size > 4 * _HEAD_BYTES else 0
            if blank == _BLANK_PROBES:
                raise AudioError(f"{path}: not audio: it holds only zero bytes after its first {_HEAD_BYTES // 1024} kB")
            if blank > _MAX_BLANK_PROBES_COMPRESSED and not pcm:
                raise AudioError(f"{path}: not audio: {blank} of {_BLANK_PROBES} places sampled across it hold only zero bytes")
            if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
                _check_wav(path, head, size)
            elif head[:4] == b"OggS":
                _check_ogg(path, f, size)
    except OSError as e:
        raise SourceError(f"{path}: cannot read ({e.strerror or e})") from e


def _blank_probes(f, size: int) -> int:
    """How many of _BLANK_PROBES blocks spread over the file after its head hold only zero bytes."""
    step = (size - _HEAD_BYTES) // _BLANK_PROBES
    blank = 0
    for i in range(_BLANK_PROBES):
        f.seek(_HEAD_BYTES + i * step)
        blank += not f.read(_BLANK_PROBE_BYTES).strip(b"\0")
    return blank


def _check_wav(path: Path, head: bytes, size: int) -> None:
    """A WAV's ``data`` chunk states its length; FFmpeg quietly shortens the duration to what is there."""
    position = 12
    while position + 8 <= len(head):
        chunk_id, chunk_size = head[position : position + 4], struct.unpack("<I", head[position + 4 : position + 8])[0]
        if chunk_id == b"data":
            # 0 and 0xFFFFFFFF mark a stream written without knowing its length (and WAVs over 4 GB).
            if chunk_size in (0, 0xFFFFFFFF):
                return
            present = size - (position + 8)
            if present < chunk_size * 0.99:
                raise AudioError(
                    f"{path}: truncated: the file holds {_percent(present, chunk_size)} of the audio data its header declares"
                )
            return
        position += 8 + chunk_size + (chunk_size & 1)


def _check_ogg(path: Path, f, size: int) -> None:
    """An Ogg stream ends with a page flagged end-of-stream; a cut file ends without one, or mid-page."""
    tail_start = max(0, size - _HEAD_BYTES)
    f.seek(tail_start)
    tail = f.read()
    last = tail.rfind(b"OggS")
    if last < 0 or last + 27 > len(tail):
        raise AudioError(f"{path}: truncated: the Ogg stream has no complete last page")
    header_type = tail[last + 5]
    n_segments = tail[last + 26]
    lacing = tail[last + 27 : last + 27 + n_segments]
    page_end = last + 27 + n_segments + sum(lacing)
    if len(lacing) < n_segments or page_end > len(tail):
        raise AudioError(f"{path}: truncated: the Ogg stream's last page is cut off")
    if not header_type & 0x04:
        raise AudioError(f"{path}: truncated: the Ogg stream ends without its end-of-stream page")


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f} %"


def stream_samples(path: Path, time_range: Optional[TimeRange] = None, block_seconds: float = 30.0) -> Iterator[np.ndarray]:
    """Yield 16 kHz mono float32 blocks of about ``block_seconds`` from ``path``.

    With ``time_range=(start, end)`` only that part is decoded (``end`` None: to the end of the file).
    Raises AudioError when the file cannot be decoded, is truncated, or holds no samples.
    """
    import av

    start, end = time_range if time_range else (0.0, None)
    container = _open(path)
    try:
        stream = container.streams.audio[0]
        declared = probe_duration(container)
        # Only the audio stream's own length can show truncation; a container's length covers its
        # video track too, which may run longer than the sound.
        declared_audio = float(stream.duration * stream.time_base) if stream.duration is not None else None
        if time_range and declared is not None and start >= declared:
            raise AudioError(f"{path}: segment starts at {start:g} s, after the end of the audio ({declared:.1f} s)")
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        if start > 0:
            # Seeking lands on a packet at or before `start`; the samples before it are dropped below.
            container.seek(int(start / stream.time_base), stream=stream, backward=True, any_frame=False)
        origin = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        position: Optional[float] = None  # time of the next sample to be yielded, in the file's timeline
        block: list[np.ndarray] = []
        block_len = 0
        block_target = int(block_seconds * SAMPLE_RATE)
        produced = 0
        for samples, frame_time in _decode(container, stream, resampler, path):
            if position is None:
                position = (frame_time - origin) if (start > 0 and frame_time is not None) else 0.0
            if position < start:
                skip = int(round((start - position) * SAMPLE_RATE))
                taken = samples[skip:]
                position += min(skip, len(samples)) / SAMPLE_RATE
                samples = taken
                if not len(samples):
                    continue
            if end is not None:
                remaining = int(round((end - position) * SAMPLE_RATE))
                if remaining <= 0:
                    break
                samples = samples[:remaining]
            position += len(samples) / SAMPLE_RATE
            block.append(samples)
            block_len += len(samples)
            if block_len >= block_target:
                produced += block_len
                yield np.concatenate(block)
                block, block_len = [], 0
        if block_len:
            produced += block_len
            yield np.concatenate(block)
        if produced == 0:
            raise AudioError(
                f"{path}: contains no audio samples" if not time_range else f"{path}: segment {start:g}-{end} s holds no audio"
            )
        decoded = produced / SAMPLE_RATE
        # A cut-off download still decodes up to where it stops; the container's declared length is the
        # only way to notice (mp3 without a Xing header estimates it from the size, so passes).
        if not time_range and declared_audio is not None and decoded < 0.9 * declared_audio - 1.0:
            raise AudioError(f"{path}: truncated: decoded {decoded:.1f} s of the {declared_audio:.1f} s it declares")
    finally:
        container.close()


def probe_duration(container) -> Optional[float]:
    stream = container.streams.audio[0]
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return None


def _decode(container, stream, resampler, path: Path) -> Iterator[tuple[np.ndarray, Optional[float]]]:
    import av

    try:
        for frame in container.decode(stream):
            frame_time = frame.time
            frame.pts = None  # the resampler keeps its own clock; stale pts after a seek confuse it
            for out in resampler.resample(frame):
                yield out.to_ndarray().reshape(-1), frame_time
                frame_time = None
        for out in resampler.resample(None):
            yield out.to_ndarray().reshape(-1), None
    except av.error.FFmpegError as e:
        raise AudioError(f"{path}: corrupt audio ({_reason(e)})") from e


def chunks(path: Path, time_range: Optional[TimeRange] = None) -> Iterator[tuple[float, np.ndarray]]:
    """Yield ``(offset, samples)`` chunks of about CHUNK_SECONDS for recognition.

    ``offset`` is the chunk's start in the file's timeline. Chunks are cut at a quiet moment so that a
    word is not split between two of them.
    """
    offset = time_range[0] if time_range else 0.0
    chunk_target = int(CHUNK_SECONDS * SAMPLE_RATE)
    # Blocks are small, so the rest after a cut is never more than a chunk and a block.
    pending: list[np.ndarray] = []
    pending_len = 0
    for block in stream_samples(path, time_range):
        pending.append(block)
        pending_len += len(block)
        if pending_len < chunk_target + int(CUT_SEARCH_SECONDS * SAMPLE_RATE):
            continue
        rest = np.concatenate(pending)
        while len(rest) >= chunk_target + int(CUT_SEARCH_SECONDS * SAMPLE_RATE):
            cut = quiet_cut(rest, chunk_target)
            yield offset, rest[:cut]
            offset += cut / SAMPLE_RATE
            rest = rest[cut:]
        pending, pending_len = [rest], len(rest)
    if pending_len:
        yield offset, np.concatenate(pending)


def quiet_cut(audio: np.ndarray, target: int) -> int:
    """The sample index of the quietest 100 ms window in the CUT_SEARCH_SECONDS before ``target``."""
    window = SAMPLE_RATE // 10
    lo = max(0, target - int(CUT_SEARCH_SECONDS * SAMPLE_RATE))
    region = audio[lo:target]
    usable = len(region) // window * window
    if usable == 0:
        return target
    energy = np.square(region[:usable]).reshape(-1, window).mean(axis=1)
    return lo + int(np.argmin(energy)) * window + window // 2


def file_hash(path: Path) -> str:
    """SHA-256 of the file's bytes: the identity of an audio source, wherever it was found."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


# File endings taken as audio (or video with a sound track): in folders, links and enclosures.
AUDIO_EXTENSIONS = frozenset(
    "mp3 m4a m4b aac ogg oga opus spx wav wave flac webm weba mp4 m4v mkv mka wma aif aiff aifc amr 3gp caf mov".split()
)


def load(path: Path, time_range: Optional[TimeRange] = None) -> np.ndarray:
    """Decode a whole file (or time range) into one array. For short audio and tests; long files stream."""
    blocks = list(stream_samples(path, time_range))
    return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)


__all__ = [
    "AudioInfo",
    "SAMPLE_RATE",
    "TimeRange",
    "check_file",
    "chunks",
    "file_hash",
    "load",
    "probe",
    "stream_samples",
]
