"""Corrections to PyWPS 4.8.1, applied once when the processes are imported.

Each fix answers a verified defect (see the field notes): schema-invalid responses, a
string-prefix check on server paths, reference fetching without timeout, status check or
host policy (PyWPS fetches nothing now: Job.files does, under the job's policy),
unknown output ids answered with HTML 500, and unrequested outputs returned. (How jobs run and
how inputs are checked is not patched: :mod:`processes.service` subclasses PyWPS's Service.)
Template fixes are text
substitutions on PyWPS's own templates; each must match exactly once, so an upgrade that
changes a template fails loudly instead of silently serving invalid XML.
"""

import logging
import os
from urllib.parse import unquote, urlparse

from jinja2 import PackageLoader, TemplateNotFound
from pywps import configuration
from pywps.app.Process import Process
from pywps.exceptions import FileURLNotSupported, InvalidParameterValue, NoApplicableCode
from pywps.inout.basic import ComplexInput, IOHandler, UrlHandler
from pywps.response.basic import WPSResponse
from pywps.response.execute import ExecuteResponse

from candela.errors import InputError
from candela.references.download import FETCH_FAILED
from candela.references.resolve import path_under_roots

LOGGER = logging.getLogger("PYWPS")

TEMPLATE_FIXES = {
    "1.0.0/capabilities/main.xml": [
        # Only WPS 1.0.0 is answered, so only 1.0.0 is advertised.
        ("<ows:ServiceTypeVersion>2.0.0</ows:ServiceTypeVersion>", ""),
    ],
    "1.0.0/execute/main.xml": [
        # ProcessAccepted has no percentCompleted attribute in the schema.
        ('<wps:ProcessAccepted percentCompleted="{{ status.percent_done }}">', "<wps:ProcessAccepted>"),
        # ProcessFailed holds an ows:ExceptionReport (with its required version).
        ("<wps:ExceptionReport>", '<ows:ExceptionReport version="1.0.0">'),
        ("</wps:ExceptionReport>", "</ows:ExceptionReport>"),
        ('exceptionCode="NoApplicableCode" locator="None"', 'exceptionCode="NoApplicableCode"'),
        # xs:boolean is lowercase.
        ('asReference="{{ output.asreference }}"', 'asReference="{{ output.asreference | string | lower }}"'),
        # A reference to a stored file is the raw file: no base64 encoding, no empty attributes.
        (
            '<wps:Reference href="{{ output.href }}" mimeType="{{ output.mimetype }}" '
            'encoding="{{ output.encoding }}" schema="{{ output.schema }}"/>',
            '<wps:Reference href="{{ output.href }}" mimeType="{{ output.mimetype }}"'
            '{% if output.encoding and output.encoding != "base64" %} encoding="{{ output.encoding }}"{% endif %}'
            '{% if output.schema %} schema="{{ output.schema }}"{% endif %}/>',
        ),
    ],
}


class FixedTemplateLoader(PackageLoader):
    """PyWPS's templates with :data:`TEMPLATE_FIXES` applied."""

    def __init__(self):
        super().__init__("pywps", "templates")

    def get_source(self, environment, template):
        source, filename, uptodate = super().get_source(environment, template)
        for old, new in TEMPLATE_FIXES.get(template, ()):
            if source.count(old) != 1:
                raise TemplateNotFound(f"{template}: PyWPS template changed, fix {old!r} no longer applies")
            source = source.replace(old, new)
        return source, filename, uptodate


_LOADER = FixedTemplateLoader()


def data_roots():
    """The operator's data roots: ``[server] allowedinputpaths``, separated by ':'."""
    value = configuration.get_config_value("server", "allowedinputpaths") or ""
    return [p.strip() for p in value.split(os.pathsep) if p.strip()]


def validate_file_reference(href):
    """Admit a ``file://`` reference only when its real path lies inside a data root."""
    parsed = urlparse(href or "")
    if parsed.scheme != "file" or not parsed.path:
        raise FileURLNotSupported("Invalid file reference")
    if not parsed.path.startswith("/") or "%" in parsed.path:
        # PyWPS opens the path as written, relative to its working folder and not unquoted:
        # only a plain absolute path is checked and opened alike.
        raise FileURLNotSupported("file references must be plain absolute paths (file:///...)")
    try:
        path_under_roots(unquote(parsed.path), data_roots())
    except InputError:
        raise FileURLNotSupported("file references are accepted only under the configured data roots") from None


def open_url(href, data=None):
    """A guard in place of PyWPS's own fetching, which has no host policy, no limits and no
    timeout: Job.files fetches every remote href itself (candela.references.download).
    Something reading a remote input's ``.file`` directly would be a bug: refuse to fetch."""
    LOGGER.error("PyWPS was asked to fetch a reference itself; refused (Job.files fetches references)")
    raise NoApplicableCode(FETCH_FAILED)


_original_url_handler = ComplexInput.url_handler


def url_handler_without_body_reference(self, inpt):
    """PyWPS fetches a wps:BodyReference while it parses the request, in the server process,
    with no timeout and no host policy: refuse it (the body can be sent in wps:Body)."""
    if "bodyreference" in inpt:
        raise InvalidParameterValue("wps:BodyReference is not supported; send the body in wps:Body",
                                    inpt.get("identifier"))
    return _original_url_handler(self, inpt)


def _check_requested_outputs(process, wps_request):
    known = {o.identifier for o in process.outputs}
    for identifier in wps_request.outputs or {}:
        if identifier not in known:
            raise InvalidParameterValue(
                f"Unknown output {identifier!r}; this process returns {', '.join(sorted(known))}", identifier
            )


def apply():
    """Apply every fix (idempotent)."""
    if getattr(WPSResponse, "_candela_fixed", False):
        return

    original_init = WPSResponse.__init__

    def response_init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.template_env.loader = _LOADER

    WPSResponse.__init__ = response_init

    ComplexInput._validate_file_input = staticmethod(validate_file_reference)
    UrlHandler._openurl = staticmethod(open_url)
    ComplexInput.url_handler = url_handler_without_body_reference

    original_setup = Process.setup_outputs_from_wps_request

    def setup_outputs(self, wps_request):
        _check_requested_outputs(self, wps_request)
        return original_setup(self, wps_request)

    Process.setup_outputs_from_wps_request = setup_outputs

    original_json = ExecuteResponse.json.fget

    def only_requested_outputs(self):
        requested = set(self.wps_request.outputs or ())
        if not requested or self.wps_request.raw:
            return original_json(self)
        every = self.outputs
        self.outputs = {k: v for k, v in every.items() if k in requested}
        try:
            return original_json(self)
        finally:
            self.outputs = every

    ExecuteResponse.json = property(only_requested_outputs)

    IOHandler._check_valid = check_valid_naming_the_input
    WPSResponse._candela_fixed = True


_original_check_valid = IOHandler._check_valid


def check_valid_naming_the_input(self):
    """PyWPS refuses a value outside a literal's allowed values as 'Input data not valid using
    mode 1', with no locator: say which input, what was sent, and what is allowed."""
    try:
        _original_check_valid(self)
    except InvalidParameterValue:
        identifier = getattr(self, "identifier", "")
        allowed = [str(v.value) if v.value is not None else f"{v.minval} to {v.maxval}"
                   for v in getattr(self, "allowed_values", ()) or () if hasattr(v, "minval")]
        hint = f"; allowed: {', '.join(allowed)}" if allowed else ""
        raise InvalidParameterValue(f"Input {identifier}: value {self.data!r} is not valid{hint}",
                                    locator=identifier) from None
