"""The README's first command, run as written on a copy of the project with the pip that venv ships."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

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
