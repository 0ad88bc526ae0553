"""Downloading an http(s) reference under a policy (which hosts, how much, how fast) into a
file of its own.

Each hop (the URL, then each redirect, followed here rather than by a library) is resolved
once, its address checked against the :class:`~candela.references.hosts.HostPolicy`, and the connection
made to that very address; the host name still goes into the Host header, the TLS SNI and
the certificate check. So DNS cannot answer one address to the check and another to the
connection (DNS rebinding). References are fetched directly, never through a proxy.

Whatever makes a fetch fail (a refused host, DNS, a refused connection, a timeout, an HTTP
error status, too many redirects), the user is told the same thing, :data:`FETCH_FAILED`,
so that references cannot be used to map which hosts and ports exist behind the server; the
real reason goes to the server log. Limits that are reached once the data flows (sizes, the
job's budget, the expansion ratio, the deadline) are told as they are.
"""

import base64
import functools
import http.client
import logging
import os
import re
import shutil
import socket
import ssl
import tempfile
import threading
import time
import zlib
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urljoin, urlparse, urlsplit, urlunsplit

import certifi

from ..errors import InputError
from ..sizes import MAX_RATIO, check_ratio, human_size
from .hosts import HostPolicy, HostRefused

LOGGER = logging.getLogger(__name__)

FETCH_FAILED = "the reference could not be fetched (it is not allowed, not reachable, or answered with an error)"
MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)
#: Bytes asked of the socket at once, and the largest piece decoded at once.
CHUNK = 1 << 16
USER_AGENT = "candela-wps"


class Unfetchable(Exception):
    """Why a reference could not be fetched; the text is for the server log only."""


@dataclass
class FetchPolicy:
    """How the references of one job are fetched. One per job: its budget spans all of them."""

    hosts: HostPolicy = field(default_factory=HostPolicy)
    #: Bytes one reference may write (after decoding any Content-Encoding).
    max_bytes: int = 2 * 2**30
    #: Bytes all the job's references may write together.
    max_total: int = 4 * 2**30
    #: Bytes written per byte received, past sizes.RATIO_FLOOR (gzip on the wire).
    max_ratio: float = MAX_RATIO
    #: Seconds a whole download may take, redirects included.
    deadline: float = 600
    #: Seconds to connect, and to wait for each read.
    timeout: tuple = (10, 120)
    #: Bytes written so far by the job's references.
    used: int = 0

    def check_declared(self, length):
        """Refuse a body whose declared length already exceeds a limit."""
        self._check_size(length)
        self._check_budget(self.used + length)

    def count(self, piece, written, received):
        """Count ``piece`` more bytes to write, ``written`` of them (``piece`` included) for
        ``received`` received so far for this reference; refuse them, uncounted, when they
        exceed a limit. ``used`` thus counts the bytes written."""
        self._check_size(written)
        self._check_budget(self.used + piece)
        check_ratio(written, received, self.max_ratio, "the reference's content")
        self.used += piece

    def _check_size(self, size):
        if size > self.max_bytes:
            raise InputError(f"the reference is larger than the {human_size(self.max_bytes)} allowed")

    def _check_budget(self, total):
        if total > self.max_total:
            raise InputError(
                f"the references of this request add up to more than the {human_size(self.max_total)} allowed")


def download(url, directory, policy, data=None):
    """Fetch an http(s) URL under ``policy`` into a new folder in ``directory``; return the file.

    With ``data`` the first request is a POST of it. Raises InputError: FETCH_FAILED
    whenever the reference cannot be fetched, or the limit of ``policy`` it exceeds.
    Nothing is left behind when the fetch fails.
    """
    scheme = urlparse(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise InputError(f"only http and https references can be fetched, not {scheme or 'a bare name'}")
    # A folder per download: two references may well end in the same file name.
    folder = Path(tempfile.mkdtemp(prefix="download-", dir=directory))
    target = folder / safe_file_name(url)
    try:
        with open(target, "wb") as out:
            _fetch(url, out, policy, data)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return target


def safe_file_name(url, default="download"):
    """A plain file name for a download, taken from the URL's last path segment."""
    name = os.path.basename(unquote(urlparse(url).path)) or default
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".")
    return name[:200] or default


def _fetch(url, out, policy, data):
    """Write the body behind the http(s) ``url`` into the binary file ``out``; return its size."""
    deadline = _Deadline(policy.deadline)
    method = "GET" if data is None else "POST"
    try:
        for _ in range(MAX_REDIRECTS + 1):
            with _exchange(url, method, data, policy, deadline) as response:
                if response.status not in REDIRECTS:
                    if not 200 <= response.status < 300:
                        raise Unfetchable(f"HTTP {response.status}")
                    return _save(response, out, policy, deadline)
                location = response.getheader("Location")
                if not location:
                    raise Unfetchable(f"HTTP {response.status} without a Location")
            url = urljoin(url, location.strip())
            if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                method, data = "GET", None
        raise Unfetchable(f"more than {MAX_REDIRECTS} redirects")
    except InputError:
        raise
    except (Unfetchable, HostRefused, OSError, http.client.HTTPException, ValueError, zlib.error) as error:
        if deadline.expired:
            raise _too_slow(policy) from None
        LOGGER.warning("Reference %s not fetched: %s: %s", _shown(url), type(error).__name__, error)
        raise InputError(FETCH_FAILED) from None


@contextmanager
def _exchange(url, method, data, policy, deadline):
    """Send one request to the checked address of ``url``'s host; yield the response."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise Unfetchable(f"not an http(s) URL with a host: {scheme or 'no'} scheme")
    host = parts.hostname.encode("idna").decode("ascii")
    port = parts.port or (443 if scheme == "https" else 80)
    connect_timeout, read_timeout = policy.timeout
    with _connect(policy.hosts.addresses_for(host, port), port, connect_timeout) as sock, deadline.guarding(sock):
        sock.settimeout(read_timeout)
        if scheme == "https":
            # Certificate and SNI are the host name's, whatever address was connected.
            sock = _tls_context().wrap_socket(sock, server_hostname=host)
            connection = http.client.HTTPSConnection(host, port, timeout=read_timeout, context=_tls_context())
        else:
            connection = http.client.HTTPConnection(host, port, timeout=read_timeout)
        connection.sock = sock  # already connected, to the checked address
        try:
            connection.request(method, _target(parts), body=data.encode() if isinstance(data, str) else data,
                               headers=_headers(parts))
            yield connection.getresponse()
        finally:
            connection.close()


def _connect(addresses, port, timeout):
    """A socket connected to the first of the (checked) ``addresses`` that accepts."""
    for address in addresses[:-1]:
        with suppress(OSError):
            return socket.create_connection((address, port), timeout=timeout)
    return socket.create_connection((addresses[-1], port), timeout=timeout)


def _target(parts):
    """The request target: path and query, with characters HTTP does not allow percent-encoded."""
    safe = "/%:@!$&'()*+,;=-._~?"
    return quote(parts.path or "/", safe=safe) + (f"?{quote(parts.query, safe=safe)}" if parts.query else "")


def _headers(parts):
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"}
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(credentials).decode("ascii")
    return headers


def _save(response, out, policy, deadline):
    """Write the body of ``response`` into ``out``, decoded, counted and checked as it comes."""
    encoding = (response.getheader("Content-Encoding") or "identity").strip().lower()
    decoder = _Inflater() if encoding in ("gzip", "x-gzip", "deflate") else None
    if decoder is None and encoding != "identity":
        raise Unfetchable(f"unsupported Content-Encoding {encoding!r}")
    length = _declared_length(response)
    if length is not None and decoder is None:
        policy.check_declared(length)
    received = written = 0
    while chunk := response.read1(CHUNK):
        received += len(chunk)
        for piece in decoder.feed(chunk) if decoder else (chunk,):
            written += len(piece)
            policy.count(len(piece), written, received)
            out.write(piece)
    if deadline.expired:  # the socket was shut down under a blocked read, which returned short
        raise _too_slow(policy)
    if length is not None and received < length:
        raise Unfetchable(f"the body ended after {received} of its {length} bytes")
    if decoder and not decoder.finished:
        raise Unfetchable(f"the {encoding} body is truncated")
    return written


def _declared_length(response):
    """The body's Content-Length, or None when absent, malformed or chunked."""
    if (response.getheader("Transfer-Encoding") or "").strip().lower() == "chunked":
        return None
    try:
        length = int(response.getheader("Content-Length") or "")
    except ValueError:
        return None
    return length if length >= 0 else None


class _Inflater:
    """gzip or zlib decoding in pieces of at most CHUNK bytes: however much a few bytes
    expand, memory stays bounded and every piece is counted before it is written."""

    def __init__(self):
        self._stream = zlib.decompressobj(32 + zlib.MAX_WBITS)  # gzip or zlib header

    @property
    def finished(self):
        return self._stream.eof

    def feed(self, data):
        while True:
            if self._stream.eof:
                # Concatenated gzip members are one body.
                data = self._stream.unused_data + data
                if not data:
                    return
                self._stream = zlib.decompressobj(32 + zlib.MAX_WBITS)
            piece = self._stream.decompress(data, CHUNK)
            data = self._stream.unconsumed_tail
            if piece:
                yield piece
            elif not data:
                return


class _Deadline:
    """A time limit for a whole download that holds even while a read is blocked.

    A read times out only when no byte comes for the read timeout: a peer trickling a byte
    every few seconds would hold a job (and its worker) forever. At the deadline a timer
    shuts the socket down, which makes a blocked read return at once.
    """

    def __init__(self, seconds):
        self.end = time.monotonic() + seconds
        self.expired = False

    @contextmanager
    def guarding(self, sock):
        watch = sock.dup()  # still usable once TLS has wrapped (and detached) ``sock``

        def expire():
            self.expired = True
            with suppress(OSError):
                watch.shutdown(socket.SHUT_RDWR)

        timer = threading.Timer(max(self.end - time.monotonic(), 0.0), expire)
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()
            timer.join()
            watch.close()


def _too_slow(policy):
    return InputError(f"the reference was not received within the {policy.deadline:g} s allowed")


@functools.cache
def _tls_context():
    """A TLS client context verifying certificates against certifi's authorities (as requests does)."""
    return ssl.create_default_context(cafile=certifi.where())


def _shown(url):
    """``url`` for the log, without credentials."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    with suppress(ValueError):
        netloc += f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
