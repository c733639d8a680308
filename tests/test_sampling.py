"""Temperature fallback samples its candidates one at a time, and still picks the best of them."""

from __future__ import annotations

import re

import pytest
from faster_whisper.audio import pad_or_trim

from indexer import audio
from indexer.asr import load_engine
from indexer.asr.faster import SampleOneCandidateAtATime
from indexer.paths import default_cache_dir

from .conftest import SAMPLE_AUDIO

pytestmark = pytest.mark.e2e  # the real model's decoder


class RecordingModel:
    """The real CTranslate2 model, noting the options of every ``generate`` call."""

    def __init__(self, model):
        self._model = model
        self.calls: list[dict] = []
        self.results: list[list] = []

    def __getattr__(self, name):
        return getattr(self._model, name)

    def generate(self, features, prompts, **options):
        self.calls.append(options)
        results = self._model.generate(features, prompts, **options)
        self.results.append(results)
        return results


@pytest.fixture(scope="module")
def engine():
    return load_engine(cache_dir=default_cache_dir())


@pytest.fixture
def recorded(engine, monkeypatch) -> RecordingModel:
    sampler = engine._model.model
    assert isinstance(sampler, SampleOneCandidateAtATime)
    recording = RecordingModel(sampler._model)
    monkeypatch.setattr(sampler, "_model", recording)
    return recording


@pytest.fixture(scope="module")
def first_window(engine):
    speech = audio.load(SAMPLE_AUDIO)[: 30 * audio.SAMPLE_RATE]
    features = engine._model.feature_extractor(speech)
    return engine._model.encode(pad_or_trim(features))


PROMPT = [50257, 50362]  # tiny.en: <|startoftranscript|> <|notimestamps|>


def test_sampling_five_candidates_draws_them_one_at_a_time_best_first(engine, recorded, first_window):
    greedy = engine._model.model.generate(first_window, [PROMPT], beam_size=1, return_scores=True, return_no_speech_prob=True)[0]
    recorded.calls.clear()
    recorded.results.clear()

    (result,) = engine._model.model.generate(
        first_window,
        [PROMPT],
        beam_size=1,
        num_hypotheses=5,
        sampling_topk=0,
        sampling_temperature=1.0,
        return_scores=True,
        return_no_speech_prob=True,
    )

    assert [call["num_hypotheses"] for call in recorded.calls] == [1] * 5
    # The five draws the model made, best score first: what CTranslate2 returns for five at once.
    (draws,) = zip(*recorded.results)
    by_score = sorted(draws, key=lambda draw: draw.scores[0], reverse=True)
    assert result.sequences_ids == [draw.sequences_ids[0] for draw in by_score]
    assert result.sequences == [draw.sequences[0] for draw in by_score]
    assert result.scores == [draw.scores[0] for draw in by_score]
    assert result.scores == sorted(result.scores, reverse=True) and len(result.scores) == 5
    assert result.no_speech_prob == pytest.approx(greedy.no_speech_prob)


@pytest.mark.parametrize(
    "search", [{"beam_size": 5}, {"beam_size": 1}, {"beam_size": 1, "num_hypotheses": 1, "sampling_topk": 0}]
)
def test_beam_search_greedy_and_single_samples_go_to_the_model_untouched(engine, recorded, first_window, search):
    result = engine._model.model.generate(first_window, [PROMPT], return_scores=True, **search)
    assert recorded.calls == [{"return_scores": True, **search}]
    if search.get("sampling_topk") != 0:  # deterministic: the same as the model's own answer
        (direct,) = recorded._model.generate(first_window, [PROMPT], return_scores=True, **search)
        assert result[0].sequences_ids == direct.sequences_ids
        assert result[0].scores == pytest.approx(direct.scores)


def test_faster_whisper_fallback_decodes_through_the_one_at_a_time_sampler(engine, recorded, reference_text):
    # An unreachable log-probability threshold makes every window fall back to sampling.
    speech = audio.load(SAMPLE_AUDIO)[: 20 * audio.SAMPLE_RATE]
    segments, _ = engine._model.transcribe(
        speech, language="en", temperature=[0.0, 0.6], best_of=3, log_prob_threshold=0.0, vad_filter=False
    )
    text = " ".join(segment.text for segment in segments)

    sampled = [call for call in recorded.calls if call.get("sampling_temperature") == 0.6]
    assert sampled and all(call["num_hypotheses"] == 1 for call in sampled)
    assert len(sampled) % 3 == 0  # best_of draws for each window that fell back
    heard = set(re.findall(r"[a-z]+", text.lower()))
    said = set(re.findall(r"[a-z]+", reference_text.lower()))
    assert len(heard & said) >= 10, text
