"""``Index.alignment`` and ``indexer align``: the alignment of an indexed article with indexed audio.

The sample article with its spoken rendition, heard by the fake engine, which mishears "Ushakov"
as "Ashikov" as tiny.en does (tests/fakes.py).
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import indexer
from indexer import Index
from indexer.cli import cli
from indexer.errors import NotFoundError

from .conftest import SAMPLE_ARTICLE, SAMPLE_AUDIO
from .fakes import FakeEngine

MISHEARD = {"Ushakov": "Ashikov"}


def open_index(tmp_path) -> Index:
    return Index(tmp_path / "index", cache_dir=tmp_path / "cache", engine=FakeEngine(mishear=MISHEARD))


def ids(index: Index) -> tuple[str, str]:
    sources = index.sources()
    return next(s.id for s in sources if s.kind == "article"), next(s.id for s in sources if s.kind == "audio")


@pytest.fixture
def index(tmp_path) -> Index:
    index = open_index(tmp_path)
    assert index.ingest(SAMPLE_ARTICLE, audio=[SAMPLE_AUDIO]).ok
    return index


def sentence(sentences: list[dict], opening: str) -> dict:
    return next(s for s in sentences if s["text"].startswith(opening))


def test_the_alignment_of_an_article_with_its_audio(index, sentences):
    article_id, audio_id = ids(index)
    found = index.alignment(article_id, audio_id)
    assert isinstance(found, indexer.Alignment)
    assert (found.article_id, found.audio_id, found.audio, found.embedded) == (article_id, audio_id, str(SAMPLE_AUDIO), True)
    # Read aloud whole: almost every token aligned, in stretches that run in order through the audio.
    assert found.aligned_tokens > 0.9 * found.article_tokens
    assert found.stretches and all(s.exact <= s.tokens and s.start < s.end for s in found.stretches)
    assert [s.start for s in found.stretches] == sorted(s.start for s in found.stretches)
    # The misheard name: the article's word, the heard word and when it is heard.
    said = sentence(sentences, "On Wednesday, Yury Ushakov")
    (group,) = [c for c in found.corrections if c.article == "Ushakov" and c.paragraph >= 0][:1]
    assert [w.text.strip(" ,") for w in group.heard] == ["Ashikov"] and not group.same
    assert said["start"] < group.start < said["end"]
    paragraph = index.search('"Yury Ushakov"', kind="article")[0].text
    assert paragraph.split()[group.position].startswith("Ushakov")


def test_its_heard_paragraphs_are_the_heard_at_of_article_hits(index):
    article_id, audio_id = ids(index)
    heard = {h.paragraph: h for h in index.alignment(article_id, audio_id).heard}
    assert heard and all(0 < h.aligned <= h.tokens for h in heard.values())
    for hit in index.search('"secure video call" OR Ukrainian', kind="article"):
        (where,) = hit.heard_at
        assert any(abs(h.start - where.start) < 1e-6 and abs(h.end - where.end) < 1e-6 for h in heard.values())


def test_unknown_ids_and_ids_of_the_other_kind_are_refused(index):
    article_id, audio_id = ids(index)
    with pytest.raises(NotFoundError, match="no article 'article-nope'"):
        index.alignment("article-nope", audio_id)
    with pytest.raises(NotFoundError, match="no audio 'audio-nope'"):
        index.alignment(article_id, "audio-nope")
    with pytest.raises(NotFoundError, match="is audio, not an article"):
        index.alignment(audio_id, audio_id)
    with pytest.raises(NotFoundError, match="is an article, not audio"):
        index.alignment(article_id, article_id)


def test_a_pair_the_article_does_not_embed_still_aligns(tmp_path):
    index = open_index(tmp_path)
    unrelated = tmp_path / "quotas.txt"
    unrelated.write_text(
        "Fishing quotas cut for Peterhead fleet\n\n"
        "Skippers in Peterhead said the new quotas for haddock and whiting would cost the fleet dearly.\n\n"
        "Fisheries officer Morag Strachan said the cuts were needed to protect spawning stocks.\n",
        encoding="utf-8",
    )
    assert index.ingest(SAMPLE_ARTICLE, unrelated, SAMPLE_AUDIO).ok  # the audio on its own: nobody embeds it
    by_title = {s.title: s.id for s in index.sources() if s.kind == "article"}
    audio_id = next(s.id for s in index.sources() if s.kind == "audio")
    read = index.alignment(by_title["Biden to discuss Putin proposals with NATO – Kremlin"], audio_id)
    assert not read.embedded and read.stretches and read.heard
    other = index.alignment(by_title["Fishing quotas cut for Peterhead fleet"], audio_id)
    assert (other.embedded, other.stretches, other.heard, other.correspondences) == (False, [], [], [])


def test_cli_align_text_and_json(index, tmp_path):
    article_id, audio_id = ids(index)
    runner = CliRunner()
    base = ["--index", str(tmp_path / "index"), "align", article_id, audio_id]
    out = runner.invoke(cli, base)
    assert out.exit_code == 0, out.output
    assert f"{article_id} with {audio_id} (seed_article.mp3, embedded)" in out.output
    assert "paragraph 0  ▶ " in out.output
    assert "Ushakov  (heard: Ashikov" in out.output

    out = runner.invoke(cli, [*base, "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data == index.alignment(article_id, audio_id).to_dict()
    assert data["embedded"] is True and data["heard_at"][0].keys() == {"paragraph", "start", "end", "aligned", "tokens"}
    assert any(w["article"] == "Ushakov" and w["heard"][0]["word"].startswith("Ashikov") for w in data["words"])

    out = runner.invoke(cli, ["--index", str(tmp_path / "index"), "align", "article-nope", audio_id])
    assert out.exit_code == 1 and "Error: no article 'article-nope' in the index" in out.output
