"""Web page benchmark: how long `indexer serve` takes to answer a search page on a large index.

    python bench/web.py [--size 100000] [--queries 30] [--work-dir DIR]

Builds (or reuses) a Whoosh index of ``size`` synthetic transcript segments with ``bench/search.py``'s
corpus (one commit; the same documents, episodes and query classes as the search benchmark), starts
``python -m indexer serve`` on a free loopback port, and times over HTTP, from request to the last
byte: the search page (``/?q=``, 20 hits shown and one more asked for to know whether there are
more), the same query from the JSON API (``/api/search?limit=20``), and the transcript page of an
episode. Beside them, in this process: the same search page through Starlette's test client, and
``Index.search`` with the same limit, the library's share.
Each query is asked once untimed first, so the figures are for a warm index, as on a page a user
keeps open. Prints a markdown table and a one-line summary.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Optional, TextIO

import httpx
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import search  # noqa: E402  (bench/search.py)

from indexer import Index  # noqa: E402

PAGE = 20
CLASSES = search.CLASSES


def build(size: int, work_dir: Path, seed: int = 0) -> tuple[Path, "search.Corpus"]:
    """The one-commit index of ``size`` segments under ``work_dir``, built once and then reused."""
    corpus = search.make_corpus(size, seed)
    directory = Path(work_dir) / "web" / f"{size}-seed{seed}-v{search.GENERATOR_VERSION}"
    marker = directory / "built"
    if not marker.exists():
        print(f"  building {directory} ({size} segments, one commit)", file=sys.stderr, flush=True)
        search.build_whoosh_bulk(corpus, directory)
        marker.write_text("ok")
    return directory, corpus


def start_server(index_dir: Path) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    process = subprocess.Popen(
        [sys.executable, "-m", "indexer", "--index", str(index_dir), "serve", "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    stderr = process.stderr
    assert stderr is not None  # stderr=PIPE
    line = stderr.readline()
    found = re.search(r"at (http://\S+/) ", line)
    if not found:
        process.kill()
        raise RuntimeError(f"indexer serve did not start: {line}{stderr.read()}")
    return process, found.group(1)


def _times(fn: Callable[[str], object], items: list[str]) -> list[float]:
    for item in items:
        fn(item)  # warm: the first request for a query reads its postings from disk
    out = []
    for item in items:
        t = time.perf_counter()
        fn(item)
        out.append((time.perf_counter() - t) * 1000)
    return out


def _stats(ms: list[float]) -> dict:
    return {
        "p50_ms": round(statistics.median(ms), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "max_ms": round(max(ms), 2),
        "n": len(ms),
    }


def run(size: int, out: TextIO, work_dir: Path, *, queries_per_class: int = 30, seed: int = 0) -> dict:
    """Time the search page, the API and the transcript page at ``size`` segments; see the module doc."""
    index_dir, corpus = build(size, work_dir, seed)
    queries = search.make_queries(corpus, queries_per_class, seed)
    episodes = [corpus.source_id(e) for e in range(0, len(corpus.episodes), max(1, len(corpus.episodes) // 10))]
    words_per_episode = statistics.median(
        sum(len(corpus.segment_words(i)) for i in range(*corpus.episodes[e])) for e in range(len(corpus.episodes))
    )
    process, url = start_server(index_dir)
    with_hits: set[str] = set()
    results: dict = {"size": size, "queries_per_class": queries_per_class, "page": {}, "api": {}, "library": {}}
    try:
        with httpx.Client(base_url=url, timeout=60) as client:

            def page(q: str) -> None:
                response = client.get("/", params={"q": q})
                response.raise_for_status()
                if 'class="hit audio"' in response.text:
                    with_hits.add(q)

            def api(q: str) -> None:
                client.get("/api/search", params={"q": q, "limit": PAGE}).raise_for_status()

            def transcript(source_id: str) -> None:
                client.get(f"/audio/{source_id}").raise_for_status()

            for cls in CLASSES:
                results["page"][cls] = _stats(_times(page, queries[cls]))
                results["api"][cls] = _stats(_times(api, queries[cls]))
            results["queries_with_hits"] = f"{len(with_hits)} of {len({q for qs in queries.values() for q in qs})}"
            results["transcript_page"] = _stats(_times(transcript, episodes))
            results["transcript_words"] = int(words_per_episode)
            results["transcript_bytes"] = len(client.get(f"/audio/{episodes[0]}").content)
    finally:
        process.terminate()
        process.wait(timeout=30)
    # The same page made in this process (no HTTP, no second process), beside the library call it makes.
    from starlette.testclient import TestClient

    from indexer.web import create_app

    results["in_process"] = {}
    index = Index(index_dir)
    with TestClient(create_app(Index(index_dir)), base_url="http://127.0.0.1") as local:
        for cls in CLASSES:
            results["library"][cls] = _stats(_times(lambda q: index.search(q, limit=PAGE + 1), queries[cls]))
            results["in_process"][cls] = _stats(
                _times(lambda q: local.get("/", params={"q": q}).raise_for_status(), queries[cls])
            )
    _report(results, out)
    return results


def _report(r: dict, out: TextIO) -> None:
    print(
        f"\n### Web page: `indexer serve` at {r['size']:,} segments, {r['queries_per_class']} queries per class, "
        "warm, p50 / p95 ms (request to last byte, loopback)\n",
        file=out,
    )
    print("| what | " + " | ".join(search.CLASS_LABELS[c] for c in CLASSES) + " |", file=out)
    print("|" + "---|" * (1 + len(CLASSES)), file=out)
    for key, label in (
        ("page", f"search page `/?q=` ({PAGE} hits + 1)"),
        ("api", f"`/api/search?limit={PAGE}`"),
        ("in_process", "search page made in-process (Starlette's test client: no HTTP, no second process)"),
        ("library", f"`Index.search(limit={PAGE + 1})` in-process"),
    ):
        cells = [f"{r[key][c]['p50_ms']:.1f} / {r[key][c]['p95_ms']:.1f}" for c in CLASSES]
        print(f"| {label} | " + " | ".join(cells) + " |", file=out)
    t = r["transcript_page"]
    print(f"\nDistinct queries whose page had hits: {r['queries_with_hits']}.", file=out)
    print(
        f"\nTranscript page `/audio/ID` of an episode (median {r['transcript_words']:,} words, "
        f"{r['transcript_bytes'] / 1e6:.1f} MB of HTML): p50 {t['p50_ms']:.0f} ms, p95 {t['p95_ms']:.0f} ms.",
        file=out,
    )
    worst = max(r["page"][c]["p95_ms"] for c in CLASSES)
    r["summary"] = (
        f"web: search page p50 {r['page']['rare']['p50_ms']:.1f} ms (rare) / {r['page']['frequent']['p50_ms']:.1f} ms "
        f"(frequent), p95 at most {worst:.1f} ms at {search._tag(r['size'])} segments; in-process page "
        f"{r['in_process']['frequent']['p50_ms']:.1f} ms and library search alone {r['library']['frequent']['p50_ms']:.1f} ms "
        f"(frequent); transcript page p50 {t['p50_ms']:.0f} ms"
    )
    print("\n" + r["summary"], file=out)


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=100_000, help="transcript segments (default 100000)")
    ap.add_argument("--queries", type=int, default=30, help="queries per class (default 30)")
    ap.add_argument("--work-dir", type=Path, default=Path("/tmp/indexer-bench"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    run(args.size, sys.stdout, args.work_dir, queries_per_class=args.queries, seed=args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
