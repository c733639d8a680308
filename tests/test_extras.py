"""PostgreSQL and Dask are extras: the default commands never import them, and asking for one that
is missing says which extra to install."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from .conftest import ROOT


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_ingest_and_search_into_a_directory_import_neither_postgres_nor_dask(tmp_path):
    done = run_python(
        f"""
        import sys
        from click.testing import CliRunner
        from indexer.cli import cli
        for args in (["ingest", "tests/data/seed_article.txt"], ["search", "Putin"]):
            result = CliRunner().invoke(cli, ["--index", {str(tmp_path / "index")!r}, *args])
            assert result.exit_code == 0, result.output
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("psycopg", "psycopg_pool", "dask", "distributed")))
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_missing_extra_is_named_in_one_error_line(tmp_path):
    done = run_python(
        f"""
        import sys
        sys.modules["psycopg"] = sys.modules["distributed"] = None  # as if not installed
        from click.testing import CliRunner
        from indexer.cli import cli
        index = CliRunner().invoke(cli, ["--index", "postgresql://indexer@db.example/indexer", "sources"])
        print(index.exit_code, index.output.strip())
        audio = {str(tmp_path / "a.wav")!r}
        import numpy, wave
        with wave.open(audio, "wb") as out:
            out.setnchannels(1); out.setsampwidth(2); out.setframerate(16000); out.writeframes(bytes(32000))
        cluster = CliRunner().invoke(cli, ["--index", {str(tmp_path / "i")!r}, "ingest", audio, "--cluster", "tcp://127.0.0.1:8786"])
        print(cluster.exit_code, cluster.output.strip())
        """
    )
    assert done.returncode == 0, done.stderr
    index_line, cluster_line = done.stdout.strip().splitlines()
    assert index_line.startswith("1 Error: a PostgreSQL index needs psycopg and psycopg_pool: pip install 'indexer[postgres]'")
    assert cluster_line.startswith("1 Error: --cluster needs Dask distributed: pip install 'indexer[cluster]'")
