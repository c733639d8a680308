"""Random SIGKILLs during ingests and removes into one index, then a consistency check and a re-run.

The inputs are podcast feeds whose items share episodes and ship SRT transcripts from a loopback server,
so articles and audio link to each other and no speech model runs. After every kill the index must
open; at the end every article's audio exists and links back, every audio's articles exist, every
source has its documents, and ingesting everything again converges: a second re-run changes nothing.
``INDEXER_CRASH_KILLS=N`` sets the number of kills (default 8).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from indexer import Index

from .conftest import ROOT

KILLS = int(os.environ.get("INDEXER_CRASH_KILLS", "8"))
FEEDS, ITEMS, EPISODES = 4, 6, 4


def _srt(episode: int) -> bytes:
    return (
        f"1\n00:00:00,000 --> 00:00:04,000\nEpisode {episode} opens with the harbour news.\n\n"
        f"2\n00:00:04,000 --> 00:00:09,500\nThe ferry vote is on Tuesday, episode {episode} says.\n"
    ).encode()


class _Transcripts(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        time.sleep(0.3)  # a little slow, so that kills land in the middle of a batch
        episode = int(self.path.strip("/").split(".")[0].removeprefix("ep"))  # each item has its own URL: no cache hit
        body = _srt(episode)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-subrip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client was killed


@pytest.fixture
def transcript_server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Transcripts)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _feed(path: Path, number: int, server: str) -> Path:
    items = []
    for i in range(ITEMS):
        episode = (number + i) % EPISODES  # items of different feeds share episodes
        items.append(
            f"""<item><title>Feed {number} item {i}</title><guid>feed{number}-item{i}</guid>
            <pubDate>Mon, 0{i + 1} Jan 2024 10:00:00 GMT</pubDate>
            <description>Notes zq{number}x{i} about the ferry vote and the harbour.</description>
            <enclosure url="https://cdn.example/ep{episode}.mp3" type="audio/mpeg" length="1000"/>
            <podcast:transcript url="{server}/ep{episode}.srt?for=feed{number}-item{i}" type="application/x-subrip"/></item>"""
        )
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
        'xmlns:podcast="https://podcastindex.org/namespace/1.0"><channel>'
        f"<title>Feed {number}</title>{''.join(items)}</channel></rss>"
    )
    return path


def _command(index: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "indexer", "--index", str(index), *args]


def _run(index: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(_command(index, *args), capture_output=True, text=True, env=env, timeout=300)


def check_consistency(index_dir: Path) -> list:
    """Every link goes both ways between sources that exist, and every source has its documents."""
    index = Index(index_dir)
    sources = {s.id: s for s in index.sources()}
    for source in sources.values():
        if source.kind == "article":
            for audio_id in source.audio_ids:
                assert audio_id in sources, f"{source.id} embeds missing {audio_id}"
                assert source.id in sources[audio_id].article_ids, f"{audio_id} does not link back to {source.id}"
            token = next(word for word in source.title.split() if word.isdigit())
            assert source.title.startswith("Feed ") and token
        else:
            for article_id in source.article_ids:
                assert article_id in sources, f"{source.id} names missing article {article_id}"
                assert source.id in sources[article_id].audio_ids, f"{article_id} does not list {source.id}"
            assert index.transcript(source.id).segments, f"{source.id} has no transcript"
    for source in sources.values():
        if source.kind == "article":
            feed, item = source.title.removeprefix("Feed ").split(" item ")
            hits = index.search(f"zq{feed}x{item}", kind="article")
            assert [hit.source_id for hit in hits] == [source.id], f"{source.id} has no paragraphs"
    return sorted((s.id, tuple(s.audio_ids), tuple(sorted(s.article_ids))) for s in sources.values())


def test_random_kills_leave_a_consistent_index_that_a_rerun_completes(tmp_path: Path, transcript_server: str) -> None:
    rng = random.Random(int(os.environ.get("INDEXER_CRASH_SEED", "14")))
    feeds = [_feed(tmp_path / f"feed{n}.xml", n, transcript_server) for n in range(FEEDS)]
    index = tmp_path / "index"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "INDEXER_CACHE": str(tmp_path / "cache")}
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(name, None)

    killed = 0
    # Until KILLS runs were cut short (a run that finished first is not counted), a bounded number of rounds.
    for _ in range(4 * KILLS):
        if killed == KILLS:
            break
        articles = [s.id for s in Index(index).sources() if s.kind == "article"] if index.exists() else []
        # Removals more often once most items are in, so that ingests still find work to be cut short in.
        if articles and rng.random() < 0.3 + 0.6 * len(articles) / (FEEDS * ITEMS):
            args = ["remove", rng.choice(articles)]
        else:
            args = ["ingest", *map(str, rng.sample(feeds, rng.randint(1, FEEDS)))]
        process = subprocess.Popen(_command(index, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        time.sleep(rng.uniform(0.6, 2.0))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            killed += 1
        process.communicate()
        # The index opens after every kill, and is consistent.
        check_consistency(index)

    first = _run(index, env, "ingest", *map(str, feeds))
    assert first.returncode == 0, first.stderr
    settled = check_consistency(index)
    assert len([s for s in settled if s[0].startswith("article-")]) == FEEDS * ITEMS
    assert len([s for s in settled if s[0].startswith("audio-")]) == EPISODES
    second = _run(index, env, "ingest", *map(str, feeds))
    assert second.returncode == 0 and "ingested" not in second.stdout, second.stdout
    assert check_consistency(index) == settled
    assert killed >= KILLS // 2  # most rounds were cut short, not finished before the kill
    print(f"rounds: {KILLS}, killed while running: {killed}")
