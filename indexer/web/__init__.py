"""The local web page behind ``indexer serve``: search, play a hit from its jump-in time, and read a
transcript while the spoken word lights up.

Built on Starlette (ASGI) served by uvicorn, with Jinja2 templates. Starlette's ``FileResponse``
answers HTTP Range requests itself, streaming each range from the file, so seeking in a 3-hour
episode reads only the bytes asked for; on uvicorn's event loop the connections a browser keeps open
while it buffers audio cost no worker thread each (a threaded WSGI server such as waitress would tie
one up per connection, and a few open players could starve the pages). Jinja2 escapes every value by
default, and Starlette's test client is httpx, which the project already depends on. The pages are
server-rendered with a little plain JavaScript from ``static/``: nothing is fetched from elsewhere.

These packages come with ``pip install 'indexer[web]'`` and are imported only when a server starts.
"""

from .app import LOOPBACK_HOSTS, create_app
from .server import is_loopback, serve

__all__ = ["LOOPBACK_HOSTS", "create_app", "is_loopback", "serve"]
