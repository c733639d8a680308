"""The fake engine stands in for a real model in every test not marked e2e, and hears the sample's words."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

import indexer
from indexer import audio
from indexer.asr import Transcriber, load_engine
from indexer.cli import cli

from .conftest import SAMPLE_AUDIO, RealEngineOutsideE2E, real_engine_requests
from .fakes import FakeEngine


def test_a_real_engine_cannot_load_outside_e2e_tests(tmp_path):
    for name in ("faster-whisper", "openai-whisper"):
        with pytest.raises(RealEngineOutsideE2E):
            load_engine(name, cache_dir=tmp_path)
    with pytest.raises(RealEngineOutsideE2E):
        Transcriber(cache_dir=tmp_path).transcribe(SAMPLE_AUDIO)
    real_engine_requests.clear()  # asked for on purpose: not a failure of this test


def test_the_fake_is_the_only_engine_the_cli_constructs(tmp_path, cli_fake_engine):
    before = FakeEngine.constructed
    result = CliRunner().invoke(cli, ["--index", str(tmp_path / "index"), "ingest", str(SAMPLE_AUDIO)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert cli_fake_engine.chunks == 2  # the sample's 137 s in two chunks, heard by the module's fake
    assert FakeEngine.constructed == before


def test_an_engine_instance_is_used_as_given(tmp_path):
    engine = FakeEngine()
    transcript = indexer.transcribe(f"{SAMPLE_AUDIO}#t=90,101", engine=engine, cache_dir=tmp_path)
    assert engine.chunks == 1
    assert transcript.engine == "fake" and transcript.model == "scripted-sample"
    assert "troops" in transcript.text and all(90 <= w.start <= w.end <= 101 for s in transcript for w in s.words)
    # The cache knows the instance's name and model: asked again, no recognition.
    again = FakeEngine()
    assert indexer.transcribe(f"{SAMPLE_AUDIO}#t=90,101", engine=again, cache_dir=tmp_path).text == transcript.text
    assert again.chunks == 0


def test_the_fake_hears_the_samples_words_where_they_are_spoken(sentences):
    samples = audio.load(SAMPLE_AUDIO)
    start = 17.0  # sentence 2 starts at 17.1 s
    result = FakeEngine().transcribe_chunk(
        samples[int(start * audio.SAMPLE_RATE) :], language=None, options=indexer.DecodeOptions()
    )
    first = next(iter(result.segments))
    assert first.text.strip() == sentences[2]["text"]
    assert first.start == pytest.approx(sentences[2]["start"] - start, abs=0.1)
    silence = FakeEngine().transcribe_chunk(
        np.zeros(5 * audio.SAMPLE_RATE, np.float32), language=None, options=indexer.DecodeOptions()
    )
    assert list(silence.segments) == [] and silence.language == "en"
