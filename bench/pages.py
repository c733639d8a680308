"""Real pages: how much of each page's own media, title and text the indexer finds.

    python bench/pages.py [--verbose]

Reads the pages of tests/data/corpus/pages (real pages from public test corpora, see SOURCES.md there)
the way ``ingest`` reads a downloaded page, offline, and scores them against expected.json: pages whose
media were all found, partly found or not found, false media (a file that is not the page's own, or the
same recording twice), boilerplate phrases kept in the body, body phrases found and titles. Prints a
markdown table and a one-line summary.
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
        return {"name": name, "error": str(e), "media": "none", "false": 0, "leaks": len(expected["without"]),
                "phrases": 0, "title": False, "found": []}
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="print each page's found media and title")
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
