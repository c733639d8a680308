"""Search benchmark: the project's Whoosh path against tantivy on the same synthetic transcripts.

    python bench/search.py [--sizes 10000,100000] [--quick] [--queries 50] [--work-dir DIR] [--json FILE]
    python bench/search.py --sizes 1000000 --bulk-max 1000000 --whoosh-measured 10000:33,100000:468
    python bench/search.py --profile [--profile-size 100000]    # where a frequent-term query spends its time

``run(sizes, out, work_dir)`` builds, for each size (number of transcript segments):

* a deterministic corpus (seeded): segments of 12-40 words drawn from a Zipf-Mandelbrot vocabulary
  (Whoosh's stop words take the 8 top ranks and are spread over ranks 8-150; the rest are 30k
  pronounceable pseudo-words that neither Porter nor Snowball changes, so one word is one term in
  both engines), plus 200 planted rare terms that occur in 1-5 segments each; segments are grouped
  into episodes of 300-600 segments with evenly spaced word times, one audio ``Source`` each;
* a Whoosh index through ``indexer.index.TextIndex.write`` with one source per call, one commit
  each, which is how ingest writes; up to ``whoosh_bulk_max`` segments also the same documents in
  one ``TextIndex.write`` call (one writer, one commit), and up to ``whoosh_nommap_build_max`` the
  commit-per-episode build again with the index opened by ``FileStorage(supports_mmap=False)``;
* a tantivy index with the same fields (stemmed ``text`` and ``title`` through an analyzer that
  also drops Whoosh's stop words, unstemmed ``exact``, stored times, word timings and records),
  written with one commit per episode and once in bulk, one indexing thread;

and times queries in five classes: rare terms (df 1-5), medium (df 0.1-1 %), frequent (df 5-20 %),
two frequent terms ANDed, and a frequent term ANDed with a medium one. Whoosh is timed through
``TextIndex.search`` (parsing, a fresh searcher, the search with its filter and ``terms=True``,
highlights, record lookups and jump-in times) warm, and cold (a new ``TextIndex`` per query, as a
CLI call makes it) with Whoosh's default mmap storage and with ``supports_mmap=False`` (same hits,
checked); and as the bare engine (one open
searcher, ``search(limit=10)`` and the stored fields of the hits), so that the wrapper's cost shows
apart from the engine's. tantivy is timed as search (no total count) plus the stored fields of the
top 10. Before timing, both indexes are checked to hold the corpus's document frequencies and to
return the same segments for rare terms.

It prints a markdown table and a one-line summary to ``out`` and returns the figures as a dict.
A commit-per-episode Whoosh build whose time, extrapolated from the sizes measured before, exceeds
``whoosh_budget_s`` is skipped and its estimate reported; Whoosh's queries then run on the
one-commit index if that was built. Timings are wall-clock on whatever else the machine is doing.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import math
import pstats
import shutil
import statistics
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, TextIO

import numpy as np

from indexer.index import TextIndex, WhooshBackend
from indexer.models import Segment, Source, Transcript, Word

GENERATOR_VERSION = 1
VOCAB_SIZE = 30_000
RARE_TERMS = 200
SEGMENT_WORDS = (12, 40)
EPISODE_SEGMENTS = (300, 600)
WORD_SECONDS, SEGMENT_GAP = 0.4, 0.6
# Query classes: name -> document-frequency band as a fraction of the segments (rare is absolute).
CLASSES = ("rare", "medium", "frequent", "and_ff", "and_fm")
CLASS_LABELS = {
    "rare": "rare (df 1-5)",
    "medium": "medium (df 0.1-1 %)",
    "frequent": "frequent (df 5-20 %)",
    "and_ff": "AND freq+freq",
    "and_fm": "AND freq+medium",
}
MEDIUM_BAND = (0.001, 0.01)
FREQUENT_BAND = (0.05, 0.20)

# ---------------------------------------------------------------------------------------------
# The corpus


def _stop_words() -> list[str]:
    from whoosh.analysis import STOP_WORDS

    return sorted(w for w in STOP_WORDS if w != "tbd")


def _tantivy_analyzer(stem: bool = True, stop: bool = True):
    import tantivy

    builder = tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple()).filter(tantivy.Filter.remove_long(40))
    builder = builder.filter(tantivy.Filter.lowercase())
    if stop:
        builder = builder.filter(tantivy.Filter.custom_stopword(_stop_words()))
    if stem:
        builder = builder.filter(tantivy.Filter.stemmer("english"))
    return builder.build()


def _pseudo_words(rng: np.random.Generator, count: int) -> list[str]:
    """``count`` distinct pronounceable words of 1-4 syllables that both stemmers leave alone."""
    from whoosh.analysis import StemmingAnalyzer

    onsets = "b c d f g h j k l m n p r s t v w z br cr dr fl fr gl gr pl pr sc sk sl sm sn sp st tr th sh ch wh".split()
    vowels = "a e i o u a e i o u ai ea ee oa oo ou ie".split()
    codas = ["", "", "", "n", "r", "l", "m", "t", "k", "p", "d", "g", "nd", "nt", "rk", "lt", "mp", "sk", "ft", "x"]
    whoosh_an, tantivy_an = StemmingAnalyzer(), _tantivy_analyzer()
    stops = set(_stop_words())
    words: list[str] = []
    seen: set[str] = set()
    # Short words first: the frequent ranks get the short words, as in real speech.
    syllable_weights = {1: 0.12, 2: 0.45, 3: 0.33, 4: 0.10}
    n_syl = rng.choice(list(syllable_weights), size=count * 4, p=list(syllable_weights.values()))
    n_syl.sort(kind="stable")
    for syl in n_syl:
        word = "".join(
            onsets[rng.integers(len(onsets))] + vowels[rng.integers(len(vowels))] + codas[rng.integers(len(codas))]
            for _ in range(int(syl))
        )
        if len(word) < 3 or len(word) > 16 or word in seen or word in stops:
            continue
        seen.add(word)
        if [t.text for t in whoosh_an(word)] != [word] or tantivy_an.analyze(word) != [word]:
            continue
        words.append(word)
        if len(words) == count:
            return words
    raise RuntimeError(f"could only make {len(words)} of {count} pseudo-words")


@dataclass
class Corpus:
    """``size`` segments as word ids (``tokens[offsets[i]:offsets[i+1]]``), grouped into episodes."""

    size: int
    seed: int
    words: list[str]  # word id -> word: stop words, the Zipf vocabulary, then the planted rare terms
    n_stop: int
    n_vocab: int  # ids below this are Zipf-drawn; ids from here on are planted rare terms
    tokens: np.ndarray
    offsets: np.ndarray
    episodes: list[tuple[int, int]]  # [first, end) segment indices
    titles: list[str]
    df: np.ndarray  # documents containing each word id

    def segment_words(self, i: int) -> list[str]:
        return [self.words[t] for t in self.tokens[self.offsets[i] : self.offsets[i + 1]]]

    def source_id(self, e: int) -> str:
        return f"ep{e:05d}"

    def episode(self, e: int) -> tuple[Source, Transcript]:
        first, end = self.episodes[e]
        segments = []
        t = 0.0
        for i in range(first, end):
            words = self.segment_words(i)
            words[0] = words[0].capitalize()
            words[-1] += "."
            start = t
            timed = []
            for w in words:
                timed.append(Word(start=round(t, 2), end=round(t + WORD_SECONDS - 0.05, 2), word=w, probability=0.9))
                t += WORD_SECONDS
            segments.append(Segment(start=round(start, 2), end=round(t, 2), text=" ".join(words), words=timed))
            t += SEGMENT_GAP
        sid = self.source_id(e)
        source = Source(
            id=sid,
            kind="audio",
            title=self.titles[e],
            location=f"https://podcasts.example.org/{sid}.mp3",
            date="2021-12-08",
            duration=round(t, 2),
            language="en",
        )
        return source, Transcript(segments=segments, language="en", duration=round(t, 2), source_id=sid, engine="bench")


def make_corpus(size: int, seed: int = 0) -> Corpus:
    rng = np.random.default_rng([seed, GENERATOR_VERSION])
    stops = _stop_words()
    pseudo = _pseudo_words(rng, VOCAB_SIZE + RARE_TERMS + 600)
    vocab = pseudo[:VOCAB_SIZE]
    title_words = pseudo[VOCAB_SIZE : VOCAB_SIZE + 600]
    rare = pseudo[VOCAB_SIZE + 600 :]
    # Ranks: the 8 most frequent words are stop words, the other stop words are spread over ranks
    # 8-150 among the pseudo-words (in speech many frequent words are not on Whoosh's short stop list).
    stops = [stops[i] for i in rng.permutation(len(stops))]
    n_vocab = len(stops) + len(vocab)
    stop_ranks = set(range(8)) | set(int(r) for r in rng.choice(np.arange(8, 150), len(stops) - 8, replace=False))
    it_stop, it_vocab = iter(stops), iter(vocab)
    ranked = [next(it_stop) if r in stop_ranks else next(it_vocab) for r in range(n_vocab)]
    # Word ids: stop words first (so ids >= n_stop are the queryable vocabulary), then by rank.
    words = stops + vocab
    id_of = {w: i for i, w in enumerate(words)}
    rank_to_id = np.array([id_of[w] for w in ranked], dtype=np.int32)
    ranks = np.arange(1, n_vocab + 1, dtype=np.float64)
    p = 1.0 / (ranks + 2.7)
    p /= p.sum()
    sizes = rng.integers(SEGMENT_WORDS[0], SEGMENT_WORDS[1] + 1, size=size)
    offsets = np.zeros(size + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    drawn = np.searchsorted(np.cumsum(p), rng.random(int(offsets[-1])), side="right")  # ranks, from 0
    np.minimum(drawn, n_vocab - 1, out=drawn)
    tokens = rank_to_id[drawn]
    # Planted rare terms: each replaces one word in 1-5 random segments.
    for k in range(len(rare)):
        for doc in rng.choice(size, size=int(rng.integers(1, 6)), replace=False):
            pos = offsets[doc] + rng.integers(sizes[doc])
            tokens[pos] = n_vocab + k
    words = words + rare
    doc_of = np.repeat(np.arange(size, dtype=np.int64), sizes)
    keys = np.unique(doc_of * len(words) + tokens)
    df = np.bincount(keys % len(words), minlength=len(words))
    episodes = []
    first = 0
    while first < size:
        end = min(size, first + int(rng.integers(EPISODE_SEGMENTS[0], EPISODE_SEGMENTS[1] + 1)))
        episodes.append((first, end))
        first = end
    titles = [
        f"Episode {e + 1}: " + " ".join(title_words[j].capitalize() for j in rng.choice(len(title_words), 3))
        for e in range(len(episodes))
    ]
    return Corpus(size, seed, words, len(stops), n_vocab, tokens, offsets, episodes, titles, df)


def make_queries(corpus: Corpus, per_class: int, seed: int = 0) -> dict[str, list[str]]:
    """``per_class`` queries in each class; a class with fewer distinct terms than that repeats them."""
    rng = np.random.default_rng([seed, corpus.size, 7])
    n = corpus.size
    ids = np.arange(corpus.n_stop, corpus.n_vocab)
    df = corpus.df[ids]
    medium = ids[(df >= MEDIUM_BAND[0] * n) & (df <= MEDIUM_BAND[1] * n)]
    frequent = ids[(df >= FREQUENT_BAND[0] * n) & (df <= FREQUENT_BAND[1] * n)]
    rare = np.arange(corpus.n_vocab, len(corpus.words))

    def pick(pool: np.ndarray, k: int) -> np.ndarray:
        if len(pool) == 0:
            raise RuntimeError(f"no terms in a query band at size {n}")
        return rng.choice(pool, size=k, replace=len(pool) < k)

    w = corpus.words
    queries = {
        "rare": [w[i] for i in pick(rare, per_class)],
        "medium": [w[i] for i in pick(medium, per_class)],
        "frequent": [w[i] for i in pick(frequent, per_class)],
    }
    pairs_ff: list[str] = []
    while len(pairs_ff) < per_class:
        a, b = pick(frequent, 2)
        if a != b:
            pairs_ff.append(f"{w[a]} {w[b]}")
    queries["and_ff"] = pairs_ff
    queries["and_fm"] = [f"{w[a]} {w[b]}" for a, b in zip(pick(frequent, per_class), pick(medium, per_class))]
    return queries


def _band(corpus: Corpus, queries: list[str]) -> str:
    index = {word: i for i, word in enumerate(corpus.words)}
    dfs = [int(corpus.df[index[q]]) for q in queries]
    distinct = len(set(queries))
    return (
        f"df {min(dfs)}-{max(dfs)} ({100 * min(dfs) / corpus.size:.3g}-{100 * max(dfs) / corpus.size:.3g} %), {distinct} distinct"
    )


# ---------------------------------------------------------------------------------------------
# Engines


def _dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


class _LazyTranscripts(Mapping[str, Transcript]):
    """The corpus's transcripts as a mapping that makes each one when asked and times that apart."""

    def __init__(self, corpus: Corpus):
        self.corpus = corpus
        self.ids = {corpus.source_id(e): e for e in range(len(corpus.episodes))}
        self.gen_seconds = 0.0

    def __getitem__(self, sid: str) -> Transcript:
        t = time.perf_counter()
        transcript = self.corpus.episode(self.ids[sid])[1]
        self.gen_seconds += time.perf_counter() - t
        return transcript

    def __contains__(self, sid) -> bool:
        return sid in self.ids

    def __iter__(self):
        return iter(self.ids)

    def __len__(self) -> int:
        return len(self.ids)


def build_whoosh(corpus: Corpus, directory: Path, log: Callable[[str], None], mmap: Optional[bool] = None) -> dict:
    """One ``TextIndex.write`` (one commit) per episode, as ingest does; times the writes only.

    ``mmap=False`` opens the index with ``FileStorage(supports_mmap=False)`` (the suggested fix): each
    write's ``delete_by_term`` opens a reader of the whole index, and with mmap Whoosh copies every
    segment file into memory to do so, which makes commit-per-source O(index size) per commit.
    """
    shutil.rmtree(directory, ignore_errors=True)
    TextIndex(directory)  # creates it
    index = open_text_index(directory, mmap)
    spent, done, chunk_rates = 0.0, 0, []
    n_ep = len(corpus.episodes)
    marks = {max(1, round(n_ep * k / 10)) for k in range(1, 11)}
    chunk_t, chunk_docs = 0.0, 0
    for e in range(n_ep):
        source, transcript = corpus.episode(e)
        t = time.perf_counter()
        index.write([source], transcripts={source.id: transcript})
        dt = time.perf_counter() - t
        spent += dt
        chunk_t += dt
        done += len(transcript)
        chunk_docs += len(transcript)
        if e + 1 in marks:
            chunk_rates.append(round(chunk_docs / chunk_t, 1))
            log(
                f"  whoosh{'' if mmap is None else f' (supports_mmap={mmap})'} {done}/{corpus.size} segments, {done / spent:.0f} docs/s overall, last chunk {chunk_docs / chunk_t:.0f} docs/s"
            )
            chunk_t, chunk_docs = 0.0, 0
    return {
        "seconds": round(spent, 2),
        "docs_per_s": round(corpus.size / spent, 1),
        "bytes": _dir_size(directory),
        "commits": n_ep,
        "chunk_docs_per_s": chunk_rates,
        "segments_on_disk": len(list(directory.glob("*.seg"))),
    }


def build_whoosh_bulk(corpus: Corpus, directory: Path) -> dict:
    """All episodes in one ``TextIndex.write`` call: one writer, one commit."""
    shutil.rmtree(directory, ignore_errors=True)
    index = TextIndex(directory)
    sources = [corpus.episode(e)[0] for e in range(len(corpus.episodes))]
    transcripts = _LazyTranscripts(corpus)
    t = time.perf_counter()
    index.write(sources, transcripts=transcripts)
    spent = time.perf_counter() - t - transcripts.gen_seconds
    return {"seconds": round(spent, 2), "docs_per_s": round(corpus.size / spent, 1), "bytes": _dir_size(directory), "commits": 1}


def _tantivy_index(directory: Path, create: bool):
    import tantivy

    if create:
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("doc_type", stored=True, tokenizer_name="raw", index_option="basic")
    sb.add_text_field("source_id", stored=True, tokenizer_name="raw", index_option="basic")
    sb.add_text_field("kind", stored=True, tokenizer_name="raw", index_option="basic")
    sb.add_text_field("title", tokenizer_name="en_whoosh")
    sb.add_text_field("text", stored=True, tokenizer_name="en_whoosh")
    sb.add_text_field("exact", tokenizer_name="default", index_option="freq")
    sb.add_float_field("start", stored=True)
    sb.add_float_field("end", stored=True)
    sb.add_integer_field("seq", stored=True)
    sb.add_bytes_field("words", stored=True)
    sb.add_bytes_field("record", stored=True)
    index = tantivy.Index(sb.build(), path=str(directory))
    index.register_tokenizer("en_whoosh", _tantivy_analyzer())
    return index


def _tantivy_docs(source: Source, transcript: Transcript):
    import tantivy

    yield tantivy.Document(doc_type="source", source_id=source.id, kind=source.kind, record=json.dumps(source.to_dict()).encode())
    for seq, s in enumerate(transcript.segments):
        yield tantivy.Document(
            doc_type="segment",
            source_id=source.id,
            kind="audio",
            title=source.title,
            text=s.text,
            exact=s.text,
            start=float(s.start),
            end=float(s.end),
            seq=seq,
            words=json.dumps([[w.start, w.end, w.word, w.probability] for w in s.words]).encode(),
        )


def build_tantivy(corpus: Corpus, directory: Path, per_episode: bool, threads: int = 1) -> dict:
    """Replace each episode's documents and commit (``per_episode``), or add all and commit once.

    The time includes building the documents in Python and waiting for tantivy's background merges.
    """
    index = _tantivy_index(directory, create=True)
    writer = index.writer(heap_size=128_000_000, num_threads=threads)
    spent = 0.0
    for e in range(len(corpus.episodes)):
        source, transcript = corpus.episode(e)
        t = time.perf_counter()
        writer.delete_documents_by_term("source_id", source.id)
        for doc in _tantivy_docs(source, transcript):
            writer.add_document(doc)
        if per_episode:
            writer.commit()
        spent += time.perf_counter() - t
    t = time.perf_counter()
    if not per_episode:
        writer.commit()
    writer.wait_merging_threads()
    spent += time.perf_counter() - t
    index.reload()
    return {
        "seconds": round(spent, 2),
        "docs_per_s": round(corpus.size / spent, 1),
        "bytes": _dir_size(directory),
        "commits": len(corpus.episodes) if per_episode else 1,
        "threads": threads,
    }


# ---------------------------------------------------------------------------------------------
# Queries


def _latencies(fn: Callable[[str], object], queries: dict[str, list[str]], warmup: int = 3) -> dict:
    out = {}
    for cls, qs in queries.items():
        for q in qs[:warmup]:
            fn(q)
        times = []
        for q in qs:
            gc.disable()
            t = time.perf_counter()
            fn(q)
            times.append((time.perf_counter() - t) * 1000)
            gc.enable()
        out[cls] = {
            "p50_ms": round(statistics.median(times), 3),
            "p95_ms": round(float(np.percentile(times, 95)), 3),
            "mean_ms": round(statistics.fmean(times), 3),
            "n": len(times),
        }
    return out


def whoosh_project_search(index: TextIndex) -> Callable[[str], list]:
    return lambda q: index.search(q, limit=10)


def whoosh_of(index: TextIndex) -> WhooshBackend:
    """The Whoosh backend under ``index``: the benchmark times its engine apart from the wrapper."""
    backend = index.backend
    assert isinstance(backend, WhooshBackend), f"a Whoosh index is benchmarked here, not {type(backend).__name__}"
    return backend


def whoosh_engine_search(index: TextIndex):
    """The bare engine: one open searcher, the parsed query, top 10 and their stored fields."""
    backend = whoosh_of(index)
    searcher = backend._index().searcher()

    def search(q: str):
        results = searcher.search(backend._parse(q), limit=10)
        return [hit.fields() for hit in results]

    return search, searcher


def open_text_index(directory: Path, mmap: Optional[bool] = None) -> TextIndex:
    """A ``TextIndex`` as the project opens it (``mmap=None``), or with its storage forced:
    ``FileStorage(supports_mmap=mmap)`` (True is Whoosh's default, which ``open_dir`` uses).

    With mmap (Whoosh's default), opening a segment reader wraps each part of the compound segment
    file in a BytesIO, which copies it: every new searcher (and every writer's ``delete_by_term``)
    reads and holds a copy of the whole index.
    """
    index = TextIndex(directory)
    if mmap is not None:
        from whoosh.filedb.filestore import FileStorage

        backend = whoosh_of(index)
        backend._index()
        backend._ix = FileStorage(str(directory), supports_mmap=mmap).open_index()
    return index


def cold_search(directory: Path, mmap: Optional[bool] = None) -> Callable[[str], list]:
    """One query the way a CLI call makes it: open the index, search, close."""

    def search(q: str) -> list:
        index = open_text_index(directory, mmap)
        try:
            return index.search(q, limit=10)
        finally:
            getattr(index, "close", lambda: None)()

    return search


def tantivy_search(index):
    searcher = index.searcher()

    def search(q: str):
        query = index.parse_query(q, ["text"], conjunction_by_default=True)
        hits = []
        for _score, address in searcher.search(query, limit=10, count=False).hits:
            doc = searcher.doc(address)
            hits.append(
                (
                    doc.get_first("source_id"),
                    doc.get_first("text"),
                    doc.get_first("start"),
                    doc.get_first("end"),
                    json.loads(doc.get_first("words")),
                )
            )
        return hits

    return search, searcher


def _check(corpus: Corpus, queries: dict[str, list[str]], index: TextIndex, tindex) -> dict:
    """Both indexes hold the corpus's document frequencies, and find the same rare-term segments."""
    tsearch, tsearcher = tantivy_search(tindex)
    mismatches = []
    word_id = {w: i for i, w in enumerate(corpus.words)}
    backend = whoosh_of(index)
    with backend._index().searcher() as s:
        for cls in ("rare", "medium", "frequent"):
            for q in sorted(set(queries[cls]))[:20]:
                want = int(corpus.df[word_id[q]])
                got = (s.doc_frequency("text", q), tsearcher.doc_freq("text", q))
                if got != (want, want):
                    mismatches.append(f"df({q}) corpus {want} whoosh {got[0]} tantivy {got[1]}")
    cold = cold_search(backend.directory, mmap=False)
    for cls in CLASSES:
        for q in queries[cls][:5]:
            if [h.to_dict() for h in index.search(q, limit=10)] != [h.to_dict() for h in cold(q)]:
                mismatches.append(f"cold no-mmap TextIndex differs from the warm one on {q!r}")
    for q in sorted(set(queries["rare"]))[:20]:
        w = {(h.source_id, h.text) for h in index.search(q, limit=10)}
        t = {(h[0], h[1]) for h in tsearch(q)}
        if w != t:
            mismatches.append(f"rare {q!r}: whoosh {len(w)} hits, tantivy {len(t)}, {len(w & t)} in common")
    return {"ok": not mismatches, "mismatches": mismatches[:10]}


# ---------------------------------------------------------------------------------------------
# The benchmark


def _fmt_rate(x: Optional[float]) -> str:
    return "-" if x is None else f"{x:,.0f}"


def _fmt_ms(d: Optional[dict]) -> str:
    if not d:
        return "-"
    return f"{_ms(d['p50_ms'])} / {_ms(d['p95_ms'])}"


def _ms(x: float) -> str:
    return f"{x:.3g}" if x < 100 else f"{x:,.0f}"


def _mb(b: Optional[int]) -> str:
    return "-" if b is None else f"{b / 1e6:,.1f} MB"


def _estimate_seconds(measured: dict[int, float], size: int) -> Optional[float]:
    """Extrapolate Whoosh's per-commit build time to ``size`` from (size -> seconds) measured so far."""
    if not measured:
        return None
    pts = sorted(measured.items())
    if len(pts) == 1:
        n, s = pts[0]
        return s * size / n
    (n1, s1), (n2, s2) = pts[-2], pts[-1]
    exponent = max(1.0, math.log(s2 / s1) / math.log(n2 / n1))
    return s2 * (size / n2) ** exponent


def run(
    sizes: list[int],
    out: TextIO,
    work_dir: Path,
    *,
    quick: bool = False,
    queries_per_class: Optional[int] = None,
    seed: int = 0,
    whoosh_bulk_max: int = 100_000,
    whoosh_nommap_build_max: int = 0,
    whoosh_budget_s: float = 45 * 60,
    whoosh_measured: Optional[dict[int, float]] = None,
    tantivy_threads: int = 1,
    keep: bool = False,
    log: Optional[Callable[[str], None]] = None,
) -> dict:
    """Benchmark Whoosh (the project's ``TextIndex``) against tantivy at each size; see the module doc.

    ``quick`` asks 10 queries per class instead of 50 and skips the extra Whoosh builds (one commit,
    and commit per episode without mmap), which are otherwise made up to ``whoosh_bulk_max`` and
    ``whoosh_nommap_build_max`` segments. The commit-per-episode Whoosh build is skipped when its
    time, extrapolated from the sizes measured before (and ``whoosh_measured``: size -> seconds from
    an earlier run), exceeds ``whoosh_budget_s``; Whoosh's queries then run on the one-commit index
    if one was built. Indexes go under ``work_dir/search`` and are removed after each size unless
    ``keep``.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    per_class = queries_per_class or (10 if quick else 50)
    if quick:
        whoosh_bulk_max = whoosh_nommap_build_max = 0
    work_dir = Path(work_dir) / "search"
    work_dir.mkdir(parents=True, exist_ok=True)
    versions = {"whoosh": _version("whoosh"), "tantivy": _version("tantivy")}
    results: dict = {"engine": "tantivy", "versions": versions, "seed": seed, "queries_per_class": per_class, "sizes": {}}
    whoosh_seconds: dict[int, float] = dict(whoosh_measured or {})

    for size in sorted(sizes):
        log(f"search bench: {size} segments")
        t = time.perf_counter()
        corpus = make_corpus(size, seed)
        queries = make_queries(corpus, per_class, seed)
        r: dict = {
            "episodes": len(corpus.episodes),
            "corpus_seconds": round(time.perf_counter() - t, 2),
            "query_bands": {cls: _band(corpus, qs) for cls, qs in queries.items() if not cls.startswith("and")},
            "queries": {cls: qs[:5] for cls, qs in queries.items()},
        }
        results["sizes"][size] = r
        wdir, bdir, tdir = work_dir / f"{size}-whoosh", work_dir / f"{size}-whoosh-bulk", work_dir / f"{size}-tantivy"
        qdir = None  # the Whoosh index the queries run on

        estimate = _estimate_seconds(whoosh_seconds, size)
        if estimate is not None and estimate > whoosh_budget_s:
            log(f"  whoosh build skipped: estimated {estimate / 60:.0f} min > budget {whoosh_budget_s / 60:.0f} min")
            r["whoosh"] = {
                "skipped": True,
                "estimated_seconds": round(estimate),
                "estimated_docs_per_s": round(size / estimate, 1),
            }
        else:
            r["whoosh"] = build_whoosh(corpus, wdir, log)
            whoosh_seconds[size] = r["whoosh"]["seconds"]
            qdir, queried = wdir, r["whoosh"]
        if size <= whoosh_bulk_max:
            log("  whoosh bulk build")
            r["whoosh_bulk"] = build_whoosh_bulk(corpus, bdir)
            log(f"  whoosh bulk: {r['whoosh_bulk']['docs_per_s']:.0f} docs/s")
            if qdir is None:
                qdir, queried = bdir, r["whoosh_bulk"]
            else:
                shutil.rmtree(bdir, ignore_errors=True)
        if size <= whoosh_nommap_build_max:
            ndir = work_dir / f"{size}-whoosh-nommap"
            r["whoosh_nommap"] = build_whoosh(corpus, ndir, log, mmap=False)
            shutil.rmtree(ndir, ignore_errors=True)
        log("  tantivy builds")
        tbdir = work_dir / f"{size}-tantivy-bulk"
        r["tantivy_bulk"] = build_tantivy(corpus, tbdir, per_episode=False, threads=tantivy_threads)
        shutil.rmtree(tbdir, ignore_errors=True)
        r["tantivy"] = build_tantivy(corpus, tdir, per_episode=True, threads=tantivy_threads)
        log(f"  tantivy: {r['tantivy']['docs_per_s']:.0f} docs/s per episode, {r['tantivy_bulk']['docs_per_s']:.0f} in bulk")
        tindex = _tantivy_index(tdir, create=False)

        log("  queries")
        tsearch, _ = tantivy_search(tindex)
        r["tantivy"]["latency"] = _latencies(tsearch, queries)
        if qdir is not None:
            index = TextIndex(qdir)
            r["check"] = _check(corpus, queries, index, tindex)
            if not r["check"]["ok"]:
                log(f"  CHECK FAILED: {r['check']['mismatches']}")
            queried["latency"] = _latencies(whoosh_project_search(index), queries)
            few = {cls: qs[:10] for cls, qs in queries.items()}
            r["whoosh_cold_as_is"] = {"latency": _latencies(cold_search(qdir), few, warmup=1)}
            r["whoosh_cold"] = {"latency": _latencies(cold_search(qdir, mmap=True), few, warmup=1)}
            r["whoosh_cold_nommap"] = {"latency": _latencies(cold_search(qdir, mmap=False), few, warmup=1)}
            esearch, esearcher = whoosh_engine_search(index)
            r["whoosh_engine"] = {"latency": _latencies(esearch, queries)}
            esearcher.close()
            del index
            wl, tl = queried["latency"], r["tantivy"]["latency"]
            r["ratios"] = {
                "whoosh_index": "commit per episode" if queried is r["whoosh"] else "one commit",
                # Like for like: tantivy's commit-per-episode build against Whoosh's, or bulk against bulk.
                "build": round(
                    (r["tantivy"] if queried is r["whoosh"] else r["tantivy_bulk"])["docs_per_s"] / queried["docs_per_s"], 1
                ),
                "size": round(queried["bytes"] / r["tantivy"]["bytes"], 2),
                "p50": {c: round(wl[c]["p50_ms"] / tl[c]["p50_ms"], 1) for c in CLASSES},
                "p95": {c: round(wl[c]["p95_ms"] / tl[c]["p95_ms"], 1) for c in CLASSES},
                "engine_p50": {c: round(r["whoosh_engine"]["latency"][c]["p50_ms"] / tl[c]["p50_ms"], 1) for c in CLASSES},
                "cold_mmap_p50": {
                    c: round(r["whoosh_cold"]["latency"][c]["p50_ms"] / r["whoosh_cold_nommap"]["latency"][c]["p50_ms"], 1)
                    for c in CLASSES
                },
                "wrapper_p50": {c: round(wl[c]["p50_ms"] / r["whoosh_engine"]["latency"][c]["p50_ms"], 1) for c in CLASSES},
            }
        del tindex
        gc.collect()
        if not keep:
            for d in (wdir, bdir, tdir):
                shutil.rmtree(d, ignore_errors=True)
        del corpus
        gc.collect()

    _report(results, out)
    return results


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


def _report(results: dict, out: TextIO) -> None:
    v = results["versions"]
    print(
        f"\n### Search: Whoosh {v['whoosh']} (TextIndex) vs tantivy {v['tantivy']}, "
        f"{results['queries_per_class']} queries per class, latency p50 / p95 ms\n",
        file=out,
    )
    head = "| segments | engine | build docs/s | index size | " + " | ".join(CLASS_LABELS[c] for c in CLASSES) + " |"
    print(head, file=out)
    print("|" + "---|" * (4 + len(CLASSES)), file=out)
    for size, r in results["sizes"].items():
        rows = []
        w = r["whoosh"]
        if w.get("skipped"):
            rows.append(
                (
                    "Whoosh TextIndex, commit per episode",
                    f"~{_fmt_rate(w['estimated_docs_per_s'])} (estimate; not run, ~{w['estimated_seconds'] / 60:.0f} min)",
                    None,
                    None,
                )
            )
        else:
            rows.append(("Whoosh TextIndex, commit per episode", _fmt_rate(w["docs_per_s"]), w["bytes"], w.get("latency")))
        if "whoosh_nommap" in r:
            n = r["whoosh_nommap"]
            rows.append(
                ("Whoosh TextIndex, commit per episode, supports_mmap=False", _fmt_rate(n["docs_per_s"]), n["bytes"], None)
            )
        if "whoosh_bulk" in r:
            b = r["whoosh_bulk"]
            rows.append(("Whoosh TextIndex, one commit", _fmt_rate(b["docs_per_s"]), b["bytes"], b.get("latency")))
        if "whoosh_cold" in r:
            if "whoosh_cold_as_is" in r:
                rows.append(
                    (
                        "Whoosh TextIndex cold: open, search, close per query (a CLI call; 10 per class)",
                        "",
                        None,
                        r["whoosh_cold_as_is"]["latency"],
                    )
                )
            rows.append(
                ("Whoosh TextIndex cold, storage forced to Whoosh's default (mmap)", "", None, r["whoosh_cold"]["latency"])
            )
            rows.append(
                ("Whoosh TextIndex cold, storage forced to supports_mmap=False", "", None, r["whoosh_cold_nommap"]["latency"])
            )
        if "whoosh_engine" in r:
            rows.append(
                (
                    "Whoosh engine only (TextIndex's storage; open searcher, top 10 + stored)",
                    "",
                    None,
                    r["whoosh_engine"]["latency"],
                )
            )
        t = r["tantivy"]
        rows.append((f"tantivy, commit per episode, {t['threads']} thread", _fmt_rate(t["docs_per_s"]), t["bytes"], t["latency"]))
        rows.append(("tantivy, one commit", _fmt_rate(r["tantivy_bulk"]["docs_per_s"]), r["tantivy_bulk"]["bytes"], None))
        for name, rate, size_b, lat in rows:
            cells = [_fmt_ms(lat[c]) if lat else "" for c in CLASSES]
            print(f"| {size:,} | {name} | {rate} | {_mb(size_b) if size_b else ''} | " + " | ".join(cells) + " |", file=out)
        if "ratios" in r:
            ra = r["ratios"]
            cells = [f"{ra['p50'][c]}x / {ra['p95'][c]}x" for c in CLASSES]
            print(
                f"| {size:,} | **TextIndex / tantivy** ({ra['whoosh_index']} index) | {ra['build']}x slower | {ra['size']}x | "
                + " | ".join(cells)
                + " |",
                file=out,
            )
            for key, label in (
                ("engine_p50", "Whoosh engine only / tantivy (p50)"),
                ("wrapper_p50", "TextIndex / Whoosh engine only (p50)"),
                ("cold_mmap_p50", "cold TextIndex: mmap / supports_mmap=False (p50)"),
            ):
                print(f"| {size:,} | {label} | | | " + " | ".join(f"{ra[key][c]}x" for c in CLASSES) + " |", file=out)
    print("\nQuery bands (single-term classes):", file=out)
    for size, r in results["sizes"].items():
        bands = "; ".join(f"{c}: {b}" for c, b in r["query_bands"].items())
        check = r.get("check")
        status = (
            ""
            if check is None
            else (" - df, rare-hit and no-mmap checks ok" if check["ok"] else f" - CHECK FAILED: {check['mismatches'][:3]}")
        )
        print(f"- {size:,}: {bands}{status}", file=out)
    results["summary"] = _summary(results)
    print("\n" + results["summary"], file=out)


def _tag(size: int) -> str:
    return f"{size / 1e6:g}M" if size >= 1_000_000 else f"{size / 1000:g}k"


def _summary(results: dict) -> str:
    sizes = results["sizes"]
    main = [s for s, r in sizes.items() if "ratios" in r and r["ratios"]["whoosh_index"] == "commit per episode"]
    if not main:
        measured = [s for s, r in sizes.items() if "ratios" in r]
        if not measured:
            return "search: no size with both engines measured"
        size = max(measured)
        r = sizes[size]
        b, t, ra = r["whoosh_bulk"], r["tantivy"], r["ratios"]
        return (
            f"search: whoosh (one-commit index) {b['docs_per_s']:.0f} docs/s, p50 rare {_ms(b['latency']['rare']['p50_ms'])} ms / "
            f"frequent {_ms(b['latency']['frequent']['p50_ms'])} ms at {_tag(size)}; tantivy {t['docs_per_s']:.0f} docs/s, "
            f"p50 frequent {_ms(t['latency']['frequent']['p50_ms'])} ms (whoosh {ra['p50']['frequent']:.0f}x slower on frequent "
            f"terms; the bare Whoosh engine {ra['engine_p50']['frequent']:.0f}x)"
            + "".join(
                f"; whoosh commit-per-episode build at {_tag(s)} not run (estimated {r['whoosh']['estimated_seconds'] / 60:.0f} min)"
                for s, r in sizes.items()
                if r["whoosh"].get("skipped")
            )
        )
    size = max(main)
    r = sizes[size]
    w, t, ra = r["whoosh"], r["tantivy"], r["ratios"]
    line = (
        f"search: whoosh {w['docs_per_s']:.0f} docs/s, p50 rare {_ms(w['latency']['rare']['p50_ms'])} ms / "
        f"frequent {_ms(w['latency']['frequent']['p50_ms'])} ms at {_tag(size)}; tantivy {t['docs_per_s']:.0f} docs/s, "
        f"p50 frequent {_ms(t['latency']['frequent']['p50_ms'])} ms (whoosh {ra['p50']['frequent']:.0f}x slower on frequent terms; "
        f"the bare Whoosh engine {ra['engine_p50']['frequent']:.0f}x)"
    )
    for s, r in sizes.items():
        if s <= size:
            continue
        if "ratios" in r:
            b = r["whoosh_bulk"]
            line += (
                f"; at {_tag(s)} (whoosh one-commit index, {b['docs_per_s']:.0f} docs/s): p50 frequent "
                f"{_ms(b['latency']['frequent']['p50_ms'])} ms vs tantivy {_ms(r['tantivy']['latency']['frequent']['p50_ms'])} ms"
            )
        if r["whoosh"].get("skipped"):
            line += f"; whoosh commit-per-episode build at {_tag(s)} not run (estimated {r['whoosh']['estimated_seconds'] / 60:.0f} min)"
    return line


# ---------------------------------------------------------------------------------------------
# Where TextIndex.search spends its time on a frequent term


def profile(size: int, out: TextIO, work_dir: Path, *, seed: int = 0, repeat: int = 5) -> dict:
    """Build (or reuse) a Whoosh index of ``size`` segments and take one frequent-term query apart."""
    from whoosh import highlight
    from whoosh.query import Or, Term

    from indexer.index import whoosh as index_mod

    directory = Path(work_dir) / "search" / f"{size}-whoosh-profile"
    corpus = make_corpus(size, seed)
    queries = make_queries(corpus, 10, seed)
    if not (directory / "built").exists():
        print(f"building {directory}", file=sys.stderr)
        build_whoosh(corpus, directory, lambda m: print(m, file=sys.stderr))
        (directory / "built").touch()
    index = TextIndex(directory)
    word_id = {w: i for i, w in enumerate(corpus.words)}
    q = max(set(queries["frequent"]), key=lambda w: corpus.df[word_id[w]])
    print(
        f"\n### Profile: TextIndex.search({q!r}) at {size:,} segments, df {corpus.df[word_id[q]]} ({100 * corpus.df[word_id[q]] / size:.1f} %)\n",
        file=out,
    )

    def best(fn) -> float:
        fn()
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1000)
        return min(times)

    wanted = Or([Term("doc_type", index_mod.SEGMENT), Term("doc_type", index_mod.PARAGRAPH)])
    backend = whoosh_of(index)
    parsed = backend._parse(q)
    steps: dict[str, float] = {}
    steps["parse (QueryParser)"] = best(lambda: backend._parse(q))
    mmap_ix = whoosh_of(open_text_index(directory, True))._index()
    steps["open + close a searcher, Whoosh's default storage (mmap)"] = best(lambda: mmap_ix.searcher().close())
    s = backend._index().searcher()
    steps["filter only: BitSet of Or(doc_type) docs"] = best(lambda: s._filter_to_comb(wanted))
    steps["search(limit=10), no filter, no terms"] = best(lambda: list(s.search(parsed, limit=10)))
    steps["search(limit=10, terms=True), no filter"] = best(lambda: list(s.search(parsed, limit=10, terms=True)))
    steps["search(limit=10, filter=...), no terms"] = best(lambda: list(s.search(parsed, limit=10, filter=wanted)))
    steps["search(limit=10, filter=..., terms=True) (as TextIndex)"] = best(
        lambda: list(s.search(parsed, limit=10, filter=wanted, terms=True))
    )
    res = s.search(parsed, limit=10, filter=wanted, terms=True)
    res.fragmenter = highlight.ContextFragmenter(maxchars=240, surround=60)
    res.formatter = index_mod._MarkFormatter()
    matched = {(f, t.decode() if isinstance(t, bytes) else t) for f, t in res.matched_terms()}
    hits = list(res)
    steps["stored fields of 10 hits"] = best(lambda: [h.fields() for h in hits])
    steps["highlights of 10 hits"] = best(lambda: [h.highlights("text", top=2) for h in hits])
    steps["jump_in of 10 hits"] = best(lambda: [index_mod.jump_in(h, matched) for h in hits])
    steps["record lookups (_source) for the hits' sources"] = best(
        lambda: [index_mod._record(s, sid) for sid in {h["source_id"] for h in hits}]
    )
    steps["TextIndex.source(id): one lookup with its own searcher (per audio hit whose article is not in the results)"] = best(
        lambda: index.source(hits[0]["source_id"])
    )
    steps["TextIndex.search (whole)"] = best(lambda: index.search(q, limit=10))
    rss = {}
    for name, mmap in (("Whoosh's default storage (mmap)", True), ("supports_mmap=False", False)):
        ix = whoosh_of(open_text_index(directory, mmap))._index()
        gc.collect()
        before = _rss_bytes()
        held = ix.searcher()
        rss[name] = _rss_bytes() - before
        held.close()
        del held
    nommap = whoosh_of(open_text_index(directory, mmap=False))._index()
    steps["open + close a searcher, index opened with supports_mmap=False"] = best(lambda: nommap.searcher().close())
    cold = cold_search(directory, mmap=True)
    cold_nommap = cold_search(directory, mmap=False)
    steps["cold TextIndex as it is: open, search, close (a CLI call)"] = best(lambda: cold_search(directory)(q))
    steps["cold TextIndex, Whoosh's default storage (mmap)"] = best(lambda: cold(q))
    steps["cold TextIndex with supports_mmap=False"] = best(lambda: cold_nommap(q))
    rare = queries["rare"][0]
    steps[f"rare term {rare!r}: TextIndex.search (warm)"] = best(lambda: index.search(rare, limit=10))
    steps[f"rare term {rare!r}: cold TextIndex, default storage (mmap)"] = best(lambda: cold(rare))
    steps[f"rare term {rare!r}: cold TextIndex, supports_mmap=False"] = best(lambda: cold_nommap(rare))
    s.close()
    print("| step | best of %d, ms |" % repeat, file=out)
    print("|---|---|", file=out)
    for name, ms in steps.items():
        print(f"| {name} | {ms:.2f} |", file=out)
    print(
        f"\nIndex on disk {_mb(_dir_size(directory))} in {len(list(directory.glob('*.seg')))} segments; "
        "resident memory added by one open searcher: " + ", ".join(f"{k} {_mb(v)}" for k, v in rss.items()),
        file=out,
    )

    prof = cProfile.Profile()
    prof.enable()
    for _ in range(3):
        index.search(q, limit=10)
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    stats.sort_stats("tottime").print_stats(15)
    stats.sort_stats("cumulative").print_stats(25)
    print("\ncProfile of 3 calls:\n```\n" + _trim_pstats(buf.getvalue()) + "```", file=out)
    return {
        "query": q,
        "df": int(corpus.df[word_id[q]]),
        "steps_ms": {k: round(v, 3) for k, v in steps.items()},
        "searcher_rss_bytes": rss,
    }


def _rss_bytes() -> int:
    import os

    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _trim_pstats(text: str) -> str:
    keep = []
    for line in text.splitlines():
        line = line.replace(str(Path(sys.prefix)), "")
        if line.strip():
            keep.append(line)
    return "\n".join(keep) + "\n"


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000", help="comma-separated segment counts (default 10000,100000)")
    ap.add_argument("--quick", action="store_true", help="10k segments, 10 queries per class")
    ap.add_argument("--queries", type=int, default=None, help="queries per class (default 50, quick 10)")
    ap.add_argument("--work-dir", type=Path, default=Path("/tmp/indexer-bench"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--budget-min", type=float, default=45.0, help="skip Whoosh builds estimated to take longer")
    ap.add_argument("--bulk-max", type=int, default=100_000, help="largest size for the one-commit Whoosh build")
    ap.add_argument("--nommap-max", type=int, default=0, help="largest size for the no-mmap Whoosh build (default none)")
    ap.add_argument(
        "--whoosh-measured",
        default="",
        help="SIZE:SECONDS,... commit-per-episode Whoosh build times from an earlier run, for the estimate",
    )
    ap.add_argument("--keep", action="store_true", help="keep the indexes")
    ap.add_argument("--json", type=Path, help="write the figures here")
    ap.add_argument("--profile", action="store_true", help="profile one frequent-term TextIndex.search instead")
    ap.add_argument("--profile-size", type=int, default=100_000)
    args = ap.parse_args(argv)
    if args.profile:
        figures = profile(args.profile_size, sys.stdout, args.work_dir, seed=args.seed)
    else:
        sizes = [10_000] if args.quick else [int(s) for s in args.sizes.split(",")]
        figures = run(
            sizes,
            sys.stdout,
            args.work_dir,
            quick=args.quick,
            queries_per_class=args.queries,
            seed=args.seed,
            whoosh_bulk_max=args.bulk_max,
            whoosh_nommap_build_max=args.nommap_max,
            whoosh_measured={int(a): float(b) for a, b in (p.split(":") for p in args.whoosh_measured.split(",") if p)},
            whoosh_budget_s=args.budget_min * 60,
            keep=args.keep,
        )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
