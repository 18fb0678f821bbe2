"""Runs an app with uvicorn on a socket bound first, so that a taken port fails before the model loads and
`--port 0` (a free port chosen by the system) is announced with its real number."""

import contextlib
import signal
import socket
import threading


def bind_socket(host, port):
    """A TCP socket bound to `host:port` (SystemExit with one `error:` line if that is impossible)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise SystemExit(f"error: --host {host}: cannot resolve it ({e.strerror})")
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as e:
        sock.close()
        raise SystemExit(f"error: --host {host} --port {port}: cannot listen there ({e.strerror})")
    return sock


def url_of(sock):
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def make_server(app, sock, *, announce=None, on_stop=None):
    """A `uvicorn.Server` for `app` on the bound `sock`: `announce(url)` once it accepts connections, `on_stop()`
    once it has shut down. Start it with `server.run(sockets=[sock])` (in a thread too: it then leaves the
    signal handlers alone)."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets=None):
            await super().startup(sockets=sockets)
            if self.started and announce is not None:
                announce(url_of(sock))

        async def shutdown(self, sockets=None):
            await super().shutdown(sockets=sockets)
            if on_stop is not None:
                on_stop()

        @contextlib.contextmanager
        def capture_signals(self):
            # As uvicorn's, without raising the signal again after the graceful shutdown (which, inside
            # asyncio.run, prints a KeyboardInterrupt traceback): a server stopped by Ctrl+C or SIGTERM exits 0.
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    # uvicorn's own access log is off: the app writes one line per request (with its latency).
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=10)
    return Server(config)


def run(app, sock, *, announce=None, on_stop=None):
    """Serves `app` on `sock` until SIGINT / SIGTERM."""
    make_server(app, sock, announce=announce, on_stop=on_stop).run(sockets=[sock])
