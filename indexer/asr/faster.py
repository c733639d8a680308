"""The faster-whisper engine (CTranslate2): the default."""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from ..errors import ModelError
from ..models import Segment, Word
from .base import ChunkResult, DecodeOptions
from .features import BlockwiseFeatureExtractor
from .weights import model_label, resolve_ct2_model

logger = logging.getLogger("indexer")

# More workers than this add memory (a chunk's features each) for little speed on a small model.
MAX_WORKERS = 4


def worker_threads(workers: Optional[int] = None) -> tuple[int, int]:
    """How many chunks to recognise at once, and CPU threads for each.

    One single-threaded worker per core, up to MAX_WORKERS: a small model's matrices are too small
    for intra-op threads to pay (bench/RESULTS.md, "Workers and threads").
    """
    cores = os.cpu_count() or 1
    workers = max(1, workers or min(cores, MAX_WORKERS))
    return workers, max(1, cores // workers)


class FasterWhisperEngine:
    """A faster-whisper model loaded once; ``transcribe_chunk`` is called for every chunk of every file.

    ``transcribe_chunk`` may be called from ``workers`` threads at once: CTranslate2 runs that many
    model replicas (weights shared) and releases the GIL while it computes.
    """

    name = "faster-whisper"

    def __init__(
        self,
        model: Optional[str] = None,
        *,
        cache_dir: Path,
        compute_type: str = "int8",
        workers: Optional[int] = None,
        device: str = "cpu",
    ):
        from faster_whisper import WhisperModel

        location = resolve_ct2_model(model, cache_dir)
        self.model_id = model_label(model)
        self.workers, threads = worker_threads(workers)
        try:
            self._model = WhisperModel(
                location,
                device=device,
                # int8 weights with float16 arithmetic is CTranslate2's fast setting on a GPU.
                compute_type="int8_float16" if device == "cuda" and compute_type == "int8" else compute_type,
                cpu_threads=threads,
                num_workers=self.workers,
                download_root=str(cache_dir / "models" / "hub"),
            )
        except Exception as e:  # faster-whisper raises bare RuntimeError/OSError/HF errors here
            raise ModelError(
                f"cannot load model {self.model_id}: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
            ) from e
        # Memory, not speed: see features.py, _encode_one_at_a_time and SampleOneCandidateAtATime. These
        # replace private attributes of WhisperModel, so pyproject.toml pins the faster-whisper versions tested.
        self._model.feature_extractor = BlockwiseFeatureExtractor.like(self._model.feature_extractor)
        self._encode = self._model.encode
        self._model.encode = self._encode_one_at_a_time
        self._encoder_lock = threading.Lock()
        self._model.model = SampleOneCandidateAtATime(self._model.model)
        self.multilingual = bool(self._model.model.is_multilingual)
        self._batched = None
        self._lock = threading.Lock()

    def _encode_one_at_a_time(self, features: np.ndarray, *args, **kwargs):
        """The encoder's attention over a 30-second window is recognition's largest buffer; when every
        worker encoded at once, those coincided in the memory peak (bench/RESULTS.md, "Memory").
        Encoding is a small share of the work, so the workers rarely wait for each other here."""
        with self._encoder_lock:
            return self._encode(features, *args, **kwargs)

    def transcribe_chunk(self, audio: np.ndarray, *, language: Optional[str], options: DecodeOptions) -> ChunkResult:
        language = language if self.multilingual else "en"
        if options.batch_size > 1:
            segments, info = self._batched_pipeline().transcribe(
                audio,
                language=language,
                beam_size=options.beam_size,
                word_timestamps=options.word_timestamps,
                vad_filter=True,
                batch_size=options.batch_size,
            )
        else:
            segments, info = self._model.transcribe(
                audio,
                language=language,
                beam_size=options.beam_size,
                word_timestamps=options.word_timestamps,
                vad_filter=options.vad,
                condition_on_previous_text=options.condition_on_previous_text,
            )
        return ChunkResult(segments=_convert(segments), language=info.language)

    def _batched_pipeline(self):
        from faster_whisper import BatchedInferencePipeline

        with self._lock:  # chunks arrive from several threads
            if self._batched is None:
                self._batched = BatchedInferencePipeline(self._model)
        return self._batched


@dataclass(frozen=True)
class SampledCandidates:
    """What faster-whisper reads from CTranslate2's ``WhisperGenerationResult``, best candidate first."""

    sequences: list[list[str]]
    sequences_ids: list[list[int]]
    scores: list[float]
    no_speech_prob: float


class SampleOneCandidateAtATime:
    """The CTranslate2 Whisper model, except that sampling N candidates draws them one at a time.

    When a window fails Whisper's log-probability or compression threshold at temperature 0,
    faster-whisper decodes it again at 0.2 ... 1.0, sampling ``best_of`` (5) candidates each time
    and keeping the best. CTranslate2 copies the decoder's state (the encoder output, the attention
    caches) once per candidate to sample them together, which set a long file's memory peak
    (bench/RESULTS.md, "Fallback sampling"). CTranslate2 draws the candidates independently and sorts
    them by score, so drawing them one after another and sorting by the same score is the same
    choice at the memory of one. It costs time only on those windows, which are rare.
    Everything else, greedy and beam search included, goes to the model untouched.
    """

    def __init__(self, model):
        self._model = model

    def __getattr__(self, name):
        return getattr(self._model, name)

    def generate(self, features, prompts, **options):
        n = options.get("num_hypotheses", 1)
        sampling = (
            options.get("beam_size") == 1 and options.get("sampling_topk", 1) != 1 and options.get("sampling_temperature", 1) != 0
        )
        if n == 1 or not sampling or options.get("asynchronous") or options.get("return_logits_vocab"):
            return self._model.generate(features, prompts, **options)
        one = {**options, "num_hypotheses": 1, "return_scores": True}
        draws = [self._model.generate(features, prompts, **one) for _ in range(n)]
        return [_best_first(list(per_prompt), options.get("return_scores", False)) for per_prompt in zip(*draws)]


def _best_first(draws, return_scores: bool) -> SampledCandidates:
    draws.sort(key=lambda draw: draw.scores[0], reverse=True)
    return SampledCandidates(
        sequences=[draw.sequences[0] for draw in draws],
        sequences_ids=[draw.sequences_ids[0] for draw in draws],
        scores=[draw.scores[0] for draw in draws] if return_scores else [],
        # Read from the first decoding step, before anything is sampled: the same in every draw.
        no_speech_prob=draws[0].no_speech_prob,
    )


def _convert(segments) -> Iterator[Segment]:
    # faster-whisper's generator does the recognition lazily; converting lazily keeps progress live.
    for segment in segments:
        words = [Word(start=w.start, end=w.end, word=w.word, probability=w.probability) for w in segment.words or []]
        yield Segment(start=segment.start, end=segment.end, text=segment.text, words=words)
