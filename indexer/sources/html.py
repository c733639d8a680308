"""Web pages: the article's own paragraphs and metadata (trafilatura) and the audio it embeds.

Also :func:`html_to_paragraphs` for small HTML fragments such as podcast show notes, which are too
short for a boilerplate remover and have no boilerplate to remove.
"""

from __future__ import annotations

import json
import logging
import re
from html import unescape
from typing import TYPE_CHECKING, Any, Collection, Iterator, Optional, Union, cast

import lxml.etree
import lxml.html

from ..errors import ArticleError
from ..models import Article
from .embeds import find_embedded_audio, looks_like_html, parse_media_fragment
from .fetch import is_url
from .signoff import signoff_start
from .text import collapse_whitespace as _clean
from .text import format_datetime, parse_datetime, title_from_location

if TYPE_CHECKING:
    from trafilatura.settings import Document

logger = logging.getLogger("indexer")

__all__ = [
    "find_embedded_audio",
    "html_to_paragraphs",
    "looks_like_markup",
    "plain_text_paragraphs",
    "looks_like_html",
    "parse_media_fragment",
    "read_html_article",
]

# Elements that end a paragraph when they open or close, in show notes and other fragments.
_BLOCK_TAGS = frozenset(
    "address article aside blockquote dd div dl dt figcaption figure footer h1 h2 h3 h4 h5 h6 header "
    "hr li main nav ol p pre section table tbody thead tfoot tr td th ul br".split()
)
_SKIP_TAGS = frozenset("script style noscript template head title svg iframe object form button select".split())

# trafilatura's own threshold (MIN_EXTRACTED_SIZE) below which its extraction is not trusted.
_MIN_ARTICLE_CHARS = 250

# Modal dialogs (login, registration, age checks, consent) are set in the page's markup before the user
# opens them; their text is never the article's. trafilatura drops <dialog> and "modal-content" boxes,
# not dialogs marked by ARIA or by a class word "modal" or "...-modal" ("modal-enabled" marks an
# article whose pictures open in one) (bench/RESULTS.md, "Real pages").
_MODAL_DIALOGS = (
    "//dialog|//*[not(self::body or self::html)][@role='dialog' or @role='alertdialog' or @aria-modal='true' "
    "or contains(concat(' ', normalize-space(@class), ' '), ' modal ') "
    "or contains(concat(normalize-space(@class), ' '), '-modal ') or contains(concat(normalize-space(@class), ' '), '_modal ')]"
)

# Where pages state the publication time with more precision than trafilatura's YYYY-MM-DD.
_PUBLISHED_META = (
    "article:published_time",
    "og:article:published_time",
    "datepublished",
    "pubdate",
    "publishdate",
    "dc.date.issued",
)


def read_html_article(html: Union[str, bytes], location: str) -> Article:
    """Read a web page into an :class:`Article`.

    The body is the article's own paragraphs as trafilatura finds them, without navigation, share
    buttons, related-story boxes, cookie banners or newsletter footers; sub-headings, list items,
    quotes and table rows become paragraphs of their own. ``title``, ``author``, ``date`` (ISO 8601:
    ``YYYY-MM-DD``, or with the time when the page states one for that day) and ``url`` (the
    canonical URL, else ``location`` when it is a URL) come from the page's metadata. ``audio`` is
    :func:`find_embedded_audio` with ``location`` as the base.

    Raises:
      ArticleError: the page has no article text.
    """
    import trafilatura

    url = location if is_url(location) else None
    tree = trafilatura.load_html(html) if html else None
    if tree is None:
        raise ArticleError(f"{location}: not an HTML page with article text")

    options: dict[str, Any] = dict(
        url=url,
        include_comments=False,  # reader comments are not the article
        include_tables=True,
        include_images=False,
        include_links=False,
        # Deduplication is cross-document (an LRU cache shared by calls): it would hide a page
        # that is ingested twice, which is the pipeline's decision, not the parser's.
        deduplicate=False,
        prune_xpath=_MODAL_DIALOGS,
        # Without trafilatura's fallback extractors (jusText, readability): on real pages they bring
        # back captions, sidebars and teasers more often than text (bench/RESULTS.md, "Real pages").
        fast=True,
    )
    # A Document unless as_dict=True; trafilatura's annotation has no overloads to say so.
    document = cast("Optional[Document]", trafilatura.bare_extraction(tree, with_metadata=True, **options))
    if document is None or document.body is None:
        raise ArticleError(f"{location}: no article text found in the page")
    body = document.body
    described = None
    if len(document.text or "") < _MIN_ARTICLE_CHARS or len(body) <= 1:
        # An episode or video page's text is its description, which the page states in its metadata and
        # shows beside the player. The extractor, finding no article, takes a dialog's text instead, or
        # all the page's text in one block (its fallback): breadcrumbs, durations, dates with it.
        described = _shown_description(tree, document.description)
        if described is not None and _norm(described) in _norm(document.title or ""):
            described = None  # a description that repeats the title describes nothing
    if described is not None:
        logger.debug("%s: the article text is the page's description", location)
    elif len(document.text or "") < _MIN_ARTICLE_CHARS:
        # On a short page trafilatura's fallback returns all the text there is, navigation links
        # included, in one block. Precision mode keeps only the article, or nothing when the page
        # has none.
        strict = cast("Optional[Document]", trafilatura.bare_extraction(tree, favor_precision=True, **options))
        if strict is None or strict.body is None or not (strict.text or "").strip():
            raise ArticleError(f"{location}: no article text found in the page (only navigation or page furniture)")
        body = strict.body
    elif _laid_out_in_tables(body):
        # A page laid out in a table: trafilatura takes the whole table, the site's copyright and
        # photo credits in its cells too. Precision mode keeps the article's cells; on pages that only
        # hold a table among other blocks it loses text (bench/RESULTS.md, "Real pages").
        strict = cast("Optional[Document]", trafilatura.bare_extraction(tree, favor_precision=True, **options))
        if strict is not None and strict.body is not None and len(strict.text or "") >= _MIN_ARTICLE_CHARS:
            body = strict.body

    paragraphs = [described] if described is not None else list(_body_paragraphs(body))
    if described is None:
        # The site's closing calls to follow it elsewhere or to use another service's button.
        end = signoff_start(tree, paragraphs, _clean(document.url) or url)
        if end < len(paragraphs):
            logger.debug("%s: leaving out the site's sign-off %s", location, paragraphs[end:])
            del paragraphs[end:]
    title = _headline(tree, _clean(document.title), _clean(document.sitename)) or title_from_location(location)
    # Some pages repeat the headline as the first block of the body.
    if paragraphs and paragraphs[0].casefold() == title.casefold():
        paragraphs.pop(0)
    elif paragraphs and _generic(title, paragraphs, tree) and _looks_like_headline(paragraphs[0]):
        # A site-wide title ("News from The Associated Press") names nothing the article says; the
        # article's first block, a short line without a full stop, is its headline.
        title = paragraphs.pop(0)
    if not paragraphs:
        raise ArticleError(f"{location}: no article text found in the page")

    return Article(
        title=title,
        location=location,
        paragraphs=paragraphs,
        date=_precise_date(tree, document.date) if document.date else None,
        author=_stated_author(tree, _clean(document.author), _clean(document.sitename)),
        url=_clean(document.url) or url,
        audio=find_embedded_audio(tree, location, paragraphs=paragraphs, title=title),
    )


# How page titles join the headline and the site's name: "Headline | Site", "Headline - Site".
_TITLE_SEPARATORS = re.compile(r"\s+[|\-–—«»·:]{1,2}\s+")


def _headline(tree: lxml.html.HtmlElement, title: Optional[str], sitename: Optional[str]) -> Optional[str]:
    """The article's headline: the page's ``<h1>`` when the title contains it (the title adds the site's
    name), else the title without a part that is the site's name."""
    if not title:
        return None
    folded = title.casefold()
    for heading in tree.iter("h1"):
        text = _clean(heading.text_content())
        if text and len(text) >= 8 and text != title and text.casefold() in folded:
            return text
    if sitename:
        parts = _TITLE_SEPARATORS.split(title)
        kept = [part for part in parts if part.strip().casefold() != sitename.casefold()]
        if kept and len(kept) < len(parts):
            return _TITLE_SEPARATORS.search(title) and " - ".join(kept) if len(kept) > 1 else kept[0]
    return title


# trafilatura's block elements; a table cell holding them is page layout, not a table of data.
_BLOCKS_IN_CELLS = frozenset("p head list quote table".split())
# A box after a table page's article holds at most this share of the article's text (_boxes_after).
_BOX_SHARE = 0.1


def _holds_blocks(cell: lxml.etree._Element) -> bool:
    """Whether a table cell holds blocks: page layout, not a cell of a table of data."""
    return any(child.tag in _BLOCKS_IN_CELLS for child in cell)


# Bylines that name nobody.
_NO_AUTHOR = frozenset(
    "no author|anonymous|anónimo|anonym|unknown|admin|administrator|redaktion|redacción|staff|author|autor|by|von|por".split("|")
)


def _stated_author(tree: lxml.html.HtmlElement, author: Optional[str], sitename: Optional[str]) -> Optional[str]:
    """trafilatura's author, keeping only names the page states as its author: in ``<meta name=author>``,
    JSON-LD ``author``, or an element marked as the author or byline. A guess from the text ("So Artikel
    Empfehlen", "Autor; In ..."), a placeholder ("No Author") or the site's own name is dropped."""
    if not author:
        return None
    stated = " ".join(_author_statements(tree)).casefold()
    names = [name.strip() for name in author.split(";")]
    unwanted = _NO_AUTHOR | ({sitename.casefold()} if sitename else set())
    kept = [name for name in names if name and name.casefold() not in unwanted and name.casefold() in stated]
    return "; ".join(kept) or None


def _author_statements(tree: lxml.html.HtmlElement) -> Iterator[str]:
    for meta in tree.iter("meta"):
        name = (meta.get("name") or meta.get("property") or "").strip().lower()
        if name in ("author", "article:author", "dc.creator", "parsely-author", "sailthru.author", "byl"):
            yield meta.get("content") or ""
    for script in tree.iter("script"):
        if (script.get("type") or "").strip().lower() == "application/ld+json" and "author" in (script.text or ""):
            yield script.text or ""
    for element in tree.iter():
        if not isinstance(element.tag, str):
            continue
        marks = f"{element.get('rel') or ''} {element.get('itemprop') or ''} {element.get('class') or ''}".lower()
        if "author" in marks or "byline" in marks or "creator" in marks:
            yield element.text_content()


def _generic(title: str, paragraphs: list[str], tree: lxml.html.HtmlElement) -> bool:
    """Whether the title heads nothing in the page and no word of it (of five letters or more)
    occurs in the article's lead."""
    for heading in tree.iter("h1", "h2"):
        if (_clean(heading.text_content()) or "").casefold() == title.casefold():
            return False
    words = {word for word in re.findall(r"\w{5,}", title.casefold())}
    body = " ".join(paragraphs[:4]).casefold()
    return bool(words) and not any(re.search(rf"\b{re.escape(word)}\b", body) for word in words)


def _looks_like_headline(paragraph: str) -> bool:
    return len(paragraph.split()) <= 20 and not paragraph.rstrip().endswith((".", ":", ";", ","))


def _shown_description(tree: lxml.html.HtmlElement, description: Optional[str]) -> Optional[str]:
    """The page's stated description (``og:description``, ``<meta name=description>``) when an element of
    its body shows it as it is, else None."""
    wanted = _norm(description or "")
    if len(wanted) < 40:
        return None
    for body in tree.iter("body"):
        for element in body.iter("p", "div", "span", "section", "dd"):
            if _norm(element.text_content()) == wanted:
                return _clean(element.text_content())
    return None


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def _laid_out_in_tables(body: lxml.etree._Element) -> bool:
    """Whether most of trafilatura's output is in tables whose cells hold paragraphs (page layout, not
    data): the page is set in a layout table, not an article that holds one among its blocks."""
    layout = [table for table in body.iterchildren("table") if any(_holds_blocks(cell) for cell in table.iter("cell"))]
    in_layout = sum(len("".join(table.itertext()).strip()) for table in layout)
    return bool(layout) and 2 * in_layout >= len("".join(body.itertext()).strip())


def _body_paragraphs(body: lxml.etree._Element) -> Iterator[str]:
    """Paragraph texts from trafilatura's output tree (``p``, ``head``, ``list``, ``quote``, ``table`` ...)."""
    # trafilatura turns <br> into <lb/>; give it a space so the words on either side stay apart.
    for line_break in body.iter("lb"):
        if not (line_break.tail or "").startswith(" "):
            line_break.tail = " " + (line_break.tail or "")
    cells = [cell for cell in body.iter("cell") if _holds_blocks(cell)]
    # The article's own cell, of a page set in a table: the one with the most text.
    article_cell = max(cells, key=lambda cell: len(_text(cell)), default=None)
    boxes = set(_boxes_after(cells, article_cell)) if article_cell is not None else set()
    for block in body:
        yield from _block_paragraphs(block, article_cell, boxes)


def _boxes_after(cells: list[lxml.etree._Element], article_cell: lxml.etree._Element) -> Iterator[lxml.etree._Element]:
    """The small boxes of a page set in a table, after its article's cell: a cell alone with text in
    its row (a column or a box, not a row of a table of data) with a tenth of the article's text or
    less. They hold the site's columns, credits, notices and appeals (bench/RESULTS.md, "Real pages")."""
    small = len(_text(article_cell)) * _BOX_SHARE
    for cell in cells[cells.index(article_cell) + 1 :]:
        alone = not any(_text(other) for other in (*cell.itersiblings("cell"), *cell.itersiblings("cell", preceding=True)))
        if alone and len(_text(cell)) < small:
            yield cell


def _block_paragraphs(
    block: lxml.etree._Element, article_cell: Optional[lxml.etree._Element] = None, boxes: Collection = frozenset()
) -> Iterator[str]:
    tag = block.tag if isinstance(block.tag, str) else ""
    if tag == "list":
        items = [_text(item) for item in block.iterchildren("item")]
        yield from (item for item in items if item)
    elif tag == "table":
        for row in block.iter("row"):
            cells = list(row.iterchildren("cell"))
            if any(_holds_blocks(cell) for cell in cells):
                # A layout table: its cells hold the article's paragraphs, each one of its own.
                for cell in cells:
                    if cell not in boxes:
                        yield from _cell_paragraphs(cell, article_cell, boxes)
                continue
            line = " | ".join(text for text in (_text(cell) for cell in cells) if text)
            if line:
                yield line
    elif tag == "quote" and len(block) and all(child.tag in ("p", "lb") for child in block):
        yield from (text for text in (_text(p) for p in block.iterchildren("p")) if text)
    elif tag in ("graphic", "ref") and not _text(block):
        return
    else:
        # trafilatura collapses the whitespace of the paragraphs it extracts; a newline left in
        # a block comes from its fallback extractor, which joins whole blocks with newlines.
        for line in "".join(block.itertext()).split("\n"):
            text = " ".join(line.split())
            if text:
                yield text


def _cell_paragraphs(cell: lxml.etree._Element, article_cell: Optional[lxml.etree._Element], boxes: Collection) -> Iterator[str]:
    """A layout cell's paragraphs: its blocks (a table in it read as the page's), and in the article's
    own cell the text set between them (lines the page parts with ``<br>``, which trafilatura leaves in
    the cell around its blocks), a paragraph each run. In the cells around it such text is the labels
    and links of the site's columns."""
    loose = cell is article_cell
    run: list[str] = [cell.text or ""]
    for child in cell:
        if child.tag in _BLOCKS_IN_CELLS:
            if loose and (text := " ".join("".join(run).split())):
                yield text
            run = []
            yield from _block_paragraphs(child, article_cell, boxes)
        else:  # inline (emphasis, a link, a line break): part of the text around it
            run.append("".join(child.itertext()))
        run.append(child.tail or "")
    if loose and (text := " ".join("".join(run).split())):
        yield text


def _text(element: lxml.etree._Element) -> str:
    return " ".join("".join(element.itertext()).split())


def _precise_date(tree: lxml.html.HtmlElement, day: str) -> str:
    """trafilatura's ``YYYY-MM-DD``, with the time of day when the page states one for that day."""
    for candidate in _published_candidates(tree):
        parsed = parse_datetime(candidate)
        if parsed is None:
            continue
        moment, has_time = parsed
        if has_time and moment.date().isoformat() == day:
            return format_datetime(moment, has_time=True)
    return day


def _published_candidates(tree: lxml.html.HtmlElement) -> Iterator[str]:
    for meta in tree.iter("meta"):
        name = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").strip().lower()
        if name in _PUBLISHED_META and meta.get("content"):
            yield meta.get("content").strip()
    for script in tree.iter("script"):
        if (script.get("type") or "").strip().lower() == "application/ld+json":
            try:
                data = json.loads(script.text or "")
            except ValueError:
                continue
            yield from _jsonld_dates(data)
    for element in tree.iter("time"):
        if element.get("datetime"):
            yield element.get("datetime").strip()
            break  # the first <time> is the article's; later ones belong to comments and teasers


def _jsonld_dates(node) -> Iterator[str]:
    if isinstance(node, list):
        for item in node:
            yield from _jsonld_dates(item)
    elif isinstance(node, dict):
        value = node.get("datePublished")
        if isinstance(value, str):
            yield value
        for key in ("@graph", "mainEntity", "mainEntityOfPage"):
            if isinstance(node.get(key), (list, dict)):
                yield from _jsonld_dates(node[key])


def html_to_paragraphs(html: str) -> list[str]:
    """Text paragraphs of an HTML fragment (show notes, descriptions, HTML transcripts).

    Block elements (``p``, ``div``, ``li``, headings, ``br`` ...) end a paragraph; inline markup is
    flattened; scripts and styles are dropped. Plain text without markup is split on blank lines.
    Returns the non-empty paragraphs in document order.
    """
    if not html or not html.strip():
        return []
    if "<" not in html:
        # No markup (RSS descriptions are often plain text typed as HTML): keep its blank lines.
        return plain_text_paragraphs(unescape(html))
    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except (lxml.etree.ParserError, ValueError, AssertionError):  # lxml asserts on a document without a body
        return plain_text_paragraphs(html)
    paragraphs: list[str] = []
    current: list[str] = []

    def flush() -> None:
        text = " ".join("".join(current).split())
        if text:
            paragraphs.append(text)
        current.clear()

    def walk(element: lxml.html.HtmlElement) -> None:
        tag = element.tag.lower() if isinstance(element.tag, str) else ""
        if tag in _SKIP_TAGS:
            return
        block = tag in _BLOCK_TAGS
        if block:
            flush()
        if element.text and isinstance(element.tag, str):
            current.append(element.text)
        for child in element:
            walk(child)
            if child.tail:
                current.append(child.tail)
        if block:
            flush()

    walk(root)
    flush()
    return paragraphs


_MARKUP = re.compile(r"</?(?:p|br|div|ul|ol|li|a|b|i|em|strong|span|h[1-6]|blockquote|img|table|tr|td)\b[^<>]*>", re.IGNORECASE)


def looks_like_markup(text: str) -> bool:
    """Whether text labelled plain holds HTML elements (``<p>``, ``<br>``, ``<ul><li>`` ...)."""
    return bool(_MARKUP.search(text))


def plain_text_paragraphs(text: str) -> list[str]:
    """Paragraphs of plain text: blank-line separated, each with its lines joined."""
    paragraphs, current = [], []
    for line in text.splitlines():
        if line.strip():
            current.append(line.strip())
        elif current:
            paragraphs.append(" ".join(" ".join(current).split()))
            current = []
    if current:
        paragraphs.append(" ".join(" ".join(current).split()))
    return paragraphs
