"""Plain-text articles, as scrapers save them: page furniture, a date line, the title, the body.

A scraped text keeps the words of the page's chrome along with the article: icon sprite names
(``icon bookmark-bicon bookmarkicon cameraicon ...``), and the remains of embedded players (a label
such as ``Podcasts`` followed by time counters ``0:00``, ``23:13``, ``25:0``). Those lines are
recognised by their shape, not by their exact words, and dropped.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime
from typing import Optional, Tuple
from urllib.parse import unquote, urlsplit

from ..errors import ArticleError
from ..models import Article

logger = logging.getLogger("indexer")

__all__ = ["collapse_whitespace", "format_datetime", "parse_datetime", "read_text_article", "title_from_location"]

# A line of hard-wrapped text is rarely longer than this; a longer line is a whole paragraph.
_WRAP_WIDTH = 100
# Longer than this, a first line is a paragraph, not a headline.
_MAX_TITLE = 200
# The date line, when there is one, comes before the body: look no further than this many blocks.
_HEADER_BLOCKS = 4
_DATE_LABELS = {"published", "updated", "posted", "last", "on", "at", "date"}
_MONTHS = {
    "jan",
    "feb",
    "mar",
    "apr",
    "may",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "january",
    "february",
    "march",
    "april",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
}


def read_text_article(text: str, location: str) -> Article:
    """Read a scraped plain-text article.

    Drops UI noise lines, takes the date line near the top (``8 Dec, 2021 11:53`` becomes
    ``2021-12-08T11:53``), the title (the first real line; an immediate repeat of it is dropped) and
    the body paragraphs (blank-line separated; hard-wrapped lines are joined, while a block of long
    lines is taken as one paragraph per line).

    Returns an :class:`Article` without audio: a text file cannot say which audio it embedded.

    Raises:
      ArticleError: nothing but a title and page furniture is left.
    """
    lines = [" ".join(line.replace("\ufeff", "").split()) for line in text.splitlines()]
    noise = _noise_lines(lines)
    if noise:
        logger.debug("%s: dropped %d UI noise line(s)", location, len(noise))
    # A dropped line separates blocks, like a blank one: the date line is glued to the icon line.
    blocks = _blocks(["" if i in noise else line for i, line in enumerate(lines)])

    date = None
    for block in blocks[:_HEADER_BLOCKS]:
        for i, line in enumerate(block):
            parsed = _date_line(line)
            if parsed is not None:
                date = format_datetime(*parsed)
                del block[i]
                break
        if date:
            break
    blocks = [block for block in blocks if block]

    title = None
    if blocks and len(blocks[0][0]) <= _MAX_TITLE:
        title = blocks[0].pop(0)
        if not blocks[0]:
            blocks.pop(0)
        # Scrapers often keep the headline twice (the page's <h1> and its share-card title).
        if blocks and _same(blocks[0][0], title):
            blocks[0].pop(0)
            if not blocks[0]:
                blocks.pop(0)
    paragraphs = [paragraph for block in blocks for paragraph in _paragraphs(block)]
    if not paragraphs:
        raise ArticleError(f"{location}: no article text after the title and page furniture")
    return Article(
        title=title or title_from_location(location),
        location=location,
        paragraphs=paragraphs,
        date=date,
    )


def _noise_lines(lines: list[str]) -> set[int]:
    """Indexes of lines that are page chrome rather than article text."""
    noise = {i for i, line in enumerate(lines) if _is_icon_line(line) or _is_counter_line(line)}
    # A short label next to player counters is the player's caption ("Podcasts", "Listen"):
    # before a counter, or after one at the very end of the text.
    for i, line in enumerate(lines):
        if not line or i in noise or not _is_label(line):
            continue
        following = _next_nonblank(lines, i, +1)
        preceding = _next_nonblank(lines, i, -1)
        if following is not None and _is_counter_line(lines[following]):
            noise.add(i)
        elif following is None and preceding is not None and _is_counter_line(lines[preceding]):
            noise.add(i)
    return noise


def _next_nonblank(lines: list[str], i: int, step: int) -> Optional[int]:
    j = i + step
    while 0 <= j < len(lines):
        if lines[j]:
            return j
        j += step
    return None


def _is_icon_line(line: str) -> bool:
    """Icon sprite names: most words contain "icon" (``bookmarkicon``, ``v-playicon``)."""
    tokens = line.lower().split()
    if len(tokens) < 3:
        return tokens == ["icon"] or (len(tokens) > 0 and all(t.endswith("icon") for t in tokens))
    return sum("icon" in token for token in tokens) / len(tokens) >= 0.5


def _is_counter_line(line: str) -> bool:
    """Player time counters only: ``0:00``, ``23:13``, ``1:02:03``, ``0:00 / 25:01``, truncated ``25:0``."""
    tokens = line.replace("/", " ").split()
    return bool(tokens) and all(_is_counter(token) for token in tokens)


def _is_counter(token: str) -> bool:
    parts = token.lstrip("-").split(":")
    return (
        2 <= len(parts) <= 3
        and all(part.isdigit() and len(part) <= 2 for part in parts[1:])
        and parts[0].isdigit()
        and len(parts[0]) <= 3
    )


def _is_label(line: str) -> bool:
    """A UI word or two: short, no sentence punctuation, no digits."""
    words = line.split()
    return len(words) <= 3 and len(line) <= 30 and not any(character in '.,;:!?"“”' or character.isdigit() for character in line)


def _blocks(lines: list[str]) -> list[list[str]]:
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in lines:
        if line:
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def _paragraphs(block: list[str]) -> list[str]:
    """One paragraph for a hard-wrapped block; one per line when the lines are too long to be wrapped."""
    if any(len(line) > _WRAP_WIDTH for line in block[:-1]):
        return block
    joined = ""
    for line in block:
        if not joined:
            joined = line
        elif joined.endswith("-") and joined[-2:-1].isalpha() and line[:1].isalpha():
            joined += line  # a word broken at the hyphen ("well-" / "known")
        else:
            joined += " " + line
    return [joined]


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def _date_line(line: str) -> Optional[Tuple[datetime, bool]]:
    """The date a line consists of, when the line is nothing but a complete date (and time),
    possibly after a ``Published``/``Updated``/``Posted`` label."""
    words = line.split()
    while words and words[0].lower().strip(":") in _DATE_LABELS:
        words.pop(0)
    line = " ".join(words)
    if len(line) > 40 or len(line.split()) > 7 or not any(c.isdigit() for c in line):
        return None
    bare = {word.strip(".,").lower() for word in line.split()}
    has_year = any(len(word) == 4 and word.isdigit() for word in line.replace(",", " ").replace("-", " ").split())
    if not (bare & _MONTHS or has_year or line.count("-") == 2 or line.count("/") == 2):
        return None
    return parse_datetime(line, fuzzy=False)


def parse_datetime(text: str, *, fuzzy: bool = False) -> Optional[Tuple[datetime, bool]]:
    """Parse a date with dateutil; return ``(datetime, has_time)``, or None unless the text names a
    whole date (year, month and day).

    Whether the text states a time is found by parsing with two different defaults: a field the
    text does not give comes out different.
    """
    from dateutil import parser

    first = datetime(2000, 1, 1, 0, 0, 0)
    second = datetime(2001, 2, 2, 1, 1, 1)
    try:
        a = parser.parse(text, default=first, fuzzy=fuzzy)
        b = parser.parse(text, default=second, fuzzy=fuzzy)
    except (ValueError, OverflowError, TypeError):
        return None
    if (a.year, a.month, a.day) != (b.year, b.month, b.day):
        return None
    has_time = a.hour == b.hour
    if not has_time:
        return a.replace(hour=0, minute=0, second=0), False
    # Seconds the text does not give come out 0 and 1: report none.
    if a.second != b.second:
        a = a.replace(second=0)
    return a, True


def format_datetime(moment: datetime, has_time: bool) -> str:
    """ISO 8601: ``YYYY-MM-DD``; with the time, ``YYYY-MM-DDTHH:MM`` (``:SS`` and a UTC offset
    only when known)."""
    if not has_time:
        return moment.date().isoformat()
    return moment.isoformat(timespec="seconds" if moment.second or moment.microsecond else "minutes")


def title_from_location(location: str) -> str:
    """A readable title from a path or URL: the file or last path segment without its extension."""
    path = urlsplit(location).path if "://" in location else location
    name = os.path.splitext(os.path.basename(unquote(path).rstrip("/\\")))[0]
    return " ".join(name.replace("_", " ").replace("-", " ").split()) or location


def collapse_whitespace(text: Optional[str]) -> Optional[str]:
    """``text`` with every run of whitespace made one space and no space at either end; None if empty."""
    if not text:
        return None
    return " ".join(text.split()) or None
