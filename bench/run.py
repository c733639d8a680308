"""Benchmarks: indexer against the alternatives, in the same run, on this machine.

    python bench/run.py asr|memory|search|names|scale|all [--quick] [--work-dir DIR]

Each prints a markdown table and a final one-line summary. Figures go into bench/RESULTS.md by hand
(with the date, machine and command): benchmarks report, tests check behaviour.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import podcast  # noqa: E402  (bench/podcast.py)

from indexer import Index, audio  # noqa: E402
from indexer.asr import Transcriber  # noqa: E402
from indexer.asr.weights import resolve_ct2_model  # noqa: E402
from tests.evaluation import word_error_rate as wer  # noqa: E402  (the tests' WER, so the figures compare)


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


# -- asr ------------------------------------------------------------------------------------------


def bench_asr(work: Path, quick: bool) -> str:
    """indexer ingest end to end, raw faster-whisper (beam 5, words) and the openai-whisper engine."""
    minutes = 2.0 if quick else 5.0
    episode, reference = podcast.make_podcast(work / "audio", minutes=minutes)
    duration = declared_duration(episode)
    # Folders of short files cut from the same episode: ~30-second clips, and ~15-second ones
    # (sound bites, voice notes), where a file half fills a Whisper window.
    folders = {
        seconds: split_into_files(episode, work / "audio" / f"{episode.stem}-clips{seconds}", seconds=seconds)
        for seconds in (30, 10)
    }
    cache = work / f"cache-{time.time_ns()}"
    measured = {}

    # The alternatives run first: the indexer, run as the CLI runs it (tune_memory), tunes glibc's
    # allocator for the whole process when it loads (indexer/asr/allocator.py), and they should run as they would
    # on their own.
    # 1. raw faster-whisper: beam 5, word timestamps, its own defaults otherwise (no VAD).
    from faster_whisper import WhisperModel

    model = WhisperModel(resolve_ct2_model(None, cache), device="cpu", compute_type="int8", cpu_threads=os.cpu_count())
    started = time.perf_counter()
    segments, _ = model.transcribe(str(episode), beam_size=5, word_timestamps=True, language="en")
    raw_text = " ".join(s.text.strip() for s in segments)
    measured["faster-whisper-beam5"] = (time.perf_counter() - started, wer(reference, raw_text))
    del model

    # 2. the openai-whisper engine through the same pipeline.
    transcriber = Transcriber(engine="openai-whisper", cache_dir=cache)
    transcriber.engine  # noqa: B018  (convert and load before timing)
    started = time.perf_counter()
    ow = transcriber.transcribe(episode)
    measured["openai-whisper"] = (time.perf_counter() - started, wer(reference, ow.text))

    # 3. indexer ingest, end to end (decode, VAD, recognition, words, indexing), model preloaded
    #    the way a batch amortises it; the load is reported on its own line.
    # 4. the same audio as folders of short clips: the model loads once and the next clips start
    #    while one is indexed. What a file costs beyond its audio shows as the folders' excess.
    # Runs of the same ingest vary by ~10 % on this machine, more than the differences between
    # them, so they alternate, each into a fresh index with no cached transcripts, and the median
    # counts. The cache directory stays the same: the loaded model is kept per cache directory.
    started = time.perf_counter()
    Index(work / f"index-{time.time_ns()}", cache_dir=cache, tune_memory=True).transcriber.engine  # noqa: B018  (load the model)
    load = time.perf_counter() - started
    walls: dict[str, list[float]] = {"file": [], **{f"folder{seconds}": [] for seconds in folders}}
    targets = {"file": episode, **{f"folder{seconds}": folder for seconds, folder in folders.items()}}
    folder_rows: dict[str, str] = {}  # kind -> its row in the table
    for _ in range(1 if quick else 3):
        for kind, target in targets.items():
            shutil.rmtree(cache / "transcripts", ignore_errors=True)
            index = Index(work / f"index-{time.time_ns()}", cache_dir=cache, tune_memory=True)
            started = time.perf_counter()
            report = index.ingest(target)
            walls[kind].append(time.perf_counter() - started)
            assert report.ok, report.failures
            ingested = sorted(report.ingested, key=lambda s: s.location)
            text = " ".join(index.transcript(s.id).text for s in ingested)
            if kind == "file":
                measured["indexer"] = (statistics.median(walls[kind]), wer(reference, text))
                file_index = index
            else:
                sizes = [declared_duration(Path(s.location)) for s in ingested]
                folder_rows[kind] = f"indexer, {len(ingested)} files of {min(sizes):.0f}-{max(sizes):.0f} s"
                measured[folder_rows[kind]] = (statistics.median(walls[kind]), wer(reference, text))
    index = file_index

    order = ["indexer", "faster-whisper-beam5", "openai-whisper", *folder_rows.values()]
    rows = [(name, *measured[name]) for name in order]

    breakdown = stage_times(episode, index)

    lines = [
        f"### asr: {episode.name}, {duration:.0f} s ({minutes:g} min podcast-like: speech, music beds, pauses)",
        "",
        "| pipeline | wall | x real time | WER |",
        "|---|---|---|---|",
    ]
    for name, seconds, error in rows:
        lines.append(f"| {name} | {seconds:.1f} s | {duration / seconds:.1f}x | {error:.3f} |")
    ours = rows[0][1]
    lines += [
        "",
        f"model load (once per process): {load:.1f} s; indexer is {rows[1][1] / ours:.2f}x raw faster-whisper's "
        f"speed and {rows[2][1] / ours:.2f}x openai-whisper's",
        "indexer walls, file and folders alternating (the table has the median): "
        + "; ".join(f"{kind} " + ", ".join(f"{w:.1f}" for w in values) + " s" for kind, values in walls.items()),
        "",
        f"| stage (indexer defaults, one worker; ingest runs {index.transcriber.engine.workers} at once) | seconds | share |",
        "|---|---|---|",
    ]
    worked = sum(breakdown.values())
    for stage, seconds in breakdown.items():
        lines.append(f"| {stage} | {seconds:.2f} | {seconds / worked:.0%} |")
    # The documented summary: "asr: indexer 21.3x real time WER 0.081; faster-whisper-beam5 12.4x WER ..."
    summary = "asr: " + "; ".join(
        f"{name} {duration / seconds:.1f}x{' real time' if i == 0 else ''} WER {error:.3f}"
        for i, (name, seconds, error) in enumerate(rows[:3])
    )
    return "\n".join(lines + ["", summary])


def declared_duration(path: Path) -> float:
    """The duration ``path`` declares: the benchmark's own MP3s (episodes and their clips) always declare one."""
    duration = audio.probe(path).duration
    assert duration is not None, f"{path} declares no duration"
    return duration


def stage_times(episode: Path, index: Index) -> dict[str, float]:
    """Where ingest's work goes: each stage timed on its own on the same file, on one worker.

    The pipeline runs recognition on ``workers`` chunks at once, so these are CPU-seconds of one
    worker, not shares of the wall time.
    """
    from indexer.asr.faster import FasterWhisperEngine
    from indexer.asr.vad import speech_ranges

    engine = index.transcriber.engine
    assert isinstance(engine, FasterWhisperEngine), "the stages are timed on the default engine, faster-whisper's"
    model = engine._model  # the pipeline's own model: int8, one thread per worker
    times: dict[str, float] = {}
    started = time.perf_counter()
    chunks = [samples for _, samples in audio.chunks(episode)]
    times["decode + resample (PyAV), 2-minute chunks"] = time.perf_counter() - started

    started = time.perf_counter()
    speech = [speech_ranges(samples) for samples in chunks]
    times["VAD (Silero)"] = time.perf_counter() - started
    speech_seconds = sum(end - start for found in speech for start, end in found) / audio.SAMPLE_RATE
    total_seconds = sum(len(samples) for samples in chunks) / audio.SAMPLE_RATE
    times[f"  (speech found: {speech_seconds:.0f} of {total_seconds:.0f} s)"] = 0.0

    # Word alignment happens inside recognition; faster-whisper's find_alignment (the
    # cross-attention pass and DTW for every window) is timed in place.
    aligning = [0.0]
    find_alignment = model.find_alignment

    def timed_alignment(*args, **kwargs):
        started = time.perf_counter()
        try:
            return find_alignment(*args, **kwargs)
        finally:
            aligning[0] += time.perf_counter() - started

    model.find_alignment = timed_alignment
    try:
        started = time.perf_counter()
        for samples in chunks:
            list(model.transcribe(samples, beam_size=5, vad_filter=True, word_timestamps=True, language="en")[0])
        recognising = time.perf_counter() - started
    finally:
        del model.find_alignment  # the class's method again
    times["recognition, beam 5, on speech"] = recognising - times["VAD (Silero)"] - aligning[0]
    times["word alignment"] = aligning[0]

    source = index.sources()[0]
    transcript = index.transcript(source.id)
    started = time.perf_counter()
    index._text.write([source], transcripts={source.id: transcript})
    times["indexing (one Whoosh commit)"] = time.perf_counter() - started
    return times


def split_into_files(episode: Path, folder: Path, seconds: int) -> Path:
    """Cut an episode into files of about ``seconds`` each, at the pause between two sentences.

    A folder of short files is clips that each hold whole sentences; cutting mid-word would make
    Whisper pay an extra window per file for a broken word (measured 32.5x with 30 s cuts at any
    sample, WER 0.053) and measure the cut rather than per-file overhead. Frames are copied, not
    re-encoded.
    """
    import json

    if not any(folder.glob("part-*.mp3")):
        manifest = json.loads(episode.with_name(episode.stem + ".sentences.json").read_text())
        sentences = manifest["sentences"]
        cuts, last = [], 0.0
        for before, after in zip(sentences, sentences[1:]):
            if after["start"] - last >= seconds:  # cut in the middle of the pause before `after`
                last = (before["end"] + after["start"]) / 2
                cuts.append(last)
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                podcast.speech.ffmpeg_exe(),
                "-loglevel",
                "error",
                "-i",
                str(episode),
                "-f",
                "segment",
                "-segment_times",
                ",".join(f"{t:.3f}" for t in cuts),
                "-c",
                "copy",
                str(folder / "part-%03d.mp3"),
            ],
            check=True,
        )
    return folder


# -- memory ---------------------------------------------------------------------------------------


def bench_memory(work: Path, quick: bool) -> str:
    """Peak RSS of `indexer ingest` (a fresh process each) on long files made by concatenation."""
    episode, _ = podcast.make_podcast(work / "audio", minutes=5.0)
    lengths = [("10 min", 600), ("30 min", 1800)] if quick else [("10 min", 600), ("1 h", 3600), ("3 h", 10800)]
    rows = []
    for label, seconds in lengths:
        long_file = podcast.concat_to_length(episode, work / "audio" / f"long_{seconds}.mp3", seconds)
        peak, wall = peak_rss_of_ingest(long_file, work)
        rows.append((label, seconds, peak, wall))
    lines = [
        "### memory: `indexer ingest` of one long file, a fresh process each",
        "",
        "| audio | peak RSS | wall | x real time |",
        "|---|---|---|---|",
    ]
    for label, seconds, peak, wall in rows:
        lines.append(f"| {label} | {peak / 2**20:.0f} MB | {wall:.0f} s | {seconds / wall:.1f}x |")
    first, last = rows[0][2], rows[-1][2]
    growth = last / first - 1
    summary = (
        "memory: "
        + "; ".join(f"{label} {peak / 2**20:.0f} MB" for label, _, peak, _ in rows)
        + f" ({rows[-1][0]} is {growth:+.0%} of {rows[0][0]})"
    )
    return "\n".join(lines + ["", summary])


# The child reports its own high-water mark as it exits. ru_maxrss from wait4 would not do: Linux
# carries the parent's high-water mark into the child across fork and exec, so after the asr bench
# (openai-whisper loaded, 1.6 GB) every child "peaked" at the parent's size.
_REPORT_PEAK = """
import atexit, os, sys

def report():
    with open("/proc/self/status") as status, open(os.environ["BENCH_PEAK_FILE"], "w") as out:
        out.write(next(line for line in status if line.startswith("VmHWM")).split()[1])

atexit.register(report)
from indexer.cli import cli
cli(prog_name="indexer")
"""


def peak_rss_of_ingest(path: Path, work: Path) -> tuple[int, float]:
    peak_file = work / f"peak-{time.time_ns()}"
    env = dict(os.environ, INDEXER_CACHE=str(work / f"mem-cache-{time.time_ns()}"), BENCH_PEAK_FILE=str(peak_file))
    command = [sys.executable, "-c", _REPORT_PEAK, "--index", str(work / f"mem-index-{time.time_ns()}"), "ingest", str(path)]
    started = time.perf_counter()
    result = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"ingest of {path} failed: {result.stderr}")
    return int(peak_file.read_text()) * 1024, wall  # VmHWM is in kB


# -- search ---------------------------------------------------------------------------------------


def bench_search(work: Path, quick: bool) -> str:
    import io

    import search

    out = io.StringIO()
    sizes = [10_000] if quick else [10_000, 100_000, 1_000_000]
    search.run(sizes, out, work / "search", quick=quick)
    # The web page over the same corpus: the search page a user sees, served by `indexer serve`.
    import web

    summary = out.getvalue().rstrip().splitlines()[-1]
    web.run(10_000 if quick else 100_000, out, work, queries_per_class=10 if quick else 30)
    return out.getvalue().rstrip() + "\n\n" + summary + "; " + out.getvalue().rstrip().splitlines()[-1]


def bench_names(work: Path, quick: bool) -> str:
    """Names, numbers and spellings found where they are spoken: alignment against the old method."""
    import names_eval

    return names_eval.run(work, quick)


def bench_scale(work: Path, quick: bool) -> str:
    import io

    import scale

    out = io.StringIO()
    sizes = [10_000] if quick else [100_000, 300_000]
    scale.run(sizes, sizes[-1], work / "scale", out)
    return out.getvalue().rstrip()


BENCHES = {"asr": bench_asr, "memory": bench_memory, "search": bench_search, "names": bench_names, "scale": bench_scale}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bench", choices=[*BENCHES, "all"])
    parser.add_argument("--quick", action="store_true", help="smaller inputs: a few minutes in all")
    parser.add_argument("--work-dir", type=Path, help="where generated audio and indexes go [a temp dir]")
    args = parser.parse_args(argv)
    work = args.work_dir or Path(tempfile.gettempdir()) / "indexer-bench"
    work.mkdir(parents=True, exist_ok=True)
    print(f"# {time.strftime('%Y-%m-%d')} on {machine()}: python bench/run.py {' '.join(argv or sys.argv[1:])}\n")
    summaries = []
    for name in BENCHES if args.bench == "all" else [args.bench]:
        report = BENCHES[name](work, args.quick)
        print(report + "\n", flush=True)
        summaries.append(report.splitlines()[-1])
    if len(summaries) > 1:
        print("\n".join(summaries))
    return 0


if __name__ == "__main__":
    sys.exit(main())
