"""Audio delivery: a source's audio found by its id (never by a path from the request), served with
HTTP Range so a player can seek anywhere in a long file and only the bytes asked for are read."""

from __future__ import annotations

import mimetypes
import os
import re
import stat
from pathlib import Path
from typing import Optional

from starlette.responses import FileResponse, PlainTextResponse, RedirectResponse, Response

from ..models import Source
from ..sources.fetch import Fetcher, is_url

# bytes=START-END, bytes=START-, bytes=-SUFFIX, and lists of them.
_RANGE_SPEC = r"\s*(\d+-\d*|-\d+)\s*"
_RANGE = re.compile(rf"bytes={_RANGE_SPEC}(,{_RANGE_SPEC})*")

# Types that mimetypes does not know everywhere; a browser refuses audio sent as octet-stream.
_AUDIO_TYPES = {".m4a": "audio/mp4", ".opus": "audio/ogg", ".oga": "audio/ogg", ".flac": "audio/flac", ".weba": "audio/webm"}


def range_is_valid(header: str, size: int) -> bool:
    """Whether a Range header is well-formed and at least one of its ranges falls inside ``size`` bytes.

    The rest (which range, suffixes, several ranges) is left to Starlette's ``FileResponse``; this
    only makes every malformed or unsatisfiable request a 416, where Starlette answers a malformed
    one with 400.
    """
    if not _RANGE.fullmatch(header.strip()):
        return False
    satisfiable = False
    for spec in header.strip()[len("bytes=") :].split(","):
        first, last = (part.strip() for part in spec.split("-", 1))
        if first and last and int(first) > int(last):
            return False
        if first:
            satisfiable |= int(first) < size
        else:
            satisfiable |= int(last) > 0 and size > 0
    return satisfiable


def audio_response(source: Source, range_header: Optional[str], fetcher: Fetcher) -> Response:
    """The audio of ``source``: its local file (Range honoured), the downloaded copy of URL audio, or
    a redirect to the URL when no copy was kept. A file that is gone is a 404."""
    location = source.location
    if is_url(location):
        cached = fetcher.cached(location)
        if cached is None:
            return RedirectResponse(location, status_code=302)
        path, name = cached, Path(location.split("?", 1)[0]).name
    else:
        path = Path(location).expanduser()
        name = path.name
    try:
        status = os.stat(path)
    except OSError:
        return PlainTextResponse(f"the audio of {source.id} is no longer at {location}", status_code=404)
    if not stat.S_ISREG(status.st_mode):
        return PlainTextResponse(f"the audio of {source.id} at {location} is not a file", status_code=404)
    if range_header is not None and not range_is_valid(range_header, status.st_size):
        return Response(status_code=416, headers={"Content-Range": f"bytes */{status.st_size}"})
    return FileResponse(path, media_type=_media_type(name), stat_result=status)


def _media_type(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return _AUDIO_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
