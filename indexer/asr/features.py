"""Whisper's log-Mel features for a whole chunk, computed a few seconds at a time.

faster-whisper computes the short-time Fourier transform of everything it is given at once, so its
intermediates grow with the chunk, for each worker, on top of what the other workers hold at that
moment. Frames are independent, so computing them in blocks gives the same features bit for bit in a
fraction of the memory (bench/RESULTS.md, "Memory").
"""

from __future__ import annotations

import numpy as np
from faster_whisper.feature_extractor import FeatureExtractor

# 10 seconds of 10-ms frames; smaller blocks save little more and cost numpy call overhead.
BLOCK_FRAMES = 1000


class BlockwiseFeatureExtractor(FeatureExtractor):
    """A drop-in for faster-whisper's ``FeatureExtractor`` with bounded intermediate memory."""

    @classmethod
    def like(cls, extractor: FeatureExtractor) -> "BlockwiseFeatureExtractor":
        """The same features as ``extractor`` (a model's own: 80 or 128 Mel bands)."""
        return cls(
            feature_size=len(extractor.mel_filters),
            sampling_rate=extractor.sampling_rate,
            hop_length=extractor.hop_length,
            chunk_length=extractor.chunk_length,
            n_fft=extractor.n_fft,
        )

    def __call__(self, waveform: np.ndarray, padding: int = 160, chunk_length=None) -> np.ndarray:
        if chunk_length is not None:  # the parent keeps these for the decoder to read
            self.n_samples = chunk_length * self.sampling_rate
            self.nb_max_frames = self.n_samples // self.hop_length
        waveform = np.asarray(waveform, dtype=np.float32)
        if padding:
            waveform = np.pad(waveform, (0, padding))
        # Centred frames, as the parent's stft(center=True): reflect half a window at both ends.
        padded = np.pad(waveform, self.n_fft // 2, mode="reflect")
        frames = np.lib.stride_tricks.sliding_window_view(padded, self.n_fft)[:: self.hop_length]
        window = np.hanning(self.n_fft + 1)[:-1].astype(np.float32)
        n_frames = len(frames) - 1  # the parent drops the last frame
        log_spec = np.empty((len(self.mel_filters), n_frames), dtype=np.float32)
        for start in range(0, n_frames, BLOCK_FRAMES):
            end = min(n_frames, start + BLOCK_FRAMES)
            power = np.abs(np.fft.rfft(frames[start:end] * window, axis=-1)) ** 2
            log_spec[:, start:end] = np.log10(np.maximum(self.mel_filters @ power.T, 1e-10))
        # The dynamic range is clamped against the whole chunk's maximum, so only after all blocks.
        np.maximum(log_spec, log_spec.max() - 8.0, out=log_spec)
        log_spec += 4.0
        log_spec /= 4.0
        return log_spec
