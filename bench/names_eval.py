"""The names benchmark: are names, numbers and spellings found where they are spoken?

Run as ``python bench/run.py names``. Ingests the evaluation set in ``bench/names/`` (made by
``bench/names/make_names.py``; each case's truth says which sentence is spoken when, and may name
another article, ingested after it, that spells its names without embedding its audio) plus three
pairs of bad input (an article with unrelated audio, one in German, one with no text), twice: with
the article alignment and the index-wide name lexicon, and with the method they replaced
(capitalised heard words spelled like an article name, no normal forms) as the baseline, in the
same run. Cases marked ``held_out`` were added after the rules were tuned on the others; their
figures are reported on their own too.

A query finds a spoken occurrence when one of its audio hits is in that audio and jumps in within
the sentence (1 s either side). An audio hit anywhere else is a false hit.
"""

from __future__ import annotations

import json
import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from indexer import Index, alignment, lexicon
from indexer.index import whoosh as whoosh_backend
from indexer.models import Segment

NAMES = Path(__file__).resolve().parent / "names"
TOLERANCE = 1.0

# Bad input: (page text, audio of another case).
GERMAN = (
    "Regensburg plant eine neue Brücke\n\n"
    "Die Stadt Regensburg will bis 2028 eine neue Brücke über die Donau bauen, sagte Bürgermeisterin "
    "Gertrud Maltz-Schwarzfischer am Mittwoch.\n\n"
    "Die Kosten werden auf achtunddreißig Millionen Euro geschätzt; der Stadtrat stimmt im Herbst ab.\n"
)
UNRELATED = (
    "Fishing quotas cut for Peterhead fleet\n\n"
    "Skippers in Peterhead said the new quotas for haddock and whiting would cost the fleet dearly.\n\n"
    "Fisheries officer Morag Strachan said the cuts of fourteen percent were needed to protect spawning stocks.\n"
)
# The text reader refuses an article with no text at all; this is as close as a page gets.
EMPTY = "Untitled\n\nListen.\n"
# Words no audio speaks: besides each case's unspoken article words and the bad pairs' names.
NOWHERE = ["Okonjo", "Przybylski", "Haugesund", "Kowalski", "Aberdeen", "Regensburg", "Peterhead", "Strachan", "Morag"]


@dataclass
class Occurrence:
    query: str
    audio: str
    start: float
    end: float


def load_cases() -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(NAMES.glob("*.truth.json"))]


def spoken(cases: list[dict], query: str, also: tuple[str, ...] = ()) -> list[Occurrence]:
    """Every sentence in the set that speaks ``query`` (or one of ``also``), case-insensitively."""
    forms = [query.lower(), *(a.lower() for a in also)]
    found = []
    for case in cases:
        for s in case["sentences"]:
            if any(f in s["text"].lower() for f in forms):
                found.append(Occurrence(query, str(NAMES / case["audio"]), s["start"], s["end"]))
    return found


def _query(text: str) -> str:
    return f'"{text}"' if " " in text else text


def recall(index: Index, occurrences: list[Occurrence]) -> tuple[int, int]:
    found = 0
    hits_by_query: dict[str, list] = {}
    for occ in occurrences:
        if occ.query not in hits_by_query:
            hits_by_query[occ.query] = index.search(_query(occ.query), kind="audio", limit=50)
        if any(
            h.audio == occ.audio and occ.start - TOLERANCE <= h.start <= occ.end + TOLERANCE for h in hits_by_query[occ.query]
        ):
            found += 1
    return found, len(occurrences)


def false_hits(index: Index, cases: list[dict], queries: list[str]) -> tuple[int, list[str]]:
    """Audio hits where the query's word is not spoken."""
    count, examples = 0, []
    for query in queries:
        truth = spoken(cases, query)
        for hit in index.search(_query(query), kind="audio", limit=50):
            start = hit.start
            assert start is not None, "an audio hit has a time"
            if not any(h.audio == hit.audio and h.start - TOLERANCE <= start <= h.end + TOLERANCE for h in truth):
                count += 1
                examples.append(f"{query} -> {hit.snippet[:60]!r}")
    return count, examples


def heard_at_errors(index: Index, cases: list[dict]) -> list[float]:
    """|start error| of heard_at for every read paragraph; inf when the paragraph has none."""
    errors = []
    by_text: dict[str, list] = {}

    def read(searcher) -> None:
        for doc in searcher.documents(doc_type=whoosh_backend.PARAGRAPH):
            by_text.setdefault(doc["text"], []).append(doc.get("heard_at") or [])

    backend = index._text.backend
    assert isinstance(backend, whoosh_backend.WhooshBackend), "the paragraphs are read from the Whoosh index the set is in"
    backend._read(read)
    for case in cases:
        audio = str(NAMES / case["audio"])
        firsts: dict[int, float] = {}
        for s in case["sentences"]:
            if s["paragraph"] is not None and s["paragraph"] >= 0:
                firsts.setdefault(s["paragraph"], s["start"])
        for p, truth_start in firsts.items():
            entries = [h for found in by_text.get(case["paragraphs"][p], []) for h in found if h["audio"] == audio]
            errors.append(min((abs(h["start"] - truth_start) for h in entries), default=float("inf")))
    return errors


@contextmanager
def baseline():
    """The method before alignment: no aligned spellings, no normal forms in search."""
    backend = whoosh_backend.WhooshBackend
    align, fields, sounds, named = alignment.align, whoosh_backend.SEARCH_FIELDS, backend._sounds_like, lexicon.name_aliases
    alignment.align = lambda *args, **kwargs: alignment.Alignment()
    whoosh_backend.SEARCH_FIELDS = ("text", "aliases")
    backend._sounds_like = lambda *args, **kwargs: []
    lexicon.name_aliases = lambda *args, **kwargs: {}
    try:
        yield
    finally:
        alignment.align, whoosh_backend.SEARCH_FIELDS, backend._sounds_like = align, fields, sounds
        lexicon.name_aliases = named


@contextmanager
def new_method():
    yield


def ingest_all(index: Index, cases: list[dict], work: Path) -> dict[str, float]:
    """Ingest every case and the bad pairs; returns seconds spent ingesting, aligning and looking
    for the lexicon's names."""
    spent = {"ingest": 0.0, "align": 0.0, "lexicon": 0.0}
    real_align, real_names = alignment.align, lexicon.name_aliases

    def timer(function, key):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[key] += time.perf_counter() - started

        return timed

    alignment.align = timer(real_align, "align")
    lexicon.name_aliases = timer(real_names, "lexicon")
    try:
        started = time.perf_counter()
        for case in cases:
            page = NAMES / case["page"]
            attach = [str(NAMES / case["audio"])] if page.suffix == ".txt" else []
            report = index.ingest(str(page), audio=attach)
            if report.failures:
                raise RuntimeError(f"{case['case']}: {report.failures}")
            for other in case.get("also", []):  # an article that spells the case's names, not embedding its audio
                report = index.ingest(str(NAMES / other))
                if report.failures:
                    raise RuntimeError(f"{other}: {report.failures}")
        by_name = {c["case"]: c for c in cases}
        bad = work / "bad"
        bad.mkdir(parents=True, exist_ok=True)
        for name, text, audio_of in (
            ("german", GERMAN, "harbour_read"),
            ("unrelated", UNRELATED, "clinic_read"),
            ("empty", EMPTY, "bridge_read"),
        ):
            page = bad / f"{name}.txt"
            page.write_text(text, encoding="utf-8")
            report = index.ingest(str(page), audio=[str(NAMES / by_name[audio_of]["audio"])])
            if report.failures:
                raise RuntimeError(f"{name}: {report.failures}")
        spent["ingest"] = time.perf_counter() - started
    finally:
        alignment.align, lexicon.name_aliases = real_align, real_names
    return spent


def long_alignment_time(index: Index, cases: list[dict], hours: float, article_words: int = 5000) -> tuple[float, int, int]:
    """Seconds to align an ``article_words`` article with a transcript of ``hours`` of speech.

    The transcript repeats the set's own transcripts (times shifted) up to the length; the article
    repeats the set's paragraphs, so much of it aligns, as a long read article would.
    """
    from indexer.models import Transcript

    segments, offset = _long_segments(index, hours)
    paragraphs, count = [], 0
    while count < article_words:
        for case in cases:
            for p in case["paragraphs"]:
                paragraphs.append(p)
                count += len(p.split())
    transcript = Transcript(segments=segments, language="en", duration=offset)
    runs = []
    for _ in range(3):  # the best of three: the machine is shared
        alignment.normal_forms.cache_clear()
        started = time.perf_counter()
        alignment.align("", paragraphs, transcript)
        runs.append(time.perf_counter() - started)
    return min(runs), sum(len(s.words) for s in segments), count


def _long_segments(index: Index, hours: float) -> tuple[list, float]:
    """The set's own transcripts repeated (times shifted) up to ``hours``: (segments, duration)."""
    from indexer.models import Segment, Word

    pieces = [index.transcript(s.id) for s in index.sources() if s.kind == "audio"]
    segments, offset = [], 0.0
    while offset < hours * 3600:
        for piece in pieces:
            for seg in piece.segments:
                words = [Word(w.start + offset, w.end + offset, w.word, w.probability) for w in seg.words]
                segments.append(Segment(seg.start + offset, seg.end + offset, seg.text, words))
            offset += max(1.0, piece.segments[-1].end if piece.segments else 1.0)
    return segments, offset


def long_lexicon_time(index: Index, cases: list[dict], hours: float, extra_names: int) -> tuple[float, int]:
    """Seconds to look for the lexicon's names in a transcript of ``hours`` of speech (made as in
    :func:`long_alignment_time`): the set's names plus ``extra_names`` invented ones, as a larger
    index would hold. Returns (seconds, names)."""
    import random

    segments, offset = _long_segments(index, hours)
    names = {n for c in cases for n in c["names"]}
    syllables = ["ka", "ro", "vel", "mir", "sz", "ten", "gor", "ula", "bre", "dok", "wic", "han", "ost", "lj", "ne"]
    rng = random.Random(7)
    while len(names) < extra_names:
        names.add("".join(rng.choice(syllables) for _ in range(rng.randint(3, 4))).capitalize())
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        lexicon.name_aliases(segments, names)
        runs.append(time.perf_counter() - started)
    return min(runs), len(names)


def unheard_check(index: Index, cache: Path) -> tuple[int, int, int, float, float]:
    """The skipped-speech guard (indexer.unheard) over every audio file in ``index`` and the sample:
    (files, stretches recognised again, words recovered, seconds the check took, seconds of audio)."""
    from faster_whisper import decode_audio

    from indexer.asr import load_engine
    from indexer.asr.base import DecodeOptions
    from indexer.unheard import recover_unheard

    engine = load_engine(cache_dir=cache)

    def recognise(piece):
        return list(engine.transcribe_chunk(piece, language="en", options=DecodeOptions()).segments)

    files: list[tuple[str, Optional[list[Segment]]]] = [
        (s.location, index.transcript(s.id).segments) for s in index.sources() if s.kind == "audio"
    ]
    sample = Path(__file__).resolve().parent.parent / "samples" / "seed_article.mp3"
    files.append((str(sample), None))
    stretches = words = 0
    spent = audio_seconds = 0.0
    for location, segments in files:
        samples = decode_audio(location, sampling_rate=16000)
        if segments is None:
            segments = recognise(samples)
        audio_seconds += len(samples) / 16000
        started = time.perf_counter()
        recovery = recover_unheard(samples, segments, recognise)
        spent += time.perf_counter() - started
        stretches, words = stretches + recovery.stretches, words + recovery.words
    return len(files), stretches, words, spent, audio_seconds


@dataclass
class Measured:
    """One method's figures over the set: (found, of) pairs, false hits with examples, heard_at errors."""

    names: tuple[int, int]
    numbers: tuple[int, int]
    spellings: tuple[int, int]
    tuned: list[tuple[int, int]]  # names, numbers, spellings in the cases the rules were tuned on
    held_out: list[tuple[int, int]]  # the same in the held-out cases
    false_held_out: tuple[int, list[str]]
    false_unspoken: tuple[int, list[str]]
    false_names: tuple[int, list[str]]
    heard_at: list[float]
    spent: dict[str, float]
    by_shape: dict[str, tuple[int, int]]


def run(work: Path, quick: bool) -> str:
    cases = load_cases()
    names = [Occurrence(n, o.audio, o.start, o.end) for c in cases for n in c["names"] for o in spoken([c], n)]
    numbers = [
        Occurrence(q, o.audio, o.start, o.end)
        for c in cases
        for written, other in c["numbers"]
        for q in (written, other)
        for o in spoken([c], written, (other,))
    ]
    spellings = [
        Occurrence(q, o.audio, o.start, o.end)
        for c in cases
        for british, american in c["spellings"]
        for q in (british, american)
        for o in spoken([c], british)
    ]
    unspoken = sorted({w for c in cases for w in c["unspoken"]} | set(NOWHERE))
    all_names = sorted({n for c in cases for n in c["names"]})
    held_out = {str(NAMES / c["audio"]) for c in cases if c.get("held_out")}
    held_unspoken = sorted({w for c in cases if c.get("held_out") for w in c["unspoken"]})

    def split(occurrences: list[Occurrence]) -> tuple[list[Occurrence], list[Occurrence]]:
        """(the tuned cases' occurrences, the held-out cases')."""
        return [o for o in occurrences if o.audio not in held_out], [o for o in occurrences if o.audio in held_out]

    results: dict[str, Measured] = {}
    for label, mode in (("before", baseline), ("after", new_method)):
        directory = work / f"names-index-{label}-{time.time_ns()}"
        # A fresh transcript cache for each, so that both ingests include recognition.
        index = Index(directory, cache_dir=work / f"names-cache-{label}-{time.time_ns()}")
        with mode():
            spent = ingest_all(index, cases, work / label)
            results[label] = Measured(
                names=recall(index, names),
                numbers=recall(index, numbers),
                spellings=recall(index, spellings),
                tuned=[recall(index, split(found)[0]) for found in (names, numbers, spellings)],
                held_out=[recall(index, split(found)[1]) for found in (names, numbers, spellings)],
                false_held_out=false_hits(index, cases, held_unspoken),
                false_unspoken=false_hits(index, cases, unspoken),
                false_names=false_hits(index, cases, all_names),
                heard_at=heard_at_errors(index, cases),
                spent=spent,
                by_shape={
                    shape: recall(
                        index,
                        [o for o in names if any(c["shape"] == shape and str(NAMES / c["audio"]) == o.audio for c in cases)],
                    )
                    for shape in sorted({c["shape"] for c in cases})
                },
            )
        if label == "after":
            long_index = index
    unheard = unheard_check(long_index, work / "names-cache-unheard")
    hours = [1.0] if quick else [1.0, 3.0]
    long_times = {h: long_alignment_time(long_index, cases, h) for h in hours}
    lexicon_times = [long_lexicon_time(long_index, cases, 1.0, size) for size in (0, 2000)]

    def pct(pair: tuple[int, int]) -> str:
        return f"{pair[0]}/{pair[1]} ({pair[0] / pair[1]:.0%})" if pair[1] else "-"

    b, a = results["before"], results["after"]
    held_names = ", ".join(c["case"] for c in cases if c.get("held_out")) or "none"
    lines = [
        f"### names: the evaluation set in bench/names ({len(cases)} cases, 2 TTS voices) + 3 bad-input pairs, tiny.en",
        "",
        "| measure | before (capitalised look-alikes) | after (alignment, lexicon) |",
        "|---|---|---|",
        f"| spoken names found in audio | {pct(b.names)} | {pct(a.names)} |",
        f"| ... in the {len(cases) - len(held_out)} cases the rules were tuned on | {pct(b.tuned[0])} | {pct(a.tuned[0])} |",
        f"| ... held out ({held_names}) | {pct(b.held_out[0])} | {pct(a.held_out[0])} |",
    ]
    for shape in a.by_shape:
        lines.append(f"| ... {shape} | {pct(b.by_shape[shape])} | {pct(a.by_shape[shape])} |")
    lines += [
        f"| numbers, either form, found in audio | {pct(b.numbers)} | {pct(a.numbers)} |",
        f"| spellings, either form, found in audio | {pct(b.spellings)} | {pct(a.spellings)} |",
        f"| false audio hits, words nowhere spoken ({len(unspoken)} queries) | {b.false_unspoken[0]} | {a.false_unspoken[0]} |",
        f"| false audio hits, name queries (wrong audio or time) | {b.false_names[0]} | {a.false_names[0]} |",
        f"| held out: numbers, spellings found; false hits for its {len(held_unspoken)} unspoken names "
        f"| {pct(b.held_out[1])}, {pct(b.held_out[2])}; {b.false_held_out[0]} "
        f"| {pct(a.held_out[1])}, {pct(a.held_out[2])}; {a.false_held_out[0]} |",
    ]
    errors = a.heard_at
    within = sum(e <= TOLERANCE for e in errors)
    finite = [e for e in errors if e != float("inf")]
    lines += [
        f"| read paragraphs with heard_at within 1 s | - | {within}/{len(errors)} ({within / len(errors):.0%}) |",
        f"| median heard_at start error | - | {statistics.median(finite) if finite else float('nan'):.2f} s |",
        f"| ingest of the set (recognition and model load included) | {b.spent['ingest']:.1f} s | {a.spent['ingest']:.1f} s |",
        f"| aligning in that ingest | - | {a.spent['align'] * 1000:.0f} ms ({a.spent['align'] / a.spent['ingest']:.1%}) |",
        f"| looking for the lexicon's names in that ingest | - | {a.spent['lexicon'] * 1000:.0f} ms "
        f"({a.spent['lexicon'] / a.spent['ingest']:.1%}) |",
    ]
    for h, (seconds, heard, written) in long_times.items():
        lines.append(
            f"| aligning a {h:g} h transcript ({heard} words) with a {written}-word article | - | {seconds * 1000:.0f} ms |"
        )
    for seconds, size in lexicon_times:
        lines.append(f"| looking for {size} lexicon names in a 1 h transcript | - | {seconds * 1000:.0f} ms |")
    files, stretches, recovered, check_seconds, seconds = unheard
    lines.append(
        f"| skipped-speech guard over {files} files ({seconds:.0f} s of audio): stretches recognised again, words recovered, check time "
        f"| - | {stretches}, {recovered}, {check_seconds:.2f} s |"
    )
    examples = a.false_unspoken[1] + a.false_names[1]
    if examples:
        lines += ["", "False hits after: " + "; ".join(examples[:10])]
    missed = [o for o in names if not recall(long_index, [o])[0]]
    if missed:
        lines += ["", "Names missed after: " + ", ".join(f"{o.query} ({Path(o.audio).stem} {o.start:.0f}s)" for o in missed)]
    one_hour = long_times[1.0][0]
    summary = (
        f"names: spoken names found {pct(b.names)} -> {pct(a.names)}; numbers {pct(b.numbers)} -> {pct(a.numbers)}; "
        f"spellings {pct(b.spellings)} -> {pct(a.spellings)}; false audio hits {a.false_unspoken[0] + a.false_names[0]}; "
        f"heard_at within 1 s {within}/{len(errors)}; aligning 1 h: {one_hour * 1000:.0f} ms; "
        f"held out: names {pct(a.held_out[0])}, false hits {a.false_held_out[0]}"
    )
    return "\n".join(lines + ["", summary])
