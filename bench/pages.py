"""Real pages: how much of each page's own media, title and text the indexer finds; a batch of pages' speed.

    python bench/pages.py [--verbose]
    python bench/pages.py batch [--pages N] [--seconds S] [--code DIR]
    python bench/pages.py evaldata TRAFILATURA_TESTS [--code DIR]

Reads the pages of tests/data/corpus/pages (real pages from public test corpora, see SOURCES.md there)
the way ``ingest`` reads a downloaded page, offline, and scores them against expected.json: pages whose
media were all found, partly found or not found, false media (a file that is not the page's own, or the
same recording twice), boilerplate phrases kept in the body, body phrases found and titles. Prints a
markdown table and a one-line summary.

``evaldata`` reads the ~990 pages of trafilatura's own evaluation set (``tests/evaldata.json`` and the
pages in ``tests/eval`` and ``tests/cache`` of a trafilatura checkout) the same way and counts their
annotated boilerplate and body phrases: a wider check that a change of the text extraction loses no
article text.

``batch`` serves N pages over a loopback server, each embedding an S-second clip of the sample speech,
and ingests them in one call with an empty cache: the wall time against the audio's duration, then
the same clips as a folder of audio files. ``--code DIR`` runs another checkout's ``indexer`` (to
measure before and after).
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if "--code" in sys.argv:
    sys.path.insert(0, str(Path(sys.argv[sys.argv.index("--code") + 1]).resolve()))
else:
    sys.path.insert(0, str(HERE.parent))

from indexer.errors import IndexerError  # noqa: E402
from indexer.sources.html import read_html_article  # noqa: E402

CORPUS = HERE.parent / "tests" / "data" / "corpus" / "pages"


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def score_page(name: str, expected: dict) -> dict:
    data = gzip.decompress((CORPUS / name).read_bytes())
    try:
        article = read_html_article(data, expected["url"])
    except IndexerError as e:
        return {
            "name": name,
            "error": str(e),
            "media": "none",
            "false": 0,
            "leaks": len(expected["without"]),
            "phrases": 0,
            "title": False,
            "found": [],
        }
    urls = [ref.url for ref in article.audio]
    wanted = expected["media"]
    allowed = wanted + expected.get("optional_media", [])
    matched = [sum(any(alt in url for alt in item) for url in urls) for item in wanted]
    false = sum(1 for url in urls if not any(alt in url for item in allowed for alt in item))
    false += sum(n - 1 for n in matched if n > 1)  # the same recording taken twice
    if all(matched):
        media = "all"
    elif any(matched):
        media = "part"
    else:
        media = "none"
    body = _norm("\n".join(article.paragraphs))
    return {
        "name": name,
        "media": media,
        "false": false,
        "leaks": sum(_norm(phrase) in body for phrase in expected["without"]),
        # Some corpora list the headline among the body's phrases; the indexer keeps it as the title.
        "phrases": sum(_norm(phrase) in body or _norm(phrase) in _norm(article.title) for phrase in expected["with"]),
        "title": _norm(expected["title"]) == _norm(article.title),
        "found": urls,
        "got_title": article.title,
    }


def bench_evaldata(tests: Path) -> None:
    """Boilerplate and body phrases on trafilatura's evaluation pages, as ``ingest`` reads them."""
    annotations = json.loads((tests / "evaldata.json").read_text(encoding="utf-8"))
    kept = found = boilerplate = body = failed = pages = 0
    started = time.perf_counter()
    for url, page in annotations.items():
        path = next(
            (folder / page["file"] for folder in (tests / "eval", tests / "cache") if (folder / page["file"]).exists()), None
        )
        if path is None:
            continue
        pages += 1
        boilerplate += len(page["without"])
        body += len(page["with"])
        try:
            article = read_html_article(path.read_bytes(), url)
        except IndexerError:
            failed += 1
            continue
        text, title = _norm("\n".join(article.paragraphs)), _norm(article.title)
        kept += sum(_norm(phrase) in text for phrase in page["without"])
        found += sum(_norm(phrase) in text or _norm(phrase) in title for phrase in page["with"])
    print(
        f"{pages} pages of trafilatura's evaluation set: boilerplate phrases kept {kept}/{boilerplate}; "
        f"body phrases found {found}/{body}; no article text on {failed}; {time.perf_counter() - started:.0f} s"
    )


def bench_batch(pages: int, seconds: float) -> None:
    """Ingest ``pages`` loopback pages each embedding a clip, then the same clips as a folder."""
    import shutil
    import subprocess
    import tempfile
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import imageio_ffmpeg  # the bench extra's ffmpeg binary, to cut the clips

    from indexer import Index, audio

    sample = HERE.parent / "samples" / "seed_article.mp3"
    work = Path(tempfile.mkdtemp(prefix="bench-pages-"))
    clips = work / "clips"
    clips.mkdir()

    def declared_duration(path: Path) -> float:
        duration = audio.probe(path).duration
        assert duration is not None, f"{path} declares no duration"  # the sample and its clips are MP3s
        return duration

    total = declared_duration(sample)
    count = min(pages, int(total // seconds))
    for i in range(count):
        subprocess.run(
            [
                imageio_ffmpeg.get_ffmpeg_exe(),
                "-loglevel",
                "error",
                "-y",
                "-ss",
                str(i * seconds),
                "-t",
                str(seconds),
                "-i",
                str(sample),
                "-b:a",
                "64k",
                str(clips / f"clip{i:02d}.mp3"),
            ],
            check=True,
        )
    routes = {}
    for i in range(count):
        routes[f"/story/{i}"] = (
            "text/html",
            f"<html><head><title>Story {i}</title></head><body><article><h1>Story {i}</h1><p>{'The harbour council met again. ' * 12}</p>"
            f'<audio controls src="/media/clip{i:02d}.mp3"></audio></article></body></html>'.encode(),
        )
        routes[f"/media/clip{i:02d}.mp3"] = ("audio/mpeg", (clips / f"clip{i:02d}.mp3").read_bytes())

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            kind, body = routes.get(self.path, ("text/plain", b""))
            self.send_response(200 if self.path in routes else 404)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    duration = sum(declared_duration(path) for path in clips.iterdir())
    try:
        results = {}
        for label, inputs in (("pages", [f"{url}/story/{i}" for i in range(count)]), ("folder", [str(clips)])):
            index = Index(work / f"index-{label}", cache_dir=work / f"cache-{label}")
            started = time.perf_counter()
            report = index.ingest(*inputs)
            wall = time.perf_counter() - started
            assert report.ok, report.failures
            results[label] = wall
        print("| input | files | audio | wall | x real time |")
        print("|---|---|---|---|---|")
        for label, wall in results.items():
            print(f"| {label} | {count} | {duration:.0f} s | {wall:.1f} s | {duration / wall:.1f}x |")
        print()
        print(
            f"batch: {count} pages of {seconds:g}-s clips {duration / results['pages']:.1f}x real time; "
            f"the same clips as a folder {duration / results['folder']:.1f}x"
        )
    finally:
        server.shutdown()
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "batch":
        parser = argparse.ArgumentParser(description="A batch of pages with short embedded audio: speed.")
        parser.add_argument("--pages", type=int, default=9)
        parser.add_argument("--seconds", type=float, default=15.0)
        parser.add_argument("--code", help="directory holding the indexer package to measure")
        args = parser.parse_args(argv[1:])
        logging.basicConfig(level=logging.ERROR)
        bench_batch(args.pages, args.seconds)
        return 0
    if argv and argv[0] == "evaldata":
        parser = argparse.ArgumentParser(description="trafilatura's evaluation pages: boilerplate and body phrases.")
        parser.add_argument("tests", type=Path, help="the tests folder of a trafilatura checkout")
        parser.add_argument("--code", help="directory holding the indexer package to measure")
        args = parser.parse_args(argv[1:])
        logging.basicConfig(level=logging.CRITICAL)
        bench_evaldata(args.tests)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="print each page's found media and title")
    parser.add_argument("--code", help="directory holding the indexer package to measure")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    expected = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))
    started = time.perf_counter()
    rows = [score_page(name, page) for name, page in expected.items()]
    elapsed = time.perf_counter() - started

    print("| page | media | false media | boilerplate kept | body phrases | title |")
    print("|---|---|---|---|---|---|")
    for row, page in zip(rows, expected.values()):
        print(
            f"| {row['name'].removesuffix('.html.gz')} | {row['media']} | {row['false']} | "
            f"{row['leaks']}/{len(page['without'])} | {row['phrases']}/{len(page['with'])} | {'ok' if row['title'] else 'wrong'} |"
        )
        if args.verbose:
            print(f"|  | {' '.join(row['found'])} | | | | {row.get('got_title') or row.get('error')} |")
    with_media = [row for row, page in zip(rows, expected.values()) if page["media"]]
    print()
    print(
        f"{len(rows)} pages ({len(with_media)} with media of their own): all media found on "
        f"{sum(r['media'] == 'all' for r in with_media)}, part on {sum(r['media'] == 'part' for r in with_media)}, "
        f"none on {sum(r['media'] == 'none' for r in with_media)}; false media {sum(r['false'] for r in rows)} "
        f"(on {sum(r['false'] > 0 for r in rows)} pages); boilerplate phrases kept "
        f"{sum(r['leaks'] for r in rows)}/{sum(len(p['without']) for p in expected.values())}; body phrases found "
        f"{sum(r['phrases'] for r in rows)}/{sum(len(p['with']) for p in expected.values())}; titles right "
        f"{sum(r['title'] for r in rows)}/{len(rows)}; {elapsed:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
