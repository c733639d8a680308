"""indexer: find where something was said in podcasts and the articles that embed them.

>>> import indexer
>>> transcript = indexer.transcribe("episode.mp3")          # typed records, iterable segments
>>> index = indexer.Index("my-index")
>>> report = index.ingest("article.html", "feed.xml", "episode.mp3")
>>> for hit in index.search('"red line" OR Ushakov'):
...     print(hit.kind, hit.start, hit.title)
"""

from .errors import (
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
from .library import Index, transcribe
from .models import Article, AudioRef, Hit, Segment, Source, Transcript, Word
from .asr.base import DecodeOptions

__version__ = "0.1.0"

__all__ = [
    "Article",
    "ArticleError",
    "AudioError",
    "AudioRef",
    "DecodeOptions",
    "Failure",
    "FeedError",
    "FetchError",
    "Hit",
    "Index",
    "IndexUnavailableError",
    "IndexerError",
    "IngestReport",
    "ModelError",
    "NoIndexError",
    "NoSpeechError",
    "NotFoundError",
    "QueryError",
    "Segment",
    "Source",
    "SourceError",
    "Transcript",
    "UnsafeURLError",
    "Word",
    "__version__",
    "transcribe",
]
