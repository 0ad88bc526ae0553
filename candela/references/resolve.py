"""Turning a user's reference (an http(s) URL or a server path) into a local file, safely.

URLs are downloaded by :mod:`candela.references.download` under the job's policy (hosts,
sizes, deadline).
Server paths are accepted only below the operator's data roots: the real path (symlinks
resolved) must lie inside a root, compared with ``os.path.commonpath``, never as a string prefix.
"""

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from ..errors import InputError
from .download import download


def path_under_roots(path, roots):
    """Return the real path of ``path`` if it lies inside one of ``roots``, else raise InputError.

    A relative ``path`` is looked up in each root in turn.
    """
    if "\0" in str(path):  # no file name holds one; os.path would raise ValueError
        raise InputError("a path cannot contain a NUL character")
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


def resolve(reference, directory, roots, policy):
    """Local path for a reference: http(s) URLs are downloaded under the FetchPolicy ``policy``,
    paths must be under ``roots``."""
    text = str(reference).strip()
    parsed = urlparse(text)
    scheme = parsed.scheme.lower()
    if scheme in ("http", "https"):
        return download(text, directory, policy)
    if scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise InputError("file references must name a local path")
        return path_under_roots(unquote(parsed.path), roots)
    if scheme and len(scheme) > 1:
        raise InputError(f"unsupported reference scheme {scheme!r}: use http, https or a server path")
    return path_under_roots(text, roots)
