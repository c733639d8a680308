"""Running the web application: bind the address, then serve with uvicorn until interrupted."""

from __future__ import annotations

import ipaddress
import socket
from typing import Callable, Optional

from ..errors import IndexerError
from ..library import Index
from .app import LOOPBACK_HOSTS, create_app


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(
    index: Index,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    on_ready: Optional[Callable[[str], None]] = None,
) -> None:
    """Serve the web page for ``index`` on ``host:port`` (port 0: any free port) until Ctrl-C.

    ``on_ready`` is called with the page's URL once the address is bound. On a loopback address only
    loopback host names are accepted in requests; on any other address, any name is.

    Raises:
      IndexerError: the address cannot be bound (in use, not this machine's, not permitted).
    """
    import uvicorn

    sock = _bind(host, port)
    bound_port = sock.getsockname()[1]
    name = f"[{host}]" if ":" in host else host
    app = create_app(index, allowed_hosts=LOOPBACK_HOSTS if is_loopback(host) else None)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", server_header=False)
    server = uvicorn.Server(config)
    if on_ready is not None:
        on_ready(f"http://{name}:{bound_port}/")
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        close = getattr(index, "close", None)
        if close is not None:
            close()


def _bind(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise IndexerError(f"cannot listen on {host}:{port}: {e.strerror}") from e
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit it. Without it a response written in two parts (headers, then
        # body) waits for the browser's delayed ACK on a kept-alive connection: ~40 ms per request.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as e:
        sock.close()
        raise IndexerError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
    sock.set_inheritable(True)
    return sock
