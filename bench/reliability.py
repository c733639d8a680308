"""Time and peak memory of `indexer ingest` on the worst bad inputs: `python bench/reliability.py [--work-dir D]`.

Each input is ingested by a fresh `python -m indexer` process; its wall time, peak RSS (from wait4) and
the error line it printed are reported as a Markdown table. The HTTP cases are served from 127.0.0.1
by this script: a 1 MB gzip body that decodes to 1 GB, declared as audio; an endless audio body; a
server that drips a byte a second. Those go through the library (``Index(fetch=...)``) with a 200 MB
audio cap, a 5 s time-out and 1 MB/s as the slowest rate, so the figures show the mechanism rather than
the defaults (4 GB; 30 s + size at 50 kB/s).
"""

from __future__ import annotations

import argparse
import os
import random
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GZIP_BOMB = b""


class _Hostile(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        try:
            if self.path == "/bomb.mp3":
                self.send_response(200)
                self.send_header("Content-Type", "audio/mpeg")
                self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(GZIP_BOMB)))
                self.end_headers()
                self.wfile.write(GZIP_BOMB)
            elif self.path == "/endless.mp3":
                self.send_response(200)
                self.send_header("Content-Type", "audio/mpeg")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                block = b"\xff\xfb\x90\x64" * 65536
                while True:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(block), block))
            elif self.path == "/drip.html":
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                while True:
                    self.wfile.write(b"<")
                    self.wfile.flush()
                    time.sleep(1)
        except (BrokenPipeError, ConnectionResetError):
            pass


def _wav_header(data_bytes: int, rate: int = 16000) -> bytes:
    return (
        b"RIFF"
        + struct.pack("<I", data_bytes + 36)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", data_bytes)
    )


def make_inputs(work: Path) -> dict[str, str]:
    from podcast import speech  # bench/podcast.py: the samples script's ffmpeg

    inputs = {}
    zeros = work / "zeros.mp3"
    with open(zeros, "wb") as f:
        f.truncate(1_000_000_000)
    inputs["1 GB zero-filled .mp3"] = str(zeros)
    padded = work / "padded.mp3"
    padded.write_bytes((ROOT / "samples" / "seed_article.mp3").read_bytes())
    with open(padded, "r+b") as f:
        f.truncate(1_000_000_000)
    inputs["real .mp3 + 1 GB of zero bytes"] = str(padded)
    sparse = work / "sparse.wav"
    with open(sparse, "wb") as f:
        f.write(_wav_header(2_000_000_000 - 44))
        f.truncate(2_000_000_000)
    inputs["2 GB sparse WAV (valid header)"] = str(sparse)
    page = work / "huge.html"
    page.write_bytes(b"<html><body>" + b"<p>word word word</p>" * 2_400_000 + b"</body></html>")
    inputs["50 MB HTML page"] = str(page)
    for ext, codec in (("wav", []), ("ogg", ["-c:a", "libvorbis"])):
        whole = work / f"whole.{ext}"
        subprocess.run(
            [
                speech.ffmpeg_exe(),
                "-y",
                "-loglevel",
                "error",
                "-i",
                str(ROOT / "samples" / "seed_article.mp3"),
                "-ac",
                "1",
                "-ar",
                "16000",
                *codec,
                str(whole),
            ],
            check=True,
        )
        data = whole.read_bytes()
        cut = work / f"cut.{ext}"
        cut.write_bytes(data[: len(data) * 3 // 10])
        inputs[f"{ext.upper()} cut to 30 %"] = str(cut)
    binary = work / "binary.txt"
    binary.write_bytes(random.Random(0).randbytes(5_000_000))
    inputs["5 MB of random bytes as .txt"] = str(binary)
    return inputs


LIBRARY_INGEST = (
    "import indexer, json, sys\n"
    "report = indexer.Index(sys.argv[1], fetch=json.loads(sys.argv[2])).ingest(sys.argv[3])\n"
    "for failure in report.failures: print('Error:', failure.message, file=sys.stderr)\n"
    "sys.exit(1 if report.failures else 0)\n"
)
BENCH_FETCH = '{"max_audio_bytes": 200000000, "timeout": 5, "min_bytes_per_second": 1000000}'


def _gzip_of_zeros(size: int) -> bytes:
    """gzip of ``size`` zero bytes, compressed a block at a time: the children forked later must not
    inherit a 1 GB buffer in their peak RSS."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    parts = [compressor.compress(block) for _ in range(size // len(block))]
    return b"".join(parts) + compressor.flush()


def measure(name: str, source: str, work: Path, env: dict, *, library: bool = False) -> str:
    index = Path(tempfile.mkdtemp(dir=work)) / "index"
    if library:
        command = [sys.executable, "-c", LIBRARY_INGEST, str(index), BENCH_FETCH, source]
    elif source == "--help":
        command = [sys.executable, "-m", "indexer", "ingest", "--help"]
    else:
        command = [sys.executable, "-m", "indexer", "--index", str(index), "ingest", source]
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.monotonic() - started
    stderr = process.stderr.read() if process.stderr else ""
    message = next((line for line in stderr.splitlines() if line.startswith("Error:")), stderr.strip()[-120:])
    message = message.replace(source, "…").replace(str(work), "…")
    return f"| {name} | {elapsed:.1f} s | {usage.ru_maxrss / 1024:.0f} MB | {os.waitstatus_to_exitcode(status)} | `{message[:150]}` |"


def main() -> None:
    global GZIP_BOMB
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path, default=None)
    args = parser.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="reliability-"))
    work.mkdir(parents=True, exist_ok=True)
    GZIP_BOMB = _gzip_of_zeros(1_000_000_000)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "INDEXER_CACHE": str(work / "cache")}
    print("| input | wall | peak RSS | exit | what the user sees |")
    print("|---|---|---|---|---|")
    print(measure("baseline: `indexer ingest --help` (start-up)", "--help", work, env))
    for name, source in make_inputs(work).items():
        print(measure(name, source, work, env), flush=True)
    for name, path in (
        ("1 MB gzip body = 1 GB, served as audio", "/bomb.mp3"),
        ("endless audio body", "/endless.mp3"),
        ("server dripping 1 byte/s", "/drip.html"),
    ):
        print(measure(name, base + path, work, env, library=True), flush=True)


if __name__ == "__main__":
    main()
