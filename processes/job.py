"""The job an operation's run function works on, whatever protocol brought it.

A binding (WPS, QGIS) hands the job its inputs as :class:`Source` objects (files) and plain
values (literals) under the declaration's identifiers, then publishes what the run function
left in :attr:`Job.results`. Problems with an input are ``candela.errors.InputError`` naming
the input (:meth:`Job.blame`); the binding reports them to the client.
"""

import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from candela.errors import InputError, blaming
from candela.references.download import download
from candela.references.resolve import resolve

from . import limits
from .declaration import BOOLEAN_WORDS, FileInput, VectorInput

@dataclass(frozen=True)
class Source:
    """Where one file input comes from. ``name`` is what the user sent (the reference, or
    ``upload N``); exactly one of ``path`` (a local file: an upload, or a checked data-root
    path), ``url`` (fetched under the job's policy, POSTed ``post_data`` if any) and
    ``reference`` (text naming a URL or a data-root path) is set. ``sent_as``: the input the
    client sent it as (``images_ref``), which problems with it are blamed on."""

    name: str
    sent_as: str
    path: Path = None
    url: str = None
    post_data: bytes = None
    reference: str = None


class OutsideJobFolders(Exception):
    """A file to publish lies outside the job's own folders: a bug or an attack, so an
    internal error (logged with the path; the client learns nothing of it)."""


def is_blank(value):
    """Whether a literal's value means "not given": None, empty or blank text, or "None"."""
    return value is None or str(value).strip() in ("", "None")


def typed(declared, value):
    """A literal's value as its declared type; InputError naming the input if it is not one."""
    if isinstance(value, str):
        value = value.strip()
    try:
        if declared.type == "integer":
            return int(value)
        if declared.type == "float":
            return float(value)
        if declared.type == "boolean":
            return value if isinstance(value, bool) else BOOLEAN_WORDS[str(value).lower()]
    except (KeyError, TypeError, ValueError):
        raise InputError(f"{str(value)[:40]!r} is not {'a' if declared.type != 'integer' else 'an'} "
                         f"{declared.type}", declared.identifier) from None
    return str(value)


class Job:
    """One execution of an operation: typed inputs, progress, results, and its folders."""

    def __init__(self, operation, values, workdir, output_folder, report=None, data_roots=()):
        self.operation = operation
        self.values = values
        self.workdir = Path(workdir)
        self.output_folder = Path(output_folder)
        self.data_roots = list(data_roots)
        self.results = {}
        self.recording = None
        self._report = report
        self._percent = 0

    # Inputs

    def literals(self, identifier):
        """The values given for a literal input, typed; its default (if any) when none was."""
        declared = self.operation.input(identifier)
        values = [typed(declared, v) for v in self.values.get(identifier, ()) if not is_blank(v)]
        if not values and declared.default is not None:
            values = [typed(declared, declared.default)]
        return values

    def literal(self, identifier):
        """The value of a single literal input, its default, or None."""
        values = self.literals(identifier)
        return values[0] if values else None

    @cached_property
    def fetch_policy(self):
        """How this job fetches references; one for the whole job, whose budget it keeps."""
        return limits.fetch_policy()

    @cached_property
    def max_pixels(self):
        """Most pixels (width x height x bands) an input raster may have."""
        return limits.max_pixels()

    def files(self, identifier, limit=None):
        """Local files of a file or vector input: ``[(name, path), ...]``, fetched here.

        More than ``limit`` files in all is an InputError, raised before anything is fetched.
        """
        declared = self.operation.input(identifier)
        if not isinstance(declared, (FileInput, VectorInput)):
            raise TypeError(f"{identifier} is not a file input")
        sources = self.values.get(identifier, ())
        limit = declared.max_occurs if limit is None else limit
        if len(sources) > limit:
            raise InputError(f"at most {limit} {'files' if limit > 1 else 'file'} per request, "
                             f"{len(sources)} given", identifier)
        found = []
        for source in sources:
            with self.blame(source.sent_as):
                found.append((source.name, self._local(source)))
        return found

    def file(self, identifier):
        """``(name, path)`` of the one file given for ``identifier``."""
        found = self.files(identifier)
        if not found:
            raise InputError("required", identifier)
        return found[0]

    def _local(self, source):
        if source.path is not None:
            return Path(source.path)
        if source.url is not None:
            return download(source.url, self.workdir, self.fetch_policy, data=source.post_data)
        return resolve(source.reference, self.workdir, self.data_roots, self.fetch_policy)

    def blame(self, identifier):
        """InputErrors raised inside the block that name no input are blamed on ``identifier``."""
        return blaming(identifier)

    # Progress and results

    def progress(self, fraction, message):
        """Coarse progress: reported only every 5 %."""
        percent = int(5 + 90 * min(max(fraction, 0.0), 1.0))
        if percent >= self._percent + 5 or fraction >= 1.0:
            self._percent = percent
            if self._report is not None:
                self._report(message, percent)

    def output_file(self, identifier, path):
        """Publish a file output; it must lie inside this job's folders (:meth:`inside`)."""
        self.operation.output(identifier)
        self.results[identifier] = self.inside(path)

    def output_json(self, identifier, value):
        """Publish a JSON output, as a file named after it (``summary.json``)."""
        output = self.operation.output(identifier)
        path = self.workdir / output.file_name
        path.write_text(json.dumps(value, indent=2))
        self.results[identifier] = path

    def record(self, products=(), observations=(), period=(None, None), summary=None):
        """Ask for this run to be recorded in the results store once its outputs are published
        (:mod:`processes.recording`): ``products`` are ``(output identifier, Product)`` pairs,
        ``observations`` per-parcel damage, ``period`` ``(start, end)``."""
        from .recording import Recording

        for identifier, _ in products:
            self.operation.output(identifier)
        self.recording = Recording(dict(products), list(observations), tuple(period), summary or {})

    def inside(self, path):
        """The real path of ``path`` if it lies inside this job's work or output folder, else
        OutsideJobFolders.

        Real paths (symlinks resolved) are compared with ``os.path.commonpath``, never as
        text: ``.../outputs/<job>`` is a string prefix of ``.../outputs/<job>0``.
        """
        real = os.path.realpath(path)
        for folder in (self.workdir, self.output_folder):
            root = os.path.realpath(folder)
            if real != root and os.path.commonpath([real, root]) == root:
                return Path(real)
        raise OutsideJobFolders(f"a job tried to publish {real}, outside its folders")
