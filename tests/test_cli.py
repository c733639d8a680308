"""The command line as a user meets it: every command, and one clear error line for each bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from indexer.cli import cli, clock

from .conftest import SAMPLE_AUDIO, ffmpeg

# The CLI's commands and messages; what it hears comes from the fake engine (real recognition: test_e2e.py).
pytestmark = pytest.mark.usefixtures("cli_fake_engine")


def run(*args: str, index: Path | None = None):
    runner = CliRunner()
    prefix = ["--index", str(index)] if index else []
    return runner.invoke(cli, [*prefix, *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, fake_cache, cli_fake_engine):
    """An index holding the sample audio: copied for each test that changes it."""
    import os

    index = tmp_path_factory.mktemp("cli") / "index"
    previous = os.environ.get("INDEXER_CACHE")
    os.environ["INDEXER_CACHE"] = str(fake_cache)
    try:
        result = run("ingest", str(SAMPLE_AUDIO), index=index)
    finally:
        if previous is None:
            os.environ.pop("INDEXER_CACHE")
        else:
            os.environ["INDEXER_CACHE"] = previous
    assert result.exit_code == 0, result.output
    return index, result


@pytest.fixture
def index(ingested, tmp_path) -> Path:
    copy = tmp_path / "index"
    shutil.copytree(ingested[0], copy)
    return copy


def snapshot(index: Path) -> dict:
    """Every file in the index with its size and modification time."""
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in index.iterdir()}


def sample_id(index: Path) -> str:
    return json.loads(run("sources", "--json", index=index).output)[0]["id"]


def test_every_command_has_help():
    for name, command in cli.commands.items():
        assert command.help, name
        result = run(name, "--help")
        assert result.exit_code == 0 and "Usage:" in result.output


def test_ingest_reports_what_it_added(ingested):
    _, result = ingested
    line = result.output.strip()
    assert line.startswith("ingested audio-")
    assert "02:16" in line and str(SAMPLE_AUDIO) in line


def test_ingest_twice_keeps_one_source(index):
    before = run("sources", "--json", index=index).output
    result = run("ingest", str(SAMPLE_AUDIO), index=index)
    assert result.exit_code == 0
    assert run("sources", "--json", index=index).output == before


def test_search_shows_time_title_snippet(index):
    result = run("search", '"Kremlin advisor"', "--limit", "1", index=index)
    assert result.exit_code == 0
    time_and_title, snippet, origin = result.output.splitlines()
    # The segment starts at 13.2 s ("Vladimir Putin, a top ..."); "Kremlin" itself is spoken at 14.6 s.
    assert time_and_title.split()[0] == "00:14"
    assert "Biden to discuss Putin proposals with NATO – Kremlin" in time_and_title
    assert "**Kremlin** **advisor**" in snippet
    assert origin.strip() == str(SAMPLE_AUDIO)


def test_search_json_contract(index):
    result = run("search", "troops", "--json", index=index)
    hits = json.loads(result.output)
    assert hits and result.exit_code == 0
    hit = hits[0]
    assert set(hit) >= {"kind", "source_id", "title", "text", "snippet", "score", "audio", "start", "end"}
    assert hit["kind"] == "audio" and hit["audio"] == str(SAMPLE_AUDIO)
    assert "troops" in hit["text"].lower()
    assert hit["start"] <= hit["end"]


def test_search_kind_filter(index):
    assert json.loads(run("search", "troops", "--kind", "article", "--json", index=index).output) == []
    assert json.loads(run("search", "troops", "--kind", "audio", "--json", index=index).output)


def test_search_without_hits(index):
    result = run("search", "zeppelin", index=index)
    assert result.exit_code == 0 and result.output == "no hits\n"


def test_sources_json(index):
    (source,) = json.loads(run("sources", "--json", index=index).output)
    assert source["kind"] == "audio" and source["audio"] == str(SAMPLE_AUDIO)
    assert source["id"].startswith("audio-") and source["language"] == "en"
    assert "segment" not in source


def test_sources_human(index):
    line = run("sources", index=index).output.strip()
    assert line.startswith(sample_id(index)) and "02:16" in line


@pytest.mark.parametrize("fmt", ["txt", "json", "srt", "vtt"])
def test_transcript_formats(index, fmt):
    result = run("transcript", sample_id(index), "--format", fmt, index=index)
    assert result.exit_code == 0
    out = result.output
    if fmt == "json":
        document = json.loads(out)
        assert set(document) == {"source_id", "language", "duration", "segments"}
        word = document["segments"][0]["words"][0]
        assert set(word) == {"start", "end", "word", "probability"}
    elif fmt == "srt":
        assert out.startswith("1\n00:00:0") and " --> " in out
    elif fmt == "vtt":
        assert out.startswith("WEBVTT\n\n00:00:0")
    else:
        assert out.splitlines()[0].startswith("Biden to discuss Putin")


def test_remove(index):
    source = sample_id(index)
    result = run("remove", source, index=index)
    assert result.exit_code == 0 and result.output.startswith(f"removed {source}")
    assert json.loads(run("sources", "--json", index=index).output) == []
    assert json.loads(run("search", "Kremlin", "--json", index=index).output) == []


def test_index_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("INDEXER_INDEX", str(tmp_path / "from-env"))
    assert run("ingest", str(SAMPLE_AUDIO)).exit_code == 0
    assert (tmp_path / "from-env").is_dir()


def test_clock():
    assert [clock(5), clock(75.9), clock(3600), clock(3725)] == ["00:05", "01:15", "1:00:00", "1:02:05"]


# -- bad input: one line, non-zero exit, index untouched -------------------------------------------


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory, clip):
    folder = tmp_path_factory.mktemp("bad")
    text = folder / "notes.mp3"
    text.write_text("not audio at all\n" * 50)
    empty = folder / "empty.mp3"
    empty.write_bytes(b"")
    m4a = folder / "clip.m4a"
    ffmpeg("-i", str(clip), "-c:a", "aac", str(m4a))
    truncated = folder / "truncated.m4a"
    truncated.write_bytes(m4a.read_bytes()[:20000])
    tone = folder / "tone.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=300:duration=6", str(tone))
    return {"text": text, "empty": empty, "truncated": truncated, "tone": tone, "missing": folder / "missing.mp3"}


@pytest.mark.parametrize(
    "name, message",
    [
        ("missing", "{path}: no such file"),
        ("text", "{path}: not an audio file FFmpeg can read (Invalid data found when processing input)"),
        ("empty", "{path}: is empty (0 bytes)"),
        ("truncated", "{path}: not an audio file FFmpeg can read (Invalid data found when processing input)"),
        ("tone", "{path}: no speech found in the audio"),
    ],
)
def test_bad_input_is_one_line_and_leaves_the_index_alone(index, bad_inputs, name, message):
    before = snapshot(index)
    path = bad_inputs[name]
    result = CliRunner().invoke(cli, ["--index", str(index), "ingest", str(path)])
    assert result.exit_code == 1
    assert result.stderr == f"Error: {message.format(path=path)}\n"
    assert result.stdout == ""
    assert snapshot(index) == before


def test_a_batch_ingests_the_good_and_lists_the_failures(tmp_path, bad_inputs):
    index = tmp_path / "index"
    result = CliRunner().invoke(
        cli, ["--index", str(index), "ingest", str(bad_inputs["missing"]), str(SAMPLE_AUDIO), str(bad_inputs["text"])]
    )
    assert result.exit_code == 1
    assert result.stdout.startswith("ingested audio-")
    assert result.stderr.splitlines() == [
        f"Error: {bad_inputs['missing']}: no such file",
        f"Error: {bad_inputs['text']}: not an audio file FFmpeg can read (Invalid data found when processing input)",
    ]
    assert len(json.loads(run("sources", "--json", index=index).output)) == 1


def test_unwritable_index_directory(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = CliRunner().invoke(cli, ["--index", str(blocker / "index"), "ingest", str(SAMPLE_AUDIO)])
    assert result.exit_code == 1
    assert result.stderr == f"Error: cannot use index directory {blocker / 'index'}: Not a directory\n"


@pytest.mark.parametrize(
    "query, reason",
    [
        ('"red line', "unclosed quote"),
        ("(troops OR border", "unbalanced parentheses"),
        ("troops AND", "an operator is missing a term"),
    ],
)
def test_malformed_query(index, query, reason):
    before = snapshot(index)
    result = CliRunner().invoke(cli, ["--index", str(index), "search", query])
    assert result.exit_code == 1
    assert result.stderr == f"Error: malformed query {query!r}: {reason}\n"
    assert snapshot(index) == before


def test_unknown_source(index):
    result = CliRunner().invoke(cli, ["--index", str(index), "transcript", "audio-nope"])
    assert result.exit_code == 1
    assert result.stderr == "Error: no source 'audio-nope' in the index\n"
    result = CliRunner().invoke(cli, ["--index", str(index), "remove", "audio-nope"])
    assert result.stderr == "Error: no source 'audio-nope' in the index\n"
