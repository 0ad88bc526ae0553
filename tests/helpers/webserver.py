"""Small HTTP servers for tests: each path answered by a function, every request recorded."""

import http.server
import threading
import time
from contextlib import contextmanager


@contextmanager
def serving(routes, host="127.0.0.1", port=0, tls=None):
    """Serve ``routes`` ({path: function(handler)}) on ``host``; yield (base url, requests seen).

    Each request seen is ``(method, path, body)``; unknown paths answer 404. ``tls``: an
    SSLContext to serve https with.
    """
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(("GET", self.path, b""))
            routes.get(self.path, not_found)(self)

        def do_POST(self):
            seen.append(("POST", self.path, self.rfile.read(int(self.headers.get("Content-Length") or 0))))
            routes.get(self.path, not_found)(self)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer((host, port), Handler)
    if tls:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs=dict(poll_interval=0.05), daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://{host}:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def not_found(handler):
    handler.send_error(404)


def body(data, length=True, **headers):
    """A route answering ``data`` (with its Content-Length unless ``length`` is False)."""
    def answer(handler):
        handler.send_response(200)
        for name, value in headers.items():
            handler.send_header(name.replace("_", "-"), value)
        if length:
            handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
    return answer


def redirect(location, status=302):
    def answer(handler):
        handler.send_response(status)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()
    return answer


def trickle(headers_too=False, interval=0.2, count=100):
    """A route sending a byte every ``interval`` seconds: of its body, or of its status line too."""
    def answer(handler):
        head = f"HTTP/1.0 200 OK\r\nContent-Length: {count}\r\n\r\n".encode()
        if not headers_too:
            handler.wfile.write(head)
            head = b""
        try:
            for byte in head + b"x" * count:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                time.sleep(interval)
        except OSError:  # the client gave up
            pass
    return answer
