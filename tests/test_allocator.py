"""The allocator settings: opt-in for a library user, on for the CLI; while recognition runs, free memory
is given back by one background thread, which then stops."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

import indexer
from indexer.asr import allocator, engines
from indexer.cli import Context

from .conftest import ROOT
from .fakes import FakeEngine


def trim_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "indexer-trim"]


def test_one_trimming_thread_for_nested_recognitions_and_none_after():
    allocator.tune_allocator()  # this machine's glibc, no MALLOC_* settings of its own
    with allocator.trimming():
        with allocator.trimming():  # a file recognised in the background at the same time
            assert len(trim_threads()) == 1
        assert len(trim_threads()) == 1
    deadline = time.monotonic() + 2
    while trim_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert trim_threads() == []


def test_the_allocator_is_tuned_only_when_asked_and_for_faster_whisper_only(monkeypatch, tmp_path):
    tuned: list[bool] = []
    monkeypatch.setattr(engines, "tune_allocator", lambda: tuned.append(True))
    monkeypatch.setattr(engines, "_load_engine", lambda *args: FakeEngine())
    engines.load_engine("faster-whisper", cache_dir=tmp_path)
    engines.load_engine("openai-whisper", cache_dir=tmp_path, tune_memory=True)
    assert tuned == []
    engines.load_engine("faster-whisper", cache_dir=tmp_path, tune_memory=True)
    assert tuned == [True]


def test_the_cli_tunes_memory_and_the_library_only_when_asked(monkeypatch, tmp_path):
    assert Context(tmp_path / "cli").open().transcriber.tune_memory
    assert not indexer.Index(tmp_path / "library").transcriber.tune_memory
    assert indexer.Index(tmp_path / "asked", tune_memory=True).transcriber.tune_memory
    monkeypatch.setenv("INDEXER_TUNE_MEMORY", "1")
    assert indexer.Index(tmp_path / "from-env").transcriber.tune_memory


@pytest.mark.e2e
@pytest.mark.parametrize("tune_memory", [False, True])
def test_a_library_users_process_keeps_its_allocator_unless_asked(tmp_path, clip, tune_memory):
    # A fresh process each: the settings, once made, hold for the process.
    code = (
        "import sys, indexer\n"
        "from indexer.asr import allocator\n"
        "indexer.transcribe(sys.argv[1], cache_dir=sys.argv[2], tune_memory=sys.argv[3] == '1')\n"
        "print(allocator._trimming is not None)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "INDEXER_TUNE_MEMORY"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run(
        [sys.executable, "-c", code, str(clip), str(tmp_path / "cache"), "1" if tune_memory else "0"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == str(tune_memory)
