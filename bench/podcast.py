"""A podcast-like benchmark file: speech, music beds and silences, with its reference transcript.

    python bench/podcast.py OUT_DIR [--minutes 5] [--seed 0]

``make_podcast`` builds an episode of about ``minutes`` minutes: an intro jingle whose music carries
on quietly under the host's welcome, the seed article read as a news item, a few more items
(science, technology, gardening, a listener question, the weather), music beds and stretches of
silence between them, and an outro. The speech is the Piper voice of ``samples/make_samples.py``;
the music is synthesized here (chords, bass, a plucked melody, kick and hi-hat), so everything is
generated offline and deterministically from ``seed``.

Next to ``<name>.mp3`` it writes ``<name>.reference.txt`` (the spoken sentences in order, one a
line) and ``<name>.sentences.json`` (each sentence's start and end in the mp3, the music and silence
regions, and the parameters, which double as the cache key). ``concat_to_length`` repeats an episode
into a long file (10 min, 1 h, 3 h) without re-encoding, for memory benchmarks.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np

logger = logging.getLogger("indexer.bench")

REPO_ROOT = Path(__file__).resolve().parent.parent
# Bump when the generator changes what it produces, so cached episodes are rebuilt.
GENERATOR_VERSION = 1


def _load_speech_helpers():
    # The sentence splitter, the seeded Piper voice and the mp3 encoder live in the samples script
    # (samples/ and bench/ are directories of scripts, not packages); load it by path once.
    name = "indexer_make_samples"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "samples" / "make_samples.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while the file executes
        spec.loader.exec_module(module)
    return sys.modules[name]


speech = _load_speech_helpers()

# ---------------------------------------------------------------------------------------------
# What the host says. Plain sentences, some with numbers and names; written so that espeak reads
# them as written (no "$25", which it reads "dollar twenty five", and no years before 2000,
# which it reads "nineteen hundred sixty nine").

SHOW_NAME = "The Weekly Index"

INTRO = [
    f"Hello, and welcome to {SHOW_NAME}, the show where we look back at the stories that mattered "
    "this week. I'm your host, and as always, thank you for listening. Today we have news from "
    "Europe, a comet, a battery that runs on salt water, some advice for gardeners, and a question "
    "from a listener."
]

OUTRO = [
    f"That is all for this week. Thank you for listening to {SHOW_NAME}. If you enjoyed the show, "
    "please tell a friend about it. We will be back next week with more stories. Until then, take "
    "care, and goodbye."
]

ITEMS: dict[str, list[str]] = {
    "science": [
        "Now, on to science. Astronomers in Chile have spotted a faint comet that will pass close "
        "to the Sun next spring. The comet was found in images taken by a small telescope on a "
        "mountain in the Atacama Desert. According to the team, it travels on a long orbit that "
        "brings it back only once every 4,000 years.",
        "If it survives its close approach, it could be bright enough to see with binoculars in "
        "April. Comets are made of ice and dust left over from the birth of the solar system. When "
        "they come near the Sun, the ice turns into gas and forms the glowing tail we see from "
        "Earth.",
        "The researchers say they will keep watching it every clear night, and they have asked "
        "amateur astronomers to send in their own photographs.",
    ],
    "technology": [
        "In technology news, a group of engineers has built a battery that uses salt water instead "
        "of rare metals. The battery is large and heavy, so it will not go into phones or cars. "
        "Instead, it is meant to store power from wind and solar farms for the evening, when "
        "demand is high.",
        "The first test site is a small island with about 2,500 residents. Officials there say the "
        "island has burned diesel fuel for electricity for more than 30 years, and they hope the "
        "new system will cut that by half.",
        "Critics point out that the batteries lose some of their charge if they sit unused for too "
        "long. The engineers say the next version, due in 2026, will fix that problem.",
    ],
    "gardening": [
        "Next, some advice for gardeners, as the weather turns colder. Before the first frost, "
        "bring tender plants indoors, or cover them with a light cloth at night.",
        "Leave the fallen leaves on your flower beds. They protect the soil and give shelter to "
        "insects over the winter. If you grow tomatoes, pick the last green fruit now and let it "
        "ripen on a sunny windowsill.",
        "And remember to clean and dry your tools before you put them away, so they do not rust.",
    ],
    "listener question": [
        "Now it is time for our listener question. Maria from Toronto writes, “Why does my own "
        "voice sound so strange on a recording?” That is a great question, Maria.",
        "When you speak, you hear your voice in two ways. Part of the sound travels through the air "
        "to your ears, and part of it travels through the bones of your head. The bones carry low "
        "sounds especially well, so your voice seems deeper and fuller to you than it really is.",
        "A recording only captures the sound that travels through the air, which is exactly what "
        "everyone else hears. So the voice on the recording, strange as it may seem, is the one "
        "your friends know.",
    ],
    "weather": [
        "Finally, a look at the weather for the weekend. Saturday will be cloudy in the morning, "
        "with sunshine in the afternoon and a high of 12 degrees.",
        "On Sunday, expect rain from early in the morning until the evening, along with strong "
        "winds near the coast. If you are planning a trip, leave a little earlier than usual, and "
        "drive carefully.",
    ],
}


def _news_item() -> list[str]:
    """The seed article as a news item, or nothing if the sample text is missing."""
    path = REPO_ROOT / "samples" / "seed_article.txt"
    if not path.is_file():
        logger.warning("%s not found; the episode will have no news item", path)
        return []
    article = speech.parse_article(path.read_text(encoding="utf-8"))
    return ["We begin with international news.", article.title] + article.paragraphs


# ---------------------------------------------------------------------------------------------
# Music


def _midi_hz(note: float) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def _place(out: np.ndarray, sound: np.ndarray, at: int) -> None:
    end = min(len(out), at + len(sound))
    if at < end:
        out[at:end] += sound[: end - at]


def _tone(hz: float, seconds: float, sr: int, harmonics=(1.0, 0.5, 0.25), decay=0.0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    wave = sum(a * np.sin(2 * np.pi * hz * (k + 1) * t) for k, a in enumerate(harmonics))
    if decay:
        wave *= np.exp(-t / decay)
    attack = min(len(t), int(0.01 * sr))  # 10 ms ramps: no clicks at note edges
    wave[:attack] *= np.linspace(0, 1, attack)
    wave[len(t) - attack :] *= np.linspace(1, 0, attack)
    return wave


# Chord roots as scale degrees of a major key (semitones) and whether the triad is minor.
_PROGRESSIONS = [
    [(0, False), (7, False), (9, True), (5, False)],  # I V vi IV
    [(9, True), (5, False), (0, False), (7, False)],  # vi IV I V
    [(0, False), (5, False), (7, False), (5, False)],  # I IV V IV
    [(0, False), (9, True), (5, False), (7, False)],  # I vi IV V
]
_MAJOR_SCALE = [0, 2, 4, 5, 7, 9, 11]


def make_music(seconds: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A few bars of pop-like music: pad chords, bass, a plucked melody, kick and hi-hat.

    Peak-normalised to 1 with short fades; the caller sets the level.
    """
    n = int(seconds * sr)
    out = np.zeros(n)
    bpm = float(rng.choice([92, 100, 108, 116]))
    beat = 60.0 / bpm
    key = int(rng.choice([55, 57, 58, 60, 62]))  # G3 .. D4
    progression = _PROGRESSIONS[int(rng.integers(len(_PROGRESSIONS)))]
    bar = 4 * beat

    for b in range(math.ceil(seconds / bar)):
        root, minor = progression[b % len(progression)]
        at = int(b * bar * sr)
        triad = [root, root + (3 if minor else 4), root + 7]
        for step in triad:  # pad: the whole bar, soft
            _place(out, 0.12 * _tone(_midi_hz(key + step), bar, sr, (1.0, 0.3, 0.1)), at)
        bass = 0.35 * _tone(_midi_hz(key + root - 24), 2 * beat, sr, decay=0.5)
        for half in (0, 2):  # bass on beats 1 and 3
            _place(out, bass, at + int(half * beat * sr))
        for eighth in range(8):  # melody: chord or scale tones, some rests
            if rng.random() < 0.25:
                continue
            pool = triad if rng.random() < 0.7 else [root + s for s in _MAJOR_SCALE[:5]]
            hz = _midi_hz(key + 12 + int(rng.choice(pool)))
            pluck = 0.18 * _tone(hz, beat, sr, (1.0, 0.4, 0.2, 0.1), decay=0.18)
            _place(out, pluck, at + int(eighth * beat / 2 * sr))
        for q in range(4):  # kick on 1 and 3, hi-hat on every eighth
            t0 = at + int(q * beat * sr)
            if q % 2 == 0:
                t = np.arange(int(0.25 * sr)) / sr
                sweep = 2 * np.pi * np.cumsum(50 + 70 * np.exp(-t / 0.03)) / sr
                _place(out, 0.6 * np.sin(sweep) * np.exp(-t / 0.08), t0)
            for off in (0, beat / 2):
                noise = np.diff(rng.standard_normal(int(0.05 * sr) + 1))  # differencing: bright
                hat = 0.04 * noise * np.exp(-np.arange(len(noise)) / (0.012 * sr))
                _place(out, hat, t0 + int(off * sr))

    out /= max(np.max(np.abs(out)), 1e-9)
    fade = min(n // 2, int(0.5 * sr))
    out[:fade] *= np.linspace(0, 1, fade)
    out[n - fade :] *= np.linspace(1, 0, fade)
    return out.astype(np.float32)


# ---------------------------------------------------------------------------------------------
# The episode

JINGLE_SECONDS = 8.0
CLOSING_SECONDS = 6.0
MUSIC_LEVEL = 0.55  # music alone; speech peaks at 0.85
UNDER_SPEECH_LEVEL = 0.07  # music under the host's welcome, about 22 dB below the speech


def _read(timeline, speaker, paragraphs: list[str], room: Optional[float] = None) -> bool:
    """Read paragraphs into ``timeline``; stop before a sentence once it is ``room`` seconds long.

    Returns False if it stopped early.
    """
    for i, paragraph in enumerate(paragraphs):
        for j, sentence in enumerate(speech.split_sentences(paragraph)):
            if room is not None and timeline.duration >= room:
                return False
            if i or j:
                timeline.pause(speech.PARAGRAPH_PAUSE if j == 0 else speech.SENTENCE_PAUSE)
            timeline.speak(speaker.say(sentence), sentence)
    return True


class _Episode:
    """A Timeline plus its music and silence regions, for the sentences.json."""

    def __init__(self, sr: int, rng: np.random.Generator, speaker):
        self.timeline = speech.Timeline(sr)
        self.sr = sr
        self.rng = rng
        self.speaker = speaker
        self.regions: list[dict] = []

    @property
    def duration(self) -> float:
        return self.timeline.duration

    def _region(self, kind: str, start: float, end: Optional[float] = None) -> None:
        end = self.duration if end is None else end
        self.regions.append({"kind": kind, "start": round(start, 3), "end": round(end, 3)})

    def silence(self, seconds: float) -> None:
        start = self.duration
        self.timeline.pause(seconds)
        self._region("silence", start)

    def music(self, seconds: float) -> None:
        start = self.duration
        self.timeline.add(MUSIC_LEVEL * make_music(seconds, self.sr, self.rng))
        self._region("music", start)

    def speak(self, paragraphs: list[str], room: Optional[float] = None) -> bool:
        return _read(self.timeline, self.speaker, paragraphs, room)

    def speak_over_music(self, paragraphs: list[str], lead_in: float) -> None:
        """A jingle of ``lead_in`` seconds that carries on, ducked, under the speech."""
        voice = speech.Timeline(self.sr)
        voice.pause(lead_in)
        _read(voice, self.speaker, paragraphs)
        voice.pause(1.0)
        n = voice.length
        music = make_music(n / self.sr, self.sr, self.rng)
        # Full level for the jingle, then down to a quiet bed over the second before the host starts.
        duck = int(lead_in * self.sr)
        ramp = min(duck, self.sr)
        gain = np.full(n, UNDER_SPEECH_LEVEL, dtype=np.float32)
        gain[: duck - ramp] = MUSIC_LEVEL
        gain[duck - ramp : duck] = np.linspace(MUSIC_LEVEL, UNDER_SPEECH_LEVEL, ramp)
        start = self.duration
        self.timeline.append(voice, voice.audio() + gain * music)
        self._region("music", start, start + lead_in)
        self._region("speech over music", start + lead_in)


def _params(minutes: float, seed: int, sample_rate: int, channels: int, bitrate: str) -> dict:
    texts = json.dumps([INTRO, OUTRO, ITEMS, _news_item()], ensure_ascii=False)
    return {
        "generator": GENERATOR_VERSION,
        "minutes": minutes,
        "seed": seed,
        "sample_rate": sample_rate,
        "channels": channels,
        "bitrate": bitrate,
        "voice": speech.VOICE_NAME,
        "text_sha1": hashlib.sha1(texts.encode()).hexdigest()[:12],
    }


def make_podcast(
    out_dir: Path,
    minutes: float = 5.0,
    *,
    seed: int = 0,
    sample_rate: int = 44100,
    channels: int = 2,
    bitrate: str = "96k",
) -> tuple[Path, str]:
    """Build (or reuse) a podcast-like mp3 of about ``minutes`` minutes in ``out_dir``.

    The default format is what podcast hosts typically serve: 44.1 kHz stereo, 96 kbit/s CBR
    (the mix itself is mono at Piper's 22.05 kHz; ffmpeg upsamples and duplicates the channel).
    The episode is cached by its parameters and text; an existing one is returned as is.

    Returns:
      The mp3's path and the reference transcript: the spoken sentences in order, one a line.
    """
    out_dir = Path(out_dir)
    params = _params(minutes, seed, sample_rate, channels, bitrate)
    key = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]
    stem = out_dir / f"podcast_{minutes:g}min_{key}"
    mp3 = stem.with_suffix(".mp3")
    reference_path = stem.with_name(stem.name + ".reference.txt")
    manifest_path = stem.with_name(stem.name + ".sentences.json")

    # The manifest is written last, so its presence with matching params means a complete build.
    if mp3.is_file() and reference_path.is_file() and manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("params") == params:
            logger.info("Reusing %s", mp3)
            return mp3, reference_path.read_text(encoding="utf-8")

    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    speaker = speech.Speaker(seed=speech.VOICE_SEED + seed)
    sr = speaker.sample_rate
    target = minutes * 60.0

    # The outro is rendered first so the body knows how much room to leave for it.
    outro = speech.Timeline(sr)
    _read(outro, speaker, OUTRO)
    outro_bed = float(rng.uniform(5, 10))
    outro_seconds = 0.8 + outro_bed + 0.8 + outro.duration + 1.0 + CLOSING_SECONDS + 0.5

    episode = _Episode(sr, rng, speaker)
    episode.timeline.pause(0.5)
    episode.speak_over_music(INTRO, lead_in=JINGLE_SECONDS)
    episode.silence(float(rng.uniform(2, 6)))

    items = [_news_item()] + list(ITEMS.values())
    items = [item for item in items if item]
    order = list(range(len(items)))
    breaks = 0
    room = target - outro_seconds
    while episode.duration + 10.0 < room:
        for index in order:
            if episode.duration + 10.0 >= room:
                break  # no room for a break and a few sentences: go to the outro
            if breaks:
                # Alternate music beds and silences between items, so both occur early on.
                if breaks % 2:
                    episode.timeline.pause(0.8)
                    episode.music(float(rng.uniform(5, 10)))
                    episode.timeline.pause(0.8)
                else:
                    episode.silence(float(rng.uniform(2, 6)))
            breaks += 1
            if not episode.speak(items[index], room=room):
                break
        order = list(rng.permutation(len(items)))  # later passes: the items in another order

    # The body stops at a sentence or item boundary short of ``room``; a longer (or shorter)
    # closing bed takes up the difference so the episode lands close to ``minutes``.
    outro_bed = float(np.clip(outro_bed + room - episode.duration, 5.0, 15.0))
    episode.timeline.pause(0.8)
    episode.music(outro_bed)
    episode.timeline.pause(0.8)
    episode.timeline.append(outro)
    episode.timeline.pause(1.0)
    episode.music(CLOSING_SECONDS)
    episode.timeline.pause(0.5)

    audio = episode.timeline.audio()
    synthesized = time.perf_counter() - started
    out_dir.mkdir(parents=True, exist_ok=True)
    partial = mp3.with_name(mp3.name + ".part.mp3")
    speech.encode_mp3(
        audio, sr, partial, bitrate=bitrate, out_rate=sample_rate, channels=channels,
        metadata={"title": f"{SHOW_NAME} (synthetic benchmark episode)", "artist": SHOW_NAME},
    )  # fmt: skip
    partial.replace(mp3)

    sentences = episode.timeline.sentences
    reference = "\n".join(s.text for s in sentences) + "\n"
    reference_path.write_text(reference, encoding="utf-8")
    manifest = speech.sentences_json(mp3.name, sample_rate, episode.duration, sentences)
    manifest["regions"] = episode.regions
    manifest["params"] = params
    manifest_path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    logger.info(
        "Built %s: %.1f s, %d sentences (synthesis %.1f s, total %.1f s)",
        mp3, episode.duration, len(sentences), synthesized, time.perf_counter() - started,
    )  # fmt: skip
    return mp3, reference


def _probe_duration(path: Path) -> float:
    """The duration a decoder returns (encoder delay and padding excluded)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        if stream.duration is not None:
            return float(stream.duration * stream.time_base)
        return container.duration / av.time_base


def _packet_duration(path: Path) -> float:
    """The duration of all the mp3 frames, encoder delay and padding included (no decoding)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        total = sum(packet.duration or 0 for packet in container.demux(stream) if packet.size)
        return float(total * stream.time_base)


def concat_to_length(src: Path, out: Path, seconds: float) -> Path:
    """Repeat ``src`` until ``out`` is ``seconds`` long, copying the mp3 frames (no re-encoding).

    Fast (an hour takes about a second) and the audio is real: every repeat is the same episode.
    The cut at ``seconds`` falls on a frame boundary, likely mid-sentence.

    Stream copy keeps each repeat's encoder delay and padding (about 29 ms at the joins of a
    make_podcast episode), so repeat ``k`` starts at ``k`` times the length of ``src``'s frames,
    not of its decoded audio. If ``src`` has a ``.sentences.json`` (make_podcast writes one),
    ``out`` gets one too, with the times shifted accordingly and only the sentences that end
    before the cut, plus the matching ``.reference.txt``.
    """
    src, out = Path(src).resolve(), Path(out)
    period = _packet_duration(src)
    decoded = _probe_duration(src)
    repeats = max(1, math.ceil(seconds / decoded))
    # The concat demuxer starts each repeat's timestamps at the decoded length of the ones
    # before, while their frames last ``period``; ``-t`` counts in those timestamps.
    cut = seconds - (seconds // period) * (period - decoded)
    out.parent.mkdir(parents=True, exist_ok=True)
    listing = out.with_name(out.name + ".concat.txt")
    # The concat demuxer's list format; a single quote in the path is written '\''.
    quoted = str(src).replace("'", "'\\''")
    listing.write_text(f"file '{quoted}'\n" * repeats, encoding="utf-8")
    cmd = [
        speech.ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
        "-f", "concat", "-safe", "0", "-i", str(listing),
        "-t", f"{cut:.3f}", "-c", "copy", "-map_metadata", "-1", str(out),
    ]  # fmt: skip
    try:
        subprocess.run(cmd, check=True, capture_output=True)
    except subprocess.CalledProcessError as e:
        raise RuntimeError(f"Failed to concatenate {src} into {out}: {e.stderr.decode()}") from e
    finally:
        listing.unlink(missing_ok=True)

    src_manifest = src.with_name(src.stem + ".sentences.json")
    if src_manifest.is_file():
        manifest = json.loads(src_manifest.read_text(encoding="utf-8"))
        duration = _probe_duration(out)

        def shifted(items: list[dict]) -> list[dict]:
            return [
                {**item, "start": round(item["start"] + k * period, 3),
                 "end": round(item["end"] + k * period, 3)}
                for k in range(repeats) for item in items
                if item["end"] + k * period <= duration
            ]  # fmt: skip

        manifest.update(
            audio=out.name,
            duration=round(duration, 3),
            sentences=shifted(manifest["sentences"]),
            regions=shifted(manifest.get("regions", [])),
            source={"audio": src.name, "repeats": repeats, "period": round(period, 6)},
        )
        (out.with_name(out.stem + ".sentences.json")).write_text(
            json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        reference = "".join(s["text"] + "\n" for s in manifest["sentences"])
        (out.with_name(out.stem + ".reference.txt")).write_text(reference, encoding="utf-8")
    return out


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Build a podcast-like benchmark episode.")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--long", type=float, metavar="SECONDS", help="also repeat it into a file this long")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    path, text = make_podcast(args.out_dir, args.minutes, seed=args.seed)
    print(f"{path}  {_probe_duration(path):.1f} s  {len(text.split())} words")
    if args.long:
        long_path = concat_to_length(path, path.with_name(f"{path.stem}_x{args.long:g}s.mp3"), args.long)
        print(f"{long_path}  {_probe_duration(long_path):.1f} s")
