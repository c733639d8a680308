"""Several processes on one index: a long-lived reader while others commit."""

from __future__ import annotations

import multiprocessing
import time

from indexer.index import TextIndex
from indexer.models import Article, Segment, Source, Transcript, Word


def _write_many(index_dir: str, writer: int, commits: int) -> None:
    with TextIndex(index_dir) as index:
        for n in range(commits):
            audio = Source(id=f"audio-{writer}-{n}", kind="audio", title=f"Episode {n}", location=f"/pods/{writer}-{n}.mp3")
            story = Source(
                id=f"article-{writer}-{n}",
                kind="article",
                title=f"Story {n}",
                location=f"/news/{writer}-{n}",
                audio_ids=[audio.id],
            )
            audio.article_ids = [story.id]
            words = [Word(1.0, 1.4, "Kremlin", 0.9), Word(1.5, 1.9, "talks", 0.9), Word(2.0, 2.4, f"w{writer}x{n}", 0.9)]
            transcript = Transcript(
                segments=[Segment(1.0, 2.4, f"Kremlin talks w{writer}x{n}", words)], language="en", duration=3.0
            )
            paragraphs = [f"The Kremlin said talks went on, story {n}.", "More about the border."]
            index.write(
                [story, audio],
                transcripts={audio.id: transcript},
                articles={story.id: Article(title=story.title, location=story.location, paragraphs=paragraphs)},
            )
            if n % 3 == 2:
                index.remove(story.id)  # takes its audio with it: segments vanish under the reader


def test_a_long_lived_index_reads_while_two_processes_write(tmp_path):
    directory = tmp_path / "index"
    seed = Source(id="audio-seed", kind="audio", title="Seed", location="/pods/seed.mp3")
    words = [Word(0.0, 0.4, "Kremlin", 0.9)]
    reader = TextIndex(directory)
    reader.write([seed], transcripts={seed.id: Transcript([Segment(0.0, 0.4, "Kremlin", words)], "en", 1.0)})

    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_write_many, args=(str(directory), w, 40)) for w in range(2)]
    for writer in writers:
        writer.start()
    errors: list[BaseException] = []
    reads = 0
    deadline = time.monotonic() + 180
    while any(w.is_alive() for w in writers) and time.monotonic() < deadline:
        try:
            hits = reader.search("kremlin OR talks", limit=20)
            assert hits and all(h.title for h in hits)
            reader.sources()
            assert reader.transcript("audio-seed").text == "Kremlin"
            reads += 1
        except BaseException as e:  # noqa: BLE001 - every exception counts, whatever its type
            errors.append(e)
    for writer in writers:
        writer.join(timeout=60)
        assert writer.exitcode == 0
    reader.close()
    assert errors == []
    assert reads > 10
    with TextIndex(directory) as index:
        stories = [s for s in index.sources() if s.kind == "article"]
        assert len(stories) == 2 * (40 - 40 // 3)
        assert all(index.source(s.audio_ids[0]).article_ids == [s.id] for s in stories)


def test_threads_share_one_index_while_a_process_writes(tmp_path):
    import threading

    directory = tmp_path / "index"
    seed = Source(id="audio-seed", kind="audio", title="Seed", location="/pods/seed.mp3")
    words = [Word(0.0, 0.4, "Kremlin", 0.9)]
    shared = TextIndex(directory)
    shared.write([seed], transcripts={seed.id: Transcript([Segment(0.0, 0.4, "Kremlin", words)], "en", 1.0)})
    writer = multiprocessing.get_context("spawn").Process(target=_write_many, args=(str(directory), 0, 20))
    writer.start()
    errors: list[BaseException] = []

    def read() -> None:
        while writer.is_alive():
            try:
                assert all(h.title for h in shared.search("kremlin", limit=50))
                assert shared.transcript("audio-seed").text == "Kremlin"
            except BaseException as e:  # noqa: BLE001 - every exception counts
                errors.append(e)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for thread in readers:
        thread.start()
    writer.join(timeout=180)
    for thread in readers:
        thread.join(timeout=60)
    shared.close()
    assert writer.exitcode == 0 and errors == []
