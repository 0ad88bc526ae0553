"""Gunicorn settings for production: ``gunicorn -c gunicorn.conf.py wsgi:application``.

Workers are gevent workers: each connection is a greenlet, so slow clients (a header sent a
byte at a time, a synchronous Execute waiting for its job) cannot hold every worker, as they
do with the default sync or thread workers. Jobs never run in these processes: each worker
process runs an executor that starts jobs in fresh worker processes (see README, "Jobs"), and
``[server] parallelprocesses`` holds for the host across all of them. Override any setting
on the command line (``--bind 0.0.0.0:8000``) or with $GUNICORN_CMD_ARGS.
"""

from gunicorn.http.errors import LimitRequestLine
from gunicorn.workers.ggevent import GeventWorker

bind = "127.0.0.1:5000"
workers = 2
worker_connections = 500
# A request line longer than this gets an OWS exception (HTTP 414) from the worker below.
limit_request_line = 8190
# Idle keep-alive connections and clients that stop sending are dropped after this many seconds.
keepalive = 5
graceful_timeout = 30
# A worker whose event loop is blocked this long is restarted; above the job store's SQLite busy
# timeout (20 s), the longest a database call may block it.
timeout = 60

EXCEPTION_414 = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<ows:ExceptionReport xmlns:ows="http://www.opengis.net/ows/1.1" version="1.0.0">'
    b'<ows:Exception exceptionCode="NoApplicableCode"><ows:ExceptionText>HTTP 414: the request URL is too '
    b"long; send the request as an XML POST instead</ows:ExceptionText></ows:Exception></ows:ExceptionReport>\n"
)


class CandelaWorker(GeventWorker):
    """Gunicorn's gevent worker, answering an over-long request line as WPS clients expect."""

    def handle_error(self, req, client, addr, exc):
        if not isinstance(exc, LimitRequestLine):
            return super().handle_error(req, client, addr, exc)
        head = (f"HTTP/1.1 414 URI Too Long\r\nContent-Type: text/xml; charset=utf-8\r\n"
                f"Content-Length: {len(EXCEPTION_414)}\r\nConnection: close\r\n\r\n").encode()
        try:
            client.sendall(head + EXCEPTION_414)
        except OSError:
            pass


worker_class = CandelaWorker
