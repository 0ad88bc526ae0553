"""WPS processes generated from operation declarations.

:class:`WpsProcess` is PyWPS's ``Process`` for one :class:`~processes.declaration.Operation`:
a file input becomes a ComplexInput plus a literal ``<identifier>_ref`` twin (a URL or a
data-root path, for clients that cannot send a reference), literals keep their types and
allowed values (``ows:AnyValue`` when unconstrained, which the schema requires), raster
outputs go by reference. Its handler reads the request into a :class:`~processes.job.Job`,
runs the operation and publishes the job's results; every failure reaches the client as a
ProcessError naming the input at fault, nothing else (paths, stack traces) leaves the server.
:mod:`processes.qgis` derives the QGIS variant from it.
"""

import logging
import shutil
import tempfile
from pathlib import Path

from pywps import ComplexOutput, Format, Process
from pywps.app.exceptions import ProcessError
from pywps.exceptions import FileSizeExceeded, InvalidParameterValue, NoApplicableCode
from pywps.inout.literaltypes import ALLOWEDVALUETYPE, AllowedValue, AnyValue

from candela.errors import InputError

from . import declaration as declared
from .jobfiles import output_folder
from .job import Job, Source
from .limits import max_input_mb
from .wpsinputs import CheckedComplexInput, CheckedLiteralInput, data_roots

LOGGER = logging.getLogger("PYWPS")

REF_SUFFIX = "_ref"
#: Characters kept in messages to clients (PyWPS strips all others).
MESSAGE_CHARS = ".:!?=,;-_/'()+%[]#"
PROFILE = "wps"


def pywps_format(media_type):
    return Format(media_type, extension=declared.EXTENSIONS.get(media_type, ""))


def allowed_values(literal):
    """PyWPS's allowed values of a declared literal: its list, its range, or any value."""
    if literal.allowed:
        return [AllowedValue(value=v) for v in literal.allowed]
    if literal.minimum is not None or literal.maximum is not None:
        return [AllowedValue(allowed_type=ALLOWEDVALUETYPE.RANGE, minval=literal.minimum, maxval=literal.maximum)]
    return AnyValue()


def literal_input(literal, identifier=None, title=None, data_type=None, allowed=None, max_occurs=None,
                  required=None):
    """PyWPS's LiteralInput for a declared literal; the keywords override what WPS derives."""
    return CheckedLiteralInput(
        identifier or literal.identifier, title or literal.title, abstract=literal.abstract,
        data_type=data_type or literal.type, default=literal.default,
        min_occurs=1 if (literal.required if required is None else required) else 0,
        max_occurs=max_occurs or literal.max_occurs,
        allowed_values=allowed if allowed is not None else allowed_values(literal),
    )


def reference_twin(file_input, max_occurs=None, required=False):
    """The literal ``<identifier>_ref``: the file given as a URL or a data-root path."""
    return CheckedLiteralInput(
        file_input.identifier + REF_SUFFIX, f"{file_input.title} (reference)",
        abstract=f"{file_input.abstract} Given by reference: an http(s) URL, or a path under one of the "
                 f"server's data roots" + ("; several separated by commas." if max_occurs == 1 and
                                           file_input.max_occurs > 1 else "."),
        data_type="string", min_occurs=1 if required else 0,
        max_occurs=max_occurs or file_input.max_occurs, allowed_values=AnyValue(),
    )


def complex_output(output):
    return ComplexOutput(output.identifier, output.title, abstract=output.abstract,
                         supported_formats=[pywps_format(f) for f in output.formats],
                         as_reference=output.by_reference)


class WpsProcess(Process):
    """PyWPS's Process for one operation (WPS profile)."""

    binding = PROFILE
    url_path = None  # [server] url itself

    def __init__(self, operation):
        self.operation = operation
        super().__init__(
            self._handler, identifier=operation.identifier, title=operation.title,
            abstract=operation.abstract, version=operation.version,  # no keywords: PyWPS puts them where the schema forbids
            inputs=[i for declared_input in operation.inputs for i in self.declare_input(declared_input)],
            outputs=[self.declare_output(o) for o in operation.outputs],
            store_supported=True, status_supported=True,
        )

    # Declarations

    def declare_input(self, inpt):
        """The PyWPS inputs standing for one declared input."""
        if isinstance(inpt, declared.LiteralInput):
            return [literal_input(inpt)]
        upload = CheckedComplexInput(inpt.identifier, inpt.title, abstract=inpt.abstract,
                              supported_formats=[pywps_format(f) for f in inpt.formats],
                              min_occurs=0, max_occurs=inpt.max_occurs)
        return [upload, reference_twin(inpt)]

    def declare_output(self, output):
        """The PyWPS output standing for one declared output."""
        return complex_output(output)

    def required_inputs(self):
        """``{identifier: (the inputs that can give it)}`` for each required file input, all of
        them declared optional to PyWPS: one of them must be given."""
        return {i.identifier: (i.identifier, i.identifier + REF_SUFFIX) for i in self.operation.inputs
                if not isinstance(i, declared.LiteralInput) and i.required}

    def setup_outputs_from_wps_request(self, wps_request):
        """An output the process does not have is InvalidParameterValue naming it (PyWPS
        answers an HTML 500)."""
        known = {o.identifier for o in self.outputs}
        for identifier in wps_request.outputs or {}:
            if identifier not in known:
                raise InvalidParameterValue(
                    f"Unknown output {identifier!r}; this process returns {', '.join(sorted(known))}", identifier)
        return super().setup_outputs_from_wps_request(wps_request)

    # Reading a request

    def read_values(self, request):
        """The request's inputs as the job's values: literals as given, files as Sources."""
        values = {}
        for inpt in self.operation.inputs:
            if isinstance(inpt, declared.LiteralInput):
                values[inpt.identifier] = [item.data for item in request.inputs.get(inpt.identifier, ())]
                continue
            sources = [uploaded(item, inpt.identifier, number)
                       for number, item in enumerate(request.inputs.get(inpt.identifier, ()), start=1)]
            ref_id = inpt.identifier + REF_SUFFIX
            sources += [Source(text, ref_id, reference=text) for item in request.inputs.get(ref_id, ())
                        for text in self.split_references(item.data)]
            values[inpt.identifier] = sources
        return values

    def input_name(self, identifier):
        """What this binding calls the declared input ``identifier`` (the same, in WPS)."""
        return identifier

    def split_references(self, text):
        """The references in one ``_ref`` value (whitespace-separated)."""
        return str(text).split()

    # Running

    def _handler(self, request, response):
        # The job works in a folder of its own: PyWPS links file:// inputs into its work folder
        # under their own names, and a file written there by name (change_map.tif, pairs.json)
        # would be written through such a link into the data root.
        workdir = tempfile.mkdtemp(prefix="job-", dir=self.workdir)
        job = Job(self.operation, {}, workdir, output_folder(self.uuid), report=response.update_status,
                  data_roots=data_roots())
        try:
            job.values = self.read_values(request)
            self.operation.run(job)
            self.publish(job, request, response)
            self.finished_job = job  # what the worker records once the outputs are stored
        except InputError as error:
            text = f"Input {self.input_name(error.input)}: {error}" if error.input else str(error)
            raise ProcessError(text, allowed_chars=MESSAGE_CHARS) from None
        except ProcessError:
            raise
        except Exception:
            LOGGER.exception("Job %s (%s) failed", self.uuid, self.identifier)
            raise ProcessError(
                f"Internal error in {self.identifier}; the server log has the details under job {self.uuid}",
                allowed_chars=MESSAGE_CHARS,
            ) from None
        return response

    def publish(self, job, request, response):
        """Hand the job's results to the response, by reference or embedded as the client asked
        (an output the client did not list goes as declared: rasters by reference)."""
        for identifier, path in job.results.items():
            output = response.outputs[identifier]
            if request.raw:
                path = keep(job, path)  # PyWPS deletes the work folder before it streams a raw output
            output.file = str(path)


def uploaded(item, identifier, number):
    """The Source of one complex input: a remote href (fetched later by the job, never by
    PyWPS, whose fetching wpsinputs.UnfetchedUrl refuses), or the file PyWPS wrote, named as
    the client sent it."""
    if item.prop == "url":  # also for a queued job, whose inputs were rebuilt without ``inpt``
        return Source(item.url, identifier, url=item.url, post_data=item.post_data)
    try:
        path = Path(item.file)
    except FileSizeExceeded:
        raise InputError(f"larger than the {max_input_mb():.0f} MB allowed", identifier) from None
    except NoApplicableCode as error:
        raise InputError(error.description or "the input could not be read", identifier) from None
    given = getattr(item, "inpt", None) or {}
    name = (given.get("sent") or given.get("href")) if isinstance(given, dict) else None
    return Source(name or f"upload {number}", identifier, path=path)


def keep(job, path):
    """Move a file into the job's output folder."""
    folder = job.output_folder
    folder.mkdir(parents=True, exist_ok=True)
    kept = job.inside(folder / Path(path).name)
    shutil.move(str(job.inside(path)), kept)
    return kept
