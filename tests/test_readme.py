"""The README's commands, run as written on a copy of the project with the pip that venv ships."""

from __future__ import annotations

import re
import shutil
import subprocess

import httpx
import pytest

from .conftest import ROOT

pytestmark = pytest.mark.e2e


def readme_block(heading: str) -> str:
    """The first ```bash block under ``heading`` in the README."""
    text = (ROOT / "README.md").read_text()
    section = text.split(f"## {heading}", 1)[1]
    match = re.search(r"```bash\n(.*?)```", section, re.S)
    assert match, f"no bash block under {heading!r}"
    return match.group(1).strip()


def test_try_it_block_installs_and_reads_html_pages(tmp_path):
    project = tmp_path / "indexer"
    shutil.copytree(ROOT, project, ignore=shutil.ignore_patterns(".git", ".venv", "venv", "*.egg-info", "__pycache__", "bench"))
    command = readme_block("Try it")
    assert command.startswith("python3 -m venv .venv && .venv/bin/pip install -e .")

    done = subprocess.run(["bash", "-c", command], cwd=project, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "**Putin**" in done.stdout
    assert "seed_article.mp3" in done.stdout

    # The same install reads an HTML page: its extractor's dependencies came with it.
    page = tmp_path / "page.html"
    page.write_text(
        "<html><head><title>Harbour news</title></head><body><article><h1>Harbour news</h1>"
        "<p>The harbour master, Ms Okonkwo, said the new crane would lift fourteen containers an hour.</p>"
        "</article></body></html>"
    )
    indexer = [str(project / ".venv" / "bin" / "indexer"), "--index", "demo-index"]
    ingested = subprocess.run([*indexer, "ingest", str(page)], cwd=project, capture_output=True, text=True, timeout=300)
    assert ingested.returncode == 0, ingested.stderr[-3000:]
    found = subprocess.run([*indexer, "search", "Okonkwo"], cwd=project, capture_output=True, text=True, timeout=300)
    assert found.returncode == 0, found.stderr
    assert "**Okonkwo**" in found.stdout and "Harbour news" in found.stdout
    # The web page's block: its install as written, then the server on a free port instead of --open.
    serve_block = readme_block("Search and listen in the browser")
    install, _, run = serve_block.partition(" && ")
    assert run == ".venv/bin/indexer --index demo-index serve --open"
    installed = subprocess.run(["bash", "-c", install], cwd=project, capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr[-3000:]
    server = subprocess.Popen([*indexer, "serve", "--port", "0"], cwd=project, stderr=subprocess.PIPE, text=True)
    try:
        url = re.search(r"at (http://\S+/) ", server.stderr.readline()).group(1)
        hits = httpx.get(url + "api/search", params={"q": "Putin"}, timeout=60).json()
        assert any(hit["kind"] == "audio" and hit["snippet"].count("**Putin**") for hit in hits)
        assert "<mark>Putin</mark>" in httpx.get(url, params={"q": "Putin"}, timeout=60).text
    finally:
        server.terminate()
        server.wait(timeout=30)
