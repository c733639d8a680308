"""The site's sign-off at the end of an article: paragraphs that send the reader to another service.

A site closes its articles with calls to act elsewhere: join its channel on a messenger, follow it on
a social network, get its app, add the episode to a list with a podcast directory's button. They are
plain paragraphs of the article's own block, so the text extractor keeps them; what marks them is
where their links go. :func:`signoff_start` finds where such a run of closing paragraphs begins.
"""

from __future__ import annotations

import re
from typing import Iterator, Optional
from urllib.parse import parse_qsl, urljoin, urlsplit

import lxml.html

from .fetch import is_url

__all__ = ["signoff_start"]

# Services where a site keeps a channel of its own: messengers, social networks, app stores, podcast
# directories and platforms (registrable domains).
_CHANNEL_SERVICES = frozenset(
    """t.me telegram.me telegram.org wa.me whatsapp.com signal.me
    twitter.com x.com facebook.com fb.com fb.me instagram.com threads.net tiktok.com linkedin.com xing.com
    youtube.com pinterest.com pinterest.de flipboard.com vk.com bsky.app mastodon.social reddit.com
    apps.apple.com itunes.apple.com podcasts.apple.com play.google.com podcasts.google.com open.spotify.com
    spotify.com deezer.com overcast.fm pocketcasts.com castbox.fm podcastaddict.com player.fm tunein.com
    stitcher.com fyyd.de podchaser.com steadyhq.com patreon.com""".split()
)

# A link to one post on such a service (a tweet, a video, a message) is the article quoting it, not the
# site's channel: a long number in its path, or a path word that names a single item.
_ONE_POST = re.compile(r"/\d{5,}(?:/|$)|/(?:status|statuses|watch|p|posts?|videos?|reel|shorts|hashtag|sharer?)(?:/|\.php|$)")


def signoff_start(tree: lxml.html.HtmlElement, paragraphs: list[str], page_url: Optional[str]) -> int:
    """The index of the first of the article's closing paragraphs that send the reader elsewhere
    (``len(paragraphs)`` when the article ends with its own text).

    A closing paragraph counts when, in the page, it links to the site's own channel on a messenger,
    social network, app store or podcast directory (the channel's address names the site) and to no
    other site's page; or when it introduces the widget of the service it links to (an embedded frame
    of that service, set right after it, that plays nothing). Only the run of such paragraphs at the
    end counts: in the middle of an article a link to a channel is the story quoting it.
    """
    site = _site_name(page_url)
    end = len(paragraphs)
    if end < 2:
        return end
    elements = _elements_of(tree, paragraphs[-8:])
    while end > 1:  # a sign-off follows an article: the first paragraph stays
        element = elements.get(_norm(paragraphs[end - 1]))
        if element is None or not (_to_own_channel(element, site, page_url) or _introduces_widget(element, page_url)):
            break
        end -= 1
    return end


def _elements_of(tree: lxml.html.HtmlElement, paragraphs: list[str]) -> dict:
    """The deepest element of the page's body whose text is each paragraph's."""
    wanted = {_norm(paragraph) for paragraph in paragraphs}
    found: dict = {}
    for body in tree.iter("body"):
        for element in body.iter():
            if not isinstance(element.tag, str):
                continue
            text = _norm(element.text_content())
            if text in wanted:
                found[text] = element  # iter() is document order: a descendant comes after its holder
    return found


def _to_own_channel(element, site: Optional[str], page_url: Optional[str]) -> bool:
    if not site:
        return False
    elsewhere = [url for url in _links(element, page_url) if _domain(url) != _domain(page_url)]
    if not elsewhere or not all(_service(url) for url in elsewhere):
        return False
    return any(not _ONE_POST.search(urlsplit(url).path.lower()) and site in _squash(_address(url)) for url in elsewhere)


def _introduces_widget(element, page_url: Optional[str]) -> bool:
    from .players import identify

    services = {_domain(url) for url in _links(element, page_url)} - {_domain(page_url), ""}
    if not services:
        return False
    following = _next_element(element)
    if following is None or _norm(following.text_content()):
        return False
    frames = [_absolute((frame.get("src") or "").strip(), page_url) for frame in following.iter("iframe")]
    return any(_domain(src) in services and identify(src) is None for src in frames if src)


def _next_element(element):
    """The element that follows ``element`` in the page, past empty ones that hold no frame; None when
    text comes first."""
    while element is not None and element.tag != "body":
        if _norm(element.tail or ""):
            return None
        following = element.getnext()
        while following is not None:
            if isinstance(following.tag, str) and (
                _norm(following.text_content()) or any(True for _ in following.iter("iframe"))
            ):
                return following
            if _norm(following.tail or ""):
                return None
            following = following.getnext()
        element = element.getparent()
    return None


def _links(element, page_url: Optional[str]) -> Iterator[str]:
    for anchor in element.iter("a"):
        href = (anchor.get("href") or "").strip()
        if href and not href.startswith(("#", "javascript:", "mailto:", "tel:")):
            url = _absolute(href, page_url)
            if url is not None:
                yield url


def _absolute(reference: str, page_url: Optional[str]) -> Optional[str]:
    """``reference`` as an absolute http(s) URL with a valid host and port, else None."""
    try:
        url = urljoin(page_url or "", reference)
        urlsplit(url).port  # noqa: B018 -- raises on "http://[" and on a port out of range
    except ValueError:
        return None
    return url if is_url(url) else None


def _service(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return any(host == name or host.endswith("." + name) for name in _CHANNEL_SERVICES)


def _address(url: str) -> str:
    """What names a channel in its URL: the path, and the query's values (an app store's app id)."""
    parts = urlsplit(url)
    return " ".join([parts.path, *(value for _, value in parse_qsl(parts.query))])


def _site_name(page_url: Optional[str]) -> Optional[str]:
    """The site's name in its domain: ``guatemala`` for www.guatemala.com, ``bbc`` for www.bbc.co.uk."""
    from tld import get_tld

    if not page_url or _absolute(page_url, None) is None:
        return None
    parsed = get_tld(page_url, as_object=True, fail_silently=True)
    name = _squash(parsed.domain) if parsed is not None else ""  # type: ignore[union-attr]
    return name if len(name) >= 3 else None


def _domain(url: Optional[str]) -> str:
    """The registrable domain of a URL that :func:`_absolute` accepted (the page's may be None)."""
    from tld import get_fld

    if not url or _absolute(url, None) is None:
        return ""
    return (get_fld(url, fail_silently=True) or urlsplit(url).hostname or "").lower()


def _squash(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.casefold())


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()
