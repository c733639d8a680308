"""Inputs that cost too much, lie, or cannot be read: each fails alone, in one line, and quickly.

Also what a bad cache entry, a Ctrl-C and onnxruntime's telemetry must not do. No speech model runs:
every audio case is refused before recognition, and the batches are text articles.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from indexer import audio
from indexer.cli import cli
from indexer.errors import ArticleError, AudioError
from indexer.models import Hit, Segment, Transcript, Word
from indexer.sources import classify

from .conftest import ROOT, SAMPLE_AUDIO, ffmpeg

PARAGRAPH = "The harbour council met on Tuesday and voted to keep the night ferry running through the winter."


def _article(folder: Path, name: str, title: str) -> Path:
    path = folder / name
    path.write_text(f"{title}\n\n{PARAGRAPH}\n\n{PARAGRAPH} {title}.\n")
    return path


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "indexer", *args]


def _env(tmp_path: Path) -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "INDEXER_CACHE": str(tmp_path / "cache")}


# ---------------------------------------------------------------- unreadable files


def test_an_unreadable_file_in_a_folder_fails_alone(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    _article(folder, "a.txt", "Alpha story")
    locked = _article(folder, "b.txt", "Bravo story")
    _article(folder, "c.txt", "Charlie story")
    locked.chmod(0)
    # Root reads any file; without the capabilities that let it, it meets the permissions a user does.
    prefix = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv, "util-linux setpriv is needed to test permissions as root"
        dropped = "-dac_override,-dac_read_search"
        prefix = [setpriv, f"--bounding-set={dropped}", f"--inh-caps={dropped}"]
    result = subprocess.run(
        [*prefix, *_cli("--index", str(tmp_path / "index"), "ingest", str(folder))],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"Error: {locked}: cannot read (Permission denied)"
    assert "Traceback" not in result.stderr
    ingested = [line for line in result.stdout.splitlines() if line.startswith("ingested article-")]
    assert len(ingested) == 2 and "Alpha story" in ingested[0] and "Charlie story" in ingested[1]


# ---------------------------------------------------------------- audio that lies or costs too much


def _wav_header(data_bytes: int, rate: int = 16000) -> bytes:
    return (
        b"RIFF"
        + struct.pack("<I", data_bytes + 36)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", data_bytes)
    )


@pytest.mark.parametrize("ext", ["wav", "ogg"])
def test_a_truncated_wav_or_ogg_is_refused_not_indexed_as_whole(clip: Path, tmp_path: Path, ext: str) -> None:
    whole = tmp_path / f"whole.{ext}"
    ffmpeg("-i", str(clip), *(["-c:a", "libvorbis"] if ext == "ogg" else []), str(whole))
    assert audio.probe(whole).duration == pytest.approx(18.0, abs=0.2)
    cut = tmp_path / f"cut.{ext}"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) * 3 // 10])
    expected = (
        "the file holds 30 % of the audio data its header declares" if ext == "wav" else "the Ogg stream's last page is cut off"
    )
    with pytest.raises(AudioError, match=f"{cut}: truncated: {expected}"):
        audio.probe(cut)
    # Cut exactly at a page boundary, an Ogg file still lacks its end-of-stream page.
    if ext == "ogg":
        boundary = data.rfind(b"OggS", 0, len(data) // 2)
        cut.write_bytes(data[:boundary])
        with pytest.raises(AudioError, match="ends without its end-of-stream page"):
            audio.probe(cut)


def test_a_zero_filled_mp3_is_refused_at_once(tmp_path: Path) -> None:
    zeros = tmp_path / "zeros.mp3"
    with open(zeros, "wb") as f:
        f.truncate(1_000_000_000)  # sparse: 1 GB that costs no disk
    started = time.monotonic()
    with pytest.raises(AudioError, match="not audio: it starts with 64 kB of zero bytes"):
        audio.probe(zeros)
    assert time.monotonic() - started < 1


def test_real_mp3_followed_by_a_gigabyte_of_zeros_is_refused_at_once(tmp_path: Path) -> None:
    padded = tmp_path / "padded.mp3"
    padded.write_bytes(SAMPLE_AUDIO.read_bytes())
    with open(padded, "r+b") as f:
        f.truncate(1_000_000_000)  # FFmpeg would read the zeros as one 1 GB packet, holding 2 GB
    started = time.monotonic()
    with pytest.raises(AudioError, match=r"not audio: 1[56] of 16 places sampled across it hold only zero bytes"):
        audio.probe(padded)
    assert time.monotonic() - started < 1


def test_a_sparse_wav_of_hours_of_nothing_is_refused_at_once(tmp_path: Path) -> None:
    sparse = tmp_path / "sparse.wav"
    size = 2_000_000_000
    with open(sparse, "wb") as f:
        f.write(_wav_header(size - 44))
        f.truncate(size)
    started = time.monotonic()
    with pytest.raises(AudioError, match="holds only zero bytes after its first 64 kB"):
        audio.probe(sparse)
    assert time.monotonic() - started < 1


def test_real_audio_still_passes_the_checks(clip: Path) -> None:
    audio.check_file(clip)
    assert audio.probe(clip).duration == pytest.approx(18.0, abs=0.05)


# ---------------------------------------------------------------- articles that are not articles


def test_random_bytes_in_a_txt_file_are_not_an_article(tmp_path: Path) -> None:
    import random

    path = tmp_path / "notes.txt"
    path.write_bytes(random.Random(1).randbytes(5000))
    with pytest.raises(ArticleError, match=r"notes.txt: not a text article \(binary data: \d+ control characters\)"):
        classify.read_article(path, "text", str(path))


def test_a_huge_page_is_refused_before_parsing(tmp_path: Path) -> None:
    page = tmp_path / "huge.html"
    page.write_bytes(b"<html><body>" + b"<p>word word word</p>" * 2_500_000 + b"</body></html>")  # 53 MB
    started = time.monotonic()
    with pytest.raises(ArticleError, match=r"huge.html: 53 MB is too large for an article page \(at most 8 MB\)"):
        classify.read_article(page, "html", str(page))
    assert time.monotonic() - started < 1


# ---------------------------------------------------------------- cached transcripts and JSON


GOOD = {
    "segments": [
        {"start": 0.5, "end": 1.5, "text": " Hello", "words": [{"start": 0.5, "end": 1.5, "word": " Hello", "probability": 0.9}]}
    ],
    "language": "en",
    "duration": 2.0,
}


@pytest.mark.parametrize(
    "poison",
    [
        {"start": "abc"},
        {"text": 123},
        {"start": math.nan},
        {"end": math.inf},
        {"start": -1.0},
        {"start": True},
        {"words": [{"start": 0.5, "end": 1.5, "word": " Hello"}]},  # no probability: still fine, 1.0
        {"words": "nope"},
    ],
)
def test_a_poisoned_cache_entry_is_discarded_on_read(tmp_path: Path, poison: dict, caplog) -> None:
    from indexer.asr import TranscriptCache

    entry = json.loads(json.dumps(GOOD))
    entry["segments"][0].update(poison)
    cache = TranscriptCache(tmp_path)
    key = "ab" + "0" * 62
    path = tmp_path / key[:2] / f"{key}.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(entry))  # json writes NaN and Infinity, as a damaged cache may hold them
    found = cache.get(key)
    if "words" in poison and isinstance(poison["words"], list):
        assert found is not None and found.segments[0].words[0].probability == 1.0
    else:
        assert found is None
        assert "ignoring unreadable cached transcript" in caplog.text
    path.write_text(json.dumps(GOOD))
    assert cache.get(key).segments[0].text == " Hello"


def test_json_output_never_carries_nan() -> None:
    hit = Hit(
        kind="audio",
        source_id="audio-1",
        title="t",
        text="x",
        snippet="x",
        score=math.nan,
        audio="a.mp3",
        start=math.nan,
        end=math.inf,
    )
    assert json.loads(json.dumps(hit.to_dict(), allow_nan=False))["start"] is None
    transcript = Transcript([Segment(0.0, 1.0, "x", [Word(0.0, 1.0, "x", 1.0)])], "en", 1.0)
    assert Transcript.from_dict(json.loads(json.dumps(transcript.to_dict()))) == transcript


# ---------------------------------------------------------------- onnxruntime telemetry


def test_onnxruntime_writes_nothing_under_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    code = "import indexer, onnxruntime; from faster_whisper.vad import get_vad_model; get_vad_model()"
    subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        timeout=120,
        env={**os.environ, "HOME": str(home), "PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(home / ".cache")},
    )
    assert list(home.rglob("*")) == []


# ---------------------------------------------------------------- Ctrl-C


def test_ctrl_c_exits_130_at_once_and_says_what_landed(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    for i in range(400):
        _article(folder, f"story-{i:03d}.txt", f"Story number {i}")
    index = tmp_path / "index"
    process = subprocess.Popen(
        _cli("--index", str(index), "ingest", str(folder)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp_path),
    )
    deadline = time.monotonic() + 120
    # _MAIN_0.toc is the new, empty index; a later generation is the first commit.
    while not [p for p in index.glob("*.toc") if p.name != "_MAIN_0.toc"] and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    interrupted = time.monotonic()
    stdout, stderr = process.communicate(timeout=60)
    assert time.monotonic() - interrupted < 3
    assert process.returncode == 130, stderr
    ingested = [line.split()[1] for line in stdout.splitlines() if line.startswith("ingested ")]
    assert 0 < len(ingested) < 400
    assert f"Interrupted: {len(ingested)} source(s) above were written to the index" in stderr
    assert "Traceback" not in stderr and "Aborted!" not in stderr
    listed = json.loads(CliRunner().invoke(cli, ["--index", str(index), "sources", "--json"]).output)
    assert sorted(s["id"] for s in listed) == sorted(ingested)
