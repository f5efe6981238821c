"""The status page's HTTP server: the page, its JSON API and ``/metrics`` on 127.0.0.1.

Spark's settings choose it: ``spark.ui.enabled`` (default true), ``spark.ui.port``
(default 4040; 0 for any free port) and ``spark.port.maxRetries`` (16), trying the next
port when one is taken, as Spark's UI does. The page and its script ship in the package
(``streaming/ui/static``): no CDN, it works offline. JSON paths follow Spark's REST API
(``/api/v1/applications/<app-id>/streaming/statistics`` and so on) with two of our own,
``.../streaming/inputs`` (backpressure rates, Kafka offset ranges and lag) and
``.../streaming/outputs`` (how each output's steps run, from ``DStream.explain``).
"""

from __future__ import annotations

import json
import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from fastdstream.conf import Conf
from fastdstream.streaming.ui.metrics import registry_for, render
from fastdstream.streaming.ui.streaming_statistics import StreamingStatistics

log = logging.getLogger(__name__)

UI_ENABLED = "spark.ui.enabled"
UI_PORT = "spark.ui.port"
PORT_MAX_RETRIES = "spark.port.maxRetries"

_STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/status.js": ("status.js", "text/javascript; charset=utf-8"),
    "/static/status.css": ("status.css", "text/css; charset=utf-8"),
}


def _static(name: str) -> bytes:
    return resources.files("fastdstream.streaming.ui").joinpath("static", name).read_bytes()


class StatusServer:
    """Serves one StreamingContext's status page until :meth:`stop`.

    Parameters
    ----------
    stats : StreamingStatistics
    port : int
        The first port to try; 0 lets the system pick a free one.
    max_retries : int
        How many ports after ``port`` to try when it is taken.
    """

    def __init__(self, stats: StreamingStatistics, port: int = 4040, max_retries: int = 16):
        self.stats = stats
        self._registry = registry_for(stats)
        self._server = self._bind(port, max_retries)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.2},
                                        name="streaming-status-page", daemon=True)
        self._thread.start()

    @classmethod
    def from_conf(cls, stats: StreamingStatistics, conf: Conf) -> StatusServer | None:
        """The server ``conf`` asks for, None when ``spark.ui.enabled`` is false or no port
        in the range is free (logged: a job runs without its page rather than not at all)."""
        if not conf.get_bool(UI_ENABLED, True):
            return None
        port = int(conf.get(UI_PORT, "4040") or 4040)
        retries = int(conf.get(PORT_MAX_RETRIES, "16") or 16)
        if not 0 <= port <= 65535 or retries < 0:
            raise ValueError(f"{UI_PORT}={port} / {PORT_MAX_RETRIES}={retries}: a port is "
                             "0-65535 and the retries at least 0")
        try:
            return cls(stats, port, retries)
        except OSError as exc:
            log.warning("No status page: %s", exc)
            return None

    def _bind(self, port: int, max_retries: int) -> ThreadingHTTPServer:
        handler = _handler_for(self)
        tried = []
        for attempt in range(max_retries + 1 if port else 1):
            candidate = port + attempt if port else 0
            if candidate > 65535:
                break
            try:
                server = ThreadingHTTPServer(("127.0.0.1", candidate), handler)
            except OSError as exc:
                tried.append(f"{candidate} ({exc.strerror})")
                continue
            server.daemon_threads = True
            return server
        raise OSError(f"could not bind the status page on 127.0.0.1, tried ports "
                      f"{', '.join(tried)} ({UI_PORT}, {PORT_MAX_RETRIES})")

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>/``."""
        return f"http://127.0.0.1:{self.port}/"

    def stop(self) -> None:
        """Stop serving and close the socket; waits for the serving thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    # --- routes ---------------------------------------------------------------------------

    def respond(self, path: str) -> tuple[int, str, bytes]:
        """(status, content type, body) for a GET of ``path``."""
        if path in _STATIC:
            name, content_type = _STATIC[path]
            return HTTPStatus.OK, content_type, _static(name)
        if path == "/metrics":
            return HTTPStatus.OK, "text/plain; version=0.0.4; charset=utf-8", render(
                self._registry)
        parts = [p for p in path.split("/") if p]
        if parts[:2] != ["api", "v1"] or len(parts) < 3 or parts[2] != "applications":
            return self._json({"error": f"no such page: {path}"}, HTTPStatus.NOT_FOUND)
        stats = self.stats
        if len(parts) == 3:
            return self._json([{"id": stats.app_id, "name": stats.app_name}])
        if parts[3] != stats.app_id:
            return self._json({"error": f"no such application: {parts[3]} (this one is "
                                        f"{stats.app_id})"}, HTTPStatus.NOT_FOUND)
        rest = parts[4:]
        if rest[:1] != ["streaming"] or len(rest) < 2:
            return self._json({"error": f"no such page: {path}"}, HTTPStatus.NOT_FOUND)
        return self._streaming(rest[1:], path)

    def _streaming(self, rest: list[str], path: str) -> tuple[int, str, bytes]:
        stats = self.stats
        what, args = rest[0], rest[1:]
        found: Any = None
        if what == "statistics" and not args:
            found = stats.statistics()
        elif what == "receivers":
            receivers = stats.receivers()
            found = receivers if not args else next(
                (r for r in receivers if args[0].isdigit() and r["streamId"] == int(args[0])),
                None)
        elif what == "batches":
            if not args:
                found = stats.batches()
            elif args[0].isdigit():
                batch = stats.batch(int(args[0]))
                if batch is not None and args[1:] == ["operations"]:
                    found = batch["outputOperations"]
                elif batch is not None and len(args) == 3 and args[1] == "operations":
                    found = next((o for o in batch["outputOperations"]
                                  if str(o["outputOpId"]) == args[2]), None)
                elif len(args) == 1:
                    found = batch
        elif what == "inputs" and not args:
            found = stats.inputs_json()
        elif what == "outputs" and not args:
            found = stats.outputs_json()
        if found is None:
            return self._json({"error": f"not found: {path}"}, HTTPStatus.NOT_FOUND)
        return self._json(found)

    @staticmethod
    def _json(value: Any, status: int = HTTPStatus.OK) -> tuple[int, str, bytes]:
        return status, "application/json", json.dumps(value).encode()


def _handler_for(server: StatusServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            try:
                status, content_type, body = server.respond(urlsplit(self.path).path)
            except Exception as exc:  # a bug here must not kill the serving thread
                log.exception("status page: GET %s", self.path)
                status, content_type = HTTPStatus.INTERNAL_SERVER_ERROR, "text/plain"
                body = f"{type(exc).__name__}: {exc}".encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("status page: " + format, *args)

    return Handler
