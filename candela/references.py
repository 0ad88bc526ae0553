"""Turning a user's reference (an http(s) URL or a server path) into a local file, safely.

Server paths are accepted only below the operator's data roots: the real path (symlinks
resolved) must lie inside a root, compared with ``os.path.commonpath``, never as a string prefix.
"""

import os
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import requests

from .archive import human_size
from .errors import InputError

#: (connect, read) timeouts in seconds for fetching references.
TIMEOUT = (10, 120)
CHUNK = 1 << 20


def path_under_roots(path, roots):
    """Return the real path of ``path`` if it lies inside one of ``roots``, else raise InputError.

    A relative ``path`` is looked up in each root in turn.
    """
    real_roots = [os.path.realpath(r) for r in roots if str(r).strip()]
    if not real_roots:
        raise InputError("server paths are not accepted here (no data root is configured)")
    candidates = [path] if os.path.isabs(path) else [os.path.join(r, path) for r in real_roots]
    for candidate in candidates:
        real = os.path.realpath(candidate)
        for root in real_roots:
            if os.path.commonpath([real, root]) == root and os.path.exists(real):
                return Path(real)
    raise InputError("the path is not a readable file or folder under a configured data root")


def safe_file_name(url, default="download"):
    """A plain file name for a download, taken from the URL's last path segment."""
    name = os.path.basename(unquote(urlparse(url).path)) or default
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".")
    return name[:200] or default


def download(url, directory, max_bytes, timeout=TIMEOUT):
    """Fetch an http(s) URL into ``directory``, refusing error pages and oversized bodies."""
    scheme = urlparse(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise InputError(f"only http and https references can be fetched, not {scheme or 'a bare name'}")
    target = Path(directory) / safe_file_name(url)
    try:
        with requests.get(url, stream=True, timeout=timeout) as response:
            if response.status_code >= 400:
                raise InputError(f"fetching the reference failed with HTTP {response.status_code}")
            declared = int(response.headers.get("Content-Length") or 0)
            if max_bytes and declared > max_bytes:
                raise InputError(f"the reference is larger than the {human_size(max_bytes)} allowed")
            size = 0
            with open(target, "wb") as out:
                for chunk in response.iter_content(CHUNK):
                    size += len(chunk)
                    if max_bytes and size > max_bytes:
                        raise InputError(f"the reference is larger than the {human_size(max_bytes)} allowed")
                    out.write(chunk)
    except requests.RequestException as error:
        target.unlink(missing_ok=True)
        raise InputError(f"the reference could not be fetched ({type(error).__name__})") from None
    except InputError:
        target.unlink(missing_ok=True)
        raise
    return target


def resolve(reference, directory, roots, max_bytes):
    """Local path for a reference: http(s) URLs are downloaded, paths must be under ``roots``."""
    text = str(reference).strip()
    parsed = urlparse(text)
    scheme = parsed.scheme.lower()
    if scheme in ("http", "https"):
        return download(text, directory, max_bytes)
    if scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise InputError("file references must name a local path")
        return path_under_roots(unquote(parsed.path), roots)
    if scheme and len(scheme) > 1:
        raise InputError(f"unsupported reference scheme {scheme!r}: use http, https or a server path")
    return path_under_roots(text, roots)

