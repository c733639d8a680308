"""Decoding real audio in every common container, in spans and chunks, and refusing what is not audio."""

from __future__ import annotations

import numpy as np
import pytest

from indexer import audio
from indexer.errors import AudioError, SourceError

from .conftest import ffmpeg

FORMATS = {
    "mp3": ["-c:a", "libmp3lame", "-b:a", "48k"],
    "m4a": ["-c:a", "aac", "-b:a", "48k"],
    "ogg": ["-c:a", "libvorbis"],
    "opus": ["-c:a", "libopus", "-b:a", "32k"],
    "flac": ["-c:a", "flac"],
    "wav": [],
}


@pytest.fixture(scope="module")
def encoded(clip, tmp_path_factory):
    folder = tmp_path_factory.mktemp("formats")
    files = {}
    for ext, args in FORMATS.items():
        files[ext] = folder / f"clip.{ext}"
        ffmpeg("-i", str(clip), *args, str(files[ext]))
    # Video containers: the audio track of a small synthetic picture.
    for ext, vcodec, acodec in (("mp4", "mpeg4", "aac"), ("webm", "libvpx", "libopus")):
        files[ext] = folder / f"clip.{ext}"
        ffmpeg(
            "-f",
            "lavfi",
            "-i",
            "color=size=32x32:rate=2",
            "-i",
            str(clip),
            "-shortest",
            "-c:v",
            vcodec,
            "-c:a",
            acodec,
            str(files[ext]),
        )
    return files


@pytest.mark.parametrize("ext", [*FORMATS, "mp4", "webm"])
def test_every_format_decodes_to_16khz_mono(encoded, ext):
    samples = audio.load(encoded[ext])
    assert samples.dtype == np.float32 and samples.ndim == 1
    # 18 s of speech; lossy codecs pad a little at the ends.
    assert len(samples) / audio.SAMPLE_RATE == pytest.approx(18.0, abs=0.15)
    assert 0.01 < float(np.sqrt(np.mean(samples**2))) < 0.5
    if ext not in ("mp4", "webm"):  # a container's length includes its video track
        assert audio.probe(encoded[ext]).duration == pytest.approx(18.0, abs=0.2)


def test_a_span_is_the_same_samples_as_the_whole_files(clip):
    whole = audio.load(clip)
    part = audio.load(clip, (5.0, 10.0))
    assert len(part) == 5 * audio.SAMPLE_RATE
    offset = 5 * audio.SAMPLE_RATE
    # The resampler starts afresh at a seek: its first few samples differ, the rest are identical.
    assert np.abs(part[64:] - whole[offset + 64 : offset + len(part)]).max() < 1e-3


def test_a_span_to_the_end_of_the_file(clip):
    assert len(audio.load(clip, (15.0, None))) / audio.SAMPLE_RATE == pytest.approx(3.0, abs=0.01)


def test_a_span_after_the_end_is_refused(clip):
    with pytest.raises(AudioError, match="after the end of the audio"):
        audio.load(clip, (60.0, 70.0))


def test_chunks_cover_the_file_once_and_cut_in_quiet_places(clip, monkeypatch):
    monkeypatch.setattr(audio, "CHUNK_SECONDS", 5.0)
    monkeypatch.setattr(audio, "CUT_SEARCH_SECONDS", 1.5)
    whole = audio.load(clip)
    pieces = list(audio.chunks(clip))
    assert len(pieces) >= 3
    position = 0
    for offset, samples in pieces:
        assert offset == pytest.approx(position / audio.SAMPLE_RATE)
        position += len(samples)
    joined = np.concatenate([samples for _, samples in pieces])
    assert len(joined) == len(whole) and np.array_equal(joined, whole)
    # Each cut lands in the quietest 100 ms of its search window, quieter than the window's average.
    for _offset, samples in pieces[:-1]:
        tail = samples[-800:]
        assert float(np.mean(tail**2)) <= float(np.mean(samples[-int(1.5 * audio.SAMPLE_RATE) :] ** 2))


def test_missing_file(tmp_path):
    with pytest.raises(SourceError, match="no such file"):
        audio.probe(tmp_path / "nope.mp3")


def test_text_is_not_audio(tmp_path):
    fake = tmp_path / "notes.mp3"
    fake.write_text("this is a text file, not audio\n" * 20)
    with pytest.raises(AudioError, match="not an audio file FFmpeg can read"):
        audio.load(fake)


def test_zero_length_file(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match="is empty"):
        audio.load(empty)


@pytest.mark.parametrize("ext, message", [("flac", "truncated"), ("m4a", "not an audio file FFmpeg can read")])
def test_truncated_file(encoded, tmp_path, ext, message):
    # FLAC declares its length in its header; an m4a's index (moov) sits at the end and is cut off.
    cut = tmp_path / f"cut.{ext}"
    data = encoded[ext].read_bytes()
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(AudioError, match=message):
        audio.load(cut)


def test_no_samples(tmp_path):
    silent = tmp_path / "nothing.wav"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "0", str(silent))
    with pytest.raises(AudioError, match="no audio samples"):
        audio.load(silent)


def test_hash_is_of_the_bytes(clip, tmp_path):
    copy = tmp_path / "same.wav"
    copy.write_bytes(clip.read_bytes())
    assert audio.file_hash(copy) == audio.file_hash(clip)
