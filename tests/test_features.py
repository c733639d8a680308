"""The blockwise log-Mel features are faster-whisper's own, bit for bit, whatever the length."""

from __future__ import annotations

import numpy as np
import pytest
from faster_whisper.feature_extractor import FeatureExtractor

from indexer import audio
from indexer.asr import features
from indexer.asr.features import BlockwiseFeatureExtractor

from .conftest import SAMPLE_AUDIO


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return audio.load(SAMPLE_AUDIO)


@pytest.mark.parametrize("n_mels", [80, 128])  # tiny/base/small .. large-v2, and large-v3
def test_features_of_a_whole_chunk_are_faster_whispers(speech, n_mels):
    theirs = FeatureExtractor(feature_size=n_mels)
    ours = BlockwiseFeatureExtractor.like(theirs)
    expected = theirs(speech, chunk_length=30)
    got = ours(speech, chunk_length=30)
    assert got.dtype == expected.dtype == np.float32
    assert got.shape == expected.shape
    assert got.shape[0] == n_mels and abs(got.shape[1] - len(speech) / 160) <= 1  # 10-ms frames
    assert np.array_equal(got, expected)
    assert (ours.n_samples, ours.nb_max_frames) == (theirs.n_samples, theirs.nb_max_frames)


@pytest.mark.parametrize(
    "seconds",
    [0.02, 1.0, features.BLOCK_FRAMES / 100, features.BLOCK_FRAMES / 100 + 0.01, 2.5 * features.BLOCK_FRAMES / 100],
)
def test_features_across_block_edges_and_of_short_audio(speech, seconds):
    piece = speech[: int(seconds * audio.SAMPLE_RATE)]
    theirs = FeatureExtractor()
    assert np.array_equal(BlockwiseFeatureExtractor.like(theirs)(piece), theirs(piece))


@pytest.mark.e2e
def test_the_engine_uses_blockwise_features():
    from indexer.asr import load_engine
    from indexer.paths import default_cache_dir

    engine = load_engine(cache_dir=default_cache_dir())
    assert isinstance(engine._model.feature_extractor, BlockwiseFeatureExtractor)
