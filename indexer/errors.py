"""One exception hierarchy. The CLI is the only place that turns these into messages and exit codes.

Each message is one line that names the input and what is wrong with it.
"""


class IndexerError(Exception):
    """Base class of every error the library raises on purpose."""


class SourceError(IndexerError):
    """An input cannot be used: missing, unreadable, or of a kind the indexer does not handle."""


class AudioError(SourceError):
    """A file is not audio, or is truncated, corrupt or empty."""


class NoSpeechError(AudioError):
    """Audio decoded fine but contains no speech."""


class ArticleError(SourceError):
    """A page or text has no article text."""


class FeedError(SourceError):
    """A feed cannot be parsed into any item."""


class FetchError(SourceError):
    """A URL could not be fetched: unreachable host, HTTP error, time-out, too large."""


class UnsafeURLError(FetchError):
    """A URL discovered inside a document points at a private address and was refused."""


class ModelError(IndexerError):
    """A speech model cannot be found or loaded."""


class IndexUnavailableError(IndexerError):
    """The index directory cannot be created, read or written."""


class NoIndexError(IndexUnavailableError):
    """Reading where no index has been created yet (nothing was ingested there)."""


class QueryError(IndexerError):
    """A search query is malformed."""


class NotFoundError(IndexerError):
    """No source with that id is in the index."""
