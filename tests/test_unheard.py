"""Speech the recogniser skipped is found with VAD and recognised again: real speech, real model."""

from __future__ import annotations

import pytest

from indexer.models import Segment, Word
from indexer.unheard import recover_unheard, unheard_stretches

from .conftest import SAMPLE_AUDIO


def words_at(*spans: tuple[float, float]) -> list[Segment]:
    words = [Word(start=s, end=e, word="w", probability=1.0) for s, e in spans]
    return [Segment(words[0].start, words[-1].end, "w", words)]


def test_unheard_stretches_are_speech_no_word_covers():
    speech = [(0.0, 10.0), (12.0, 14.0)]
    heard = words_at((0.2, 0.5), (0.6, 1.0), (6.0, 6.3), (9.5, 9.9))
    # 1.0 + 0.5 slack = 1.5 .. 5.5 uncovered; 6.8 .. 9.0 uncovered; 12-14 has no word at all.
    assert unheard_stretches(speech, heard) == [(1.5, 5.5), (6.8, 9.0), (12.0, 14.0)]
    assert unheard_stretches([(0.0, 2.0)], words_at((0.2, 0.5), (1.2, 1.6))) == []
    # A word stretched over seconds of speech covers at most MAX_WORD_SECONDS of it.
    assert unheard_stretches([(0.0, 6.0)], words_at((0.5, 6.0))) == [(2.5, 6.0)]


@pytest.fixture(scope="module")
def first_half_minute(shared_cache):
    from faster_whisper import decode_audio

    from indexer.asr import load_engine
    from indexer.asr.base import DecodeOptions

    engine = load_engine(cache_dir=shared_cache)
    samples = decode_audio(str(SAMPLE_AUDIO), sampling_rate=16000)[: 30 * 16000]

    def recognise(piece):
        return list(engine.transcribe_chunk(piece, language="en", options=DecodeOptions()).segments)

    return samples, recognise, recognise(samples)


@pytest.mark.e2e
def test_skipped_speech_is_recognised_again_and_merged(first_half_minute):
    samples, recognise, heard = first_half_minute
    # As if Whisper had jumped from 8 s to 16 s: those words are gone.
    skipped = [w for s in heard for w in s.words if 8.0 <= w.start < 16.0]
    kept = [Segment(s.start, s.end, s.text, [w for w in s.words if not 8.0 <= w.start < 16.0]) for s in heard]
    kept = [s for s in kept if s.words]
    recovery = recover_unheard(samples, kept, recognise)
    assert recovery.stretches == 1
    recovered = [w for s in recovery.segments if not any(s is k for k in kept) for w in s.words]
    assert all(7.5 <= w.start < 16.5 for w in recovered)
    assert recovery.words == len(recovered) >= len(skipped) - 2

    def norm(words):
        return [w.word.strip(" ,.").lower() for w in words]

    assert len(set(norm(recovered)) & set(norm(skipped))) >= len(skipped) - 3
    starts = [s.start for s in recovery.segments]
    assert starts == sorted(starts)


@pytest.mark.e2e
def test_nothing_is_recognised_again_when_every_word_is_there(first_half_minute):
    samples, _, heard = first_half_minute
    calls = []
    recovery = recover_unheard(samples, heard, lambda piece: calls.append(piece) or [])
    assert recovery.stretches == 0 and calls == [] and recovery.segments == heard
