"""The openai-whisper engine: the reference PyTorch implementation behind the Engine protocol.

It is slower than faster-whisper on CPU and uses more memory (bench/RESULTS.md, "openai-whisper
engine"), so it is mainly useful to cross-check faster-whisper.
It runs the same weights: a CTranslate2 model directory (the offline default) is converted once
into an openai-whisper checkpoint (:mod:`indexer.asr.convert`). openai-whisper has no VAD of
its own, so the pipeline's VAD (:mod:`.vad`, faster-whisper's Silero VAD and settings) cuts the
non-speech first, and both engines decode the same speech.

Needs the ``openai-whisper`` extra: ``pip install 'indexer[openai-whisper]'``.
"""

from __future__ import annotations

import logging
import os
import pickle
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import align
from ..audio import SAMPLE_RATE
from ..errors import ModelError
from ..models import Segment, Word
from .base import ChunkResult, DecodeOptions
from .convert import INSTALL_HINT, cached_openai_checkpoint
from .vad import CutTimeline, keep_speech
from .weights import OFFLINE_MODELS, is_model_dir, model_label, resolve_ct2_model

logger = logging.getLogger("indexer")

# faster-whisper's default for the fallback to sampling at temperature > 0; openai-whisper's own
# default is a single sample, which would make the two engines differ on hard windows.
BEST_OF = 5


def _import_whisper() -> Any:
    if "torch" not in sys.modules:
        # PyTorch's OpenMP threads busy-wait at every barrier, which is slow when another process holds
        # a core (bench/RESULTS.md, "openai-whisper engine"). libgomp reads this once, when torch
        # loads; set OMP_WAIT_POLICY=ACTIVE for a machine of one's own.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import whisper
    except ImportError as e:
        raise ModelError(f"the openai-whisper engine is not installed: {INSTALL_HINT}") from e
    return whisper


def load_checkpoint(path: Path) -> Any:
    """Load an openai-whisper checkpoint on the CPU, with its word-alignment heads.

    ``whisper.load_model(path)`` falls back to "every head of the upper half of the decoder" for a
    file. Checkpoints from :mod:`indexer.asr.convert` carry their heads under
    ``"alignment_heads"``; a file named like an official model (``tiny.en.pt``) gets openai's.

    Returns:
      A ``whisper.model.Whisper`` in float32.
    """
    whisper = _import_whisper()
    import torch

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        model = whisper.model.Whisper(whisper.model.ModelDimensions(**checkpoint["dims"]))
        model.load_state_dict(checkpoint["model_state_dict"])
    except (OSError, RuntimeError, KeyError, TypeError, EOFError, pickle.UnpicklingError) as e:
        # torch's messages run to several lines; the first says what is wrong.
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ModelError(f"{path}: not an openai-whisper checkpoint ({reason})") from e

    heads = checkpoint.get("alignment_heads")
    if heads is None:
        heads = whisper._ALIGNMENT_HEADS.get(Path(path).name.removesuffix(".pt"))
    if heads is not None:
        try:
            model.set_alignment_heads(heads)
        except (ValueError, RuntimeError) as e:
            raise ModelError(f"{path}: alignment heads do not fit the model: {e}") from e
    return model


class OpenAIWhisperEngine:
    """A Whisper model run by openai-whisper on the CPU, in float32.

    Args:
      model: A CTranslate2 model directory (converted once, see ``cache_dir``), an openai-whisper
        ``.pt`` checkpoint, or an openai-whisper model name. A name whose CTranslate2 weights
        install as a package (``tiny.en``, ``base``: see :mod:`.weights`) uses those, converted, so
        it works offline and runs the same weights as faster-whisper; other names are downloaded
        on first use, so only online.
      cache_dir: The indexer's cache directory. Converted and downloaded checkpoints are kept in
        ``models/openai-whisper`` under it.
      threads: CPU threads for PyTorch. This is process-wide (``torch.set_num_threads``); None
        leaves PyTorch's default, one per core.

    Raises:
      ModelError: the model cannot be found, converted, downloaded or loaded, or openai-whisper is
        not installed.
    """

    name = "openai-whisper"
    # openai-whisper's decoder keeps its key/value cache in hooks on the shared model, so two chunks
    # cannot be decoded at once; PyTorch's threads parallelise within one.
    workers = 1

    def __init__(
        self,
        model: str | Path,
        *,
        cache_dir: Path,
        threads: int | None = None,
    ) -> None:
        whisper = _import_whisper()
        import torch

        if threads:
            torch.set_num_threads(threads)

        checkpoints = Path(cache_dir) / "models" / "openai-whisper"
        started = time.perf_counter()
        path = Path(model).expanduser()
        if is_model_dir(Path(path)):
            self._model = load_checkpoint(cached_openai_checkpoint(path, checkpoints))
        elif path.suffix == ".pt":
            if not path.is_file():
                raise ModelError(f"{path}: no such checkpoint")
            self._model = load_checkpoint(path)
        elif path.exists():
            raise ModelError(f"{path}: neither a CTranslate2 model directory nor an openai-whisper .pt checkpoint")
        else:
            self._model = self._load_by_name(whisper, str(model), Path(cache_dir), checkpoints)
        logger.info("Loaded %s with openai-whisper in %.1f s", model, time.perf_counter() - started)

        self.model_id = model_label(str(model))
        self.multilingual: bool = bool(self._model.is_multilingual)

    @staticmethod
    def _load_by_name(whisper: Any, name: str, cache_dir: Path, checkpoints: Path) -> Any:
        if name in OFFLINE_MODELS:
            try:
                model_dir = Path(resolve_ct2_model(name, cache_dir))
            except ModelError as e:
                logger.info("%s; downloading openai-whisper's %s instead", e, name)
            else:
                return load_checkpoint(cached_openai_checkpoint(model_dir, checkpoints))
        if name not in whisper.available_models():
            raise ModelError(
                f"{name}: not a model directory, checkpoint or openai-whisper model name "
                f"({', '.join(whisper.available_models())})"
            )
        try:
            return whisper.load_model(name, device="cpu", download_root=str(checkpoints))
        except Exception as e:  # urllib, checksum and torch errors alike: the model is unusable
            raise ModelError(f"{name}: cannot download or load the openai-whisper model: {e}") from e

    def transcribe_chunk(
        self,
        audio: np.ndarray,
        *,
        language: str | None,
        options: DecodeOptions,
    ) -> ChunkResult:
        """Recognise one chunk of 16 kHz mono audio; times are seconds from the chunk's start.

        ``language`` None means detect it (on the speech only, when VAD is on); English-only models
        always report ``"en"``. A chunk in which VAD finds no speech gives no segments, without
        decoding; its language is then the one asked for, ``"en"`` for an English-only model, or
        ``""`` (unknown).
        """
        whisper = _import_whisper()
        options = DecodeOptions.coerce(options)
        audio = np.asarray(audio, dtype=np.float32)

        if not self.multilingual:
            if language not in (None, "en"):
                logger.warning("%s is English-only; ignoring language %r", self.model_id, language)
            language = "en"

        timeline = None
        if options.vad:
            speech = keep_speech(audio)
            if speech is None:
                logger.debug("VAD found no speech in %.1f s of audio", len(audio) / SAMPLE_RATE)
                return ChunkResult(segments=[], language=language or "")
            audio, timeline = speech

        decode_options: dict[str, Any] = {"best_of": BEST_OF}
        if options.beam_size > 1:
            # openai-whisper decodes greedily unless beam_size is given.
            decode_options["beam_size"] = options.beam_size

        result = whisper.transcribe(
            self._model,
            audio,
            verbose=None,  # None: neither prints nor shows a progress bar
            language=language,
            word_timestamps=options.word_timestamps,
            condition_on_previous_text=options.condition_on_previous_text,
            fp16=False,
            **decode_options,
        )
        segments = [_segment(raw, timeline) for raw in result["segments"]]
        return ChunkResult(segments=segments, language=language or result["language"])


def _segment(raw: dict, timeline: CutTimeline | None) -> Segment:
    """A typed segment from openai-whisper's dict, with times moved back over cut silences."""
    words = [
        Word(
            start=float(word["start"]),
            end=float(word["end"]),
            word=word["word"],  # raw, leading space included, as faster-whisper gives it
            probability=float(word["probability"]),
        )
        for word in raw.get("words", [])
    ]
    segment = Segment(start=float(raw["start"]), end=float(raw["end"]), text=raw["text"], words=words)
    return segment if timeline is None else align.restore_cut_silences(segment, timeline)
