"""Telling what an input is: audio, an HTML page, a plain-text article or a feed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, Optional

from ..audio import AUDIO_EXTENSIONS, probe
from ..errors import ArticleError, AudioError, SourceError
from ..models import Article

InputKind = Literal["audio", "html", "text", "feed"]

_BY_SUFFIX: dict[str, InputKind] = {
    **{ext: "audio" for ext in AUDIO_EXTENSIONS},
    "html": "html",
    "htm": "html",
    "xhtml": "html",
    "txt": "text",
    "text": "text",
    "rss": "feed",
    "atom": "feed",
    "xml": "feed",
}


def by_name(path: Path | str) -> Optional[InputKind]:
    """The kind a file name suggests, or None for files a folder walk should pass over."""
    return _BY_SUFFIX.get(Path(str(path)).suffix.lower().lstrip("."))


def by_content(path: Path, content_type: Optional[str], *, name: str) -> InputKind:
    """The kind of a local file, from its first bytes, its HTTP content type and its name.

    Raises AudioError (via probe) when a file looks like nothing the indexer reads and is not audio.
    """
    mime = (content_type or "").split(";")[0].strip().lower()
    guess = by_name(name)
    if mime.startswith(("audio/", "video/")) or (guess == "audio" and not mime.startswith("text/")):
        return "audio"
    from .embeds import looks_like_html
    from .feed import looks_like_feed

    with open(path, "rb") as f:
        head = f.read(4096)
    if looks_like_feed(head) or mime in ("application/rss+xml", "application/atom+xml"):
        return "feed"
    if looks_like_html(head) or mime in ("text/html", "application/xhtml+xml"):
        return "html"
    if guess is None:
        try:
            probe(path)
        except AudioError as e:
            raise SourceError(f"{name}: not an audio file, article or feed") from e
        return "audio"
    if guess == "text" or mime == "text/plain":
        return "text"
    raise SourceError(f"{name}: not an audio file, article or feed")


# Parsing time and memory grow with a page's size (a 50 MB page took a minute and 1 GB); news
# pages are rarely over 2 MB, and a text article is far smaller than its page.
MAX_ARTICLE_BYTES = 8_000_000
# Share of control characters above which a "text" file is binary data, not an article.
_MAX_CONTROL_SHARE = 0.01
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")


def read_article(path: Path, kind: InputKind, location: str) -> Article:
    """Parse a local HTML or text file (possibly a download) into an Article with its embedded audio.

    Raises:
      ArticleError: the file is over MAX_ARTICLE_BYTES, or a text file is binary data.
    """
    from .html import read_html_article
    from .text import read_text_article

    size = path.stat().st_size
    if size > MAX_ARTICLE_BYTES:
        raise ArticleError(
            f"{location}: {size / 1e6:.0f} MB is too large for an article page (at most {MAX_ARTICLE_BYTES // 1_000_000} MB)"
        )
    data = path.read_bytes()
    if kind == "html":
        return read_html_article(data, location)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    controls = len(_CONTROL_CHARACTERS.findall(text))
    if "\0" in text or controls > _MAX_CONTROL_SHARE * len(text):
        raise ArticleError(f"{location}: not a text article (binary data: {controls} control characters)")
    return read_text_article(text, location)
