"""The base class of our processes, and the job a process works on.

A process declares its inputs and outputs and implements ``run(job)``: it reads and checks
every input through the job before any work starts, calls the core package, and hands the
results back through the job. Every failure reaches the client as a ProcessError naming the
input and the problem; nothing else (paths, stack traces) leaves the server.
"""

import json
import logging
import os
import shutil
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

from pywps import Process
from pywps.app.exceptions import ProcessError
from pywps.exceptions import FileSizeExceeded, NoApplicableCode

from candela.errors import InputError
from candela.references.download import download
from candela.references.resolve import resolve

from . import jobfiles, limits
from .limits import max_input_mb
from .pywps_fixes import data_roots
from .wpsio import REF_SUFFIX, is_blank

LOGGER = logging.getLogger("PYWPS")

#: Characters kept in messages to clients (PyWPS strips all others).
MESSAGE_CHARS = ".:!?=,;-_/'()+%[]#"


class InputProblem(Exception):
    """A problem with one named input; its text goes to the client."""

    def __init__(self, identifier, problem):
        super().__init__(f"Input {identifier}: {problem}")
        self.identifier = identifier


class OutsideJobFolders(Exception):
    """A file to publish lies outside the job's own folders: a bug or an attack, so an
    internal error (logged with the path; the client learns nothing of it)."""


class CandelaProcess(Process):
    """A process with store and status support, a version, and clean error reporting.

    Subclasses set ``IDENTIFIER``, ``TITLE``, ``ABSTRACT``, ``VERSION``, implement
    ``inputs_()`` and ``outputs_()`` returning fresh declarations, and ``run(job)``.
    """

    IDENTIFIER = TITLE = ABSTRACT = VERSION = None

    def __init__(self):
        super().__init__(
            self._handler,
            identifier=self.IDENTIFIER,
            title=self.TITLE,
            abstract=self.ABSTRACT,
            version=self.VERSION,
            inputs=self.inputs_(),
            outputs=self.outputs_(),
            store_supported=True,
            status_supported=True,
        )

    def inputs_(self):
        raise NotImplementedError

    def outputs_(self):
        raise NotImplementedError

    def run(self, job):
        raise NotImplementedError

    def _handler(self, request, response):
        job = Job(self, request, response)
        try:
            self.run(job)
        except InputProblem as problem:
            raise ProcessError(str(problem), allowed_chars=MESSAGE_CHARS) from None
        except ProcessError:
            raise
        except Exception:
            LOGGER.exception("Job %s (%s) failed", self.uuid, self.identifier)
            raise ProcessError(
                f"Internal error in {self.identifier}; the server log has the details under job {self.uuid}",
                allowed_chars=MESSAGE_CHARS,
            ) from None
        return response


class Job:
    """One execution: typed access to its inputs, progress, and its outputs."""

    def __init__(self, process, request, response):
        self.process = process
        self.request = request
        self.response = response
        self.workdir = Path(process.workdir)
        self._percent = 0

    # Inputs

    def literals(self, identifier):
        """The non-empty values sent for a literal input (its default when none was sent)."""
        values = []
        for item in self.request.inputs.get(identifier, ()):
            if not is_blank(item.data):
                values.append(item.data.strip() if isinstance(item.data, str) else item.data)
        return values

    def literal(self, identifier):
        """The value of a single literal input, or None when not given."""
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
        """Local files for a raster/archive input and its ``_ref`` twin: ``[(name, path), ...]``.

        ``name`` is what the user sent: the reference, or ``upload N`` for embedded data.
        With ``limit``, more than ``limit`` files in all is an InputProblem, raised before
        any reference is resolved or fetched. Every URL, given as a ``_ref`` literal or as a
        complex input's href, is fetched here under the job's :attr:`fetch_policy`.
        """
        ref_id = identifier + REF_SUFFIX
        references = [reference for text in self.literals(ref_id) for reference in str(text).split()]
        if limit is not None and len(self.request.inputs.get(identifier, ())) + len(references) > limit:
            raise InputProblem(identifier, f"at most {limit} images per request")
        found = []
        for number, item in enumerate(self.request.inputs.get(identifier, ()), start=1):
            name = _reference(item) or f"upload {number}"
            with self.blame(identifier):
                path = self._input_file(item)
            found.append((name, path))
        for reference in references:
            with self.blame(ref_id):
                path = resolve(reference, self.workdir, data_roots(), self.fetch_policy)
            found.append((reference, path))
        return found

    def _input_file(self, item):
        """The local file of one complex input. A remote href is fetched here, like a ``_ref``
        literal, never by PyWPS (whose fetching pywps_fixes.open_url refuses)."""
        if item.prop == "url":
            return download(item.url, self.workdir, self.fetch_policy, data=item.post_data)
        try:
            return Path(item.file)
        except FileSizeExceeded:
            raise InputError(f"larger than the {max_input_mb():.0f} MB allowed") from None
        except NoApplicableCode as error:
            raise InputError(error.description or "the input could not be read") from None

    def file(self, identifier):
        """The one file given for ``identifier`` or its ``_ref`` twin."""
        found = self.files(identifier)
        if not found:
            raise InputProblem(identifier, f"required: give {identifier} or {identifier}{REF_SUFFIX}")
        if len(found) > 1:
            raise InputProblem(identifier, f"give only one of {identifier} and {identifier}{REF_SUFFIX}")
        return found[0]

    @contextmanager
    def blame(self, identifier):
        """Report core InputErrors raised inside the block as problems of ``identifier``
        (or of the input the error names)."""
        try:
            yield
        except InputError as error:
            raise InputProblem(error.input or identifier, str(error)) from None

    # Progress and outputs

    def progress(self, fraction, message):
        """Coarse progress: the status document is rewritten only every 5 %."""
        percent = int(5 + 90 * min(max(fraction, 0.0), 1.0))
        if percent >= self._percent + 5 or fraction >= 1.0:
            self._percent = percent
            self.response.update_status(message, percent)

    def output_file(self, identifier, path):
        """Publish a file output; rasters always by reference, whatever the client asked.

        The file must lie inside this job's folders (see :meth:`inside`).
        """
        output = self.response.outputs[identifier]
        path = self.inside(path)
        if self.request.raw:
            path = self._keep(path)
        output.file = str(path)
        if any(f.mime_type.startswith("image/tiff") for f in output.supported_formats):
            output.as_reference = True

    def output_folder(self):
        """This job's folder under the server's outputpath (where PyWPS publishes its files)."""
        return jobfiles.output_folder(self.process.uuid)

    def inside(self, path):
        """The real path of ``path`` if it lies inside this job's work or output folder, else
        OutsideJobFolders.

        Real paths (symlinks resolved) are compared with ``os.path.commonpath``, never as
        text: ``.../outputs/<job>`` is a string prefix of ``.../outputs/<job>0``.
        """
        real = os.path.realpath(path)
        for folder in (self.workdir, self.output_folder()):
            root = os.path.realpath(folder)
            if real != root and os.path.commonpath([real, root]) == root:
                return Path(real)
        raise OutsideJobFolders(f"job {self.process.uuid} tried to publish {real}, outside its folders")

    def _keep(self, path):
        """Move a file to this job's output folder: PyWPS deletes the work folder before it
        streams a raw output."""
        folder = self.output_folder()
        folder.mkdir(parents=True, exist_ok=True)
        kept = self.inside(folder / Path(path).name)
        shutil.move(str(self.inside(path)), kept)
        return kept

    def output_json(self, identifier, value):
        self.response.outputs[identifier].data = json.dumps(value, indent=2)


def _reference(item):
    """The URL or ``file://`` reference a complex input came from, if any."""
    if item.prop == "url":  # also for a queued job, whose inputs were rebuilt without ``inpt``
        return item.url
    source = getattr(item, "inpt", None) or {}
    href = source.get("href") if isinstance(source, dict) else None
    return href or None
