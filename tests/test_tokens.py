"""Words glued across a lost block boundary ("said.Mateen") are still two words in the index."""

from __future__ import annotations

from indexer import Index

PAGE = """<html><head><title>Gunman had been interviewed by the FBI</title></head><body><article>
<h1>Gunman had been interviewed by the FBI</h1>
<p>The man was interviewed twice by agents in 2013 and once more in 2014, the official said.Mateen met
investigators at his workplace, where a co-worker had reported his remarks, officials at the U.S. bureau said.</p>
<p>The interviews were closed after 10 months, at 3.5 times the usual length, because nothing tied him
to a group, the bureau said in a statement on Monday evening after the attack in the city.</p>
</article></body></html>"""


def test_a_name_glued_to_the_previous_sentence_is_found(tmp_path):
    page = tmp_path / "story.html"
    page.write_text(PAGE)
    index = Index(tmp_path / "index", cache_dir=tmp_path / "cache")
    report = index.ingest(page)
    assert report.ok, report.failures
    (hit,) = index.search("Mateen")
    assert hit.kind == "article" and "said.Mateen" in hit.text
    assert index.search("said") and index.search("U.S.") and index.search('"3.5 times"')
