"""indexer: find where something was said in podcasts and the articles that embed them.

>>> import indexer
>>> transcript = indexer.transcribe("episode.mp3")          # typed records, iterable segments
>>> index = indexer.Index("my-index")
>>> report = index.ingest("article.html", "feed.xml", "episode.mp3")
>>> for hit in index.search('"red line" OR Ushakov'):
...     print(hit.kind, hit.start, hit.title)
"""

import os as _os

# onnxruntime (faster-whisper's VAD) writes a device id and a telemetry database under
# ~/.cache/Microsoft when it is imported, whatever $INDEXER_CACHE says; this must be set before.
_os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from .alignment import Alignment, Correspondence, HeardParagraph, Stretch
from .asr.base import DecodeOptions
from .errors import (  # noqa: E402
    ArticleError,
    AudioError,
    FeedError,
    FetchError,
    IndexerError,
    IndexUnavailableError,
    ModelError,
    NoIndexError,
    NoSpeechError,
    NotFoundError,
    QueryError,
    SourceError,
    UnsafeURLError,
)
from .ingest import Failure, IngestReport
from .inspect import Inspection, inspect
from .library import Index, transcribe
from .models import Article, AudioRef, Hit, Segment, Source, Transcript, Word

__version__ = "0.1.0"

__all__ = [
    "Alignment",
    "Article",
    "ArticleError",
    "AudioError",
    "AudioRef",
    "Correspondence",
    "DecodeOptions",
    "Failure",
    "FeedError",
    "FetchError",
    "HeardParagraph",
    "Hit",
    "Index",
    "IndexUnavailableError",
    "IndexerError",
    "IngestReport",
    "Inspection",
    "ModelError",
    "NoIndexError",
    "NoSpeechError",
    "NotFoundError",
    "QueryError",
    "Segment",
    "Source",
    "SourceError",
    "Stretch",
    "Transcript",
    "UnsafeURLError",
    "Word",
    "__version__",
    "inspect",
    "transcribe",
]
