"""What still corrects PyWPS 4.8.1 from outside it: its templates, and the request class its
Service builds.

Everything else is corrected by subclasses of PyWPS's own classes: the service
(:mod:`processes.service`), the request (:mod:`processes.wpsrequest`), the responses
(``JobResponse``, ``ServiceCapabilities``), processes (:mod:`processes.wps`) and inputs
(:mod:`processes.wpsinputs`). Two things have no such hook:

- the templates of the capabilities and Execute responses, schema-invalid as PyWPS writes them
  (see the field notes): :data:`TEMPLATES` loads them with text substitutions, each of which
  must match exactly once, so an upgrade that changes a template fails loudly instead of
  silently serving invalid XML; our response classes use it;
- PyWPS's ``Service.call`` builds its request by the module-level name ``WPSRequest``:
  :func:`apply` rebinds that name to :class:`processes.wpsrequest.CandelaRequest`.

Written for PyWPS :data:`WRITTEN_FOR`: :func:`apply` refuses any other version.
"""

import sys

import pywps
from jinja2 import Environment, PackageLoader
from pywps.app.WPSRequest import WPSRequest

#: The PyWPS version these fixes were written for and tested against.
WRITTEN_FOR = "4.8.1"

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
        # Lineage (inputs as sent, see processes.wpsresponse): attributes only when given.
        (
            '<wps:ComplexData mimeType="{{ input.mimetype }}" encoding="{{ input.encoding }}" '
            'schema="{{ input.schema }}">{{ input.data | safe }}</wps:ComplexData>',
            '<wps:ComplexData{% if input.mimetype %} mimeType="{{ input.mimetype }}"{% endif %}'
            '{% if input.encoding %} encoding="{{ input.encoding }}"{% endif %}'
            '{% if input.schema %} schema="{{ input.schema }}"{% endif %}>{{ input.data | safe }}</wps:ComplexData>',
        ),
        (
            '<wps:Reference xlink:href="{{ input.href }}" method="{{ input.method }}" mimeType="{{ input.mimetype }}" '
            'encoding="{{ input.encoding }}" schema="{{ input.schema }}"/>',
            '<wps:Reference xlink:href="{{ input.href }}" method="{{ input.method }}"'
            '{% if input.mimetype %} mimeType="{{ input.mimetype }}"{% endif %}'
            '{% if input.encoding %} encoding="{{ input.encoding }}"{% endif %}'
            '{% if input.schema %} schema="{{ input.schema }}"{% endif %}/>',
        ),
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


class TemplateFixFailed(RuntimeError):
    """A template fix no longer matches PyWPS's template exactly once."""


class FixedTemplateLoader(PackageLoader):
    """PyWPS's templates with :data:`TEMPLATE_FIXES` applied."""

    def __init__(self):
        super().__init__("pywps", "templates")

    def get_source(self, environment, template):
        source, filename, uptodate = super().get_source(environment, template)
        for old, new in TEMPLATE_FIXES.get(template, ()):
            if source.count(old) != 1:
                raise TemplateFixFailed(f"{template}: PyWPS template changed, fix {old!r} no longer applies")
            source = source.replace(old, new)
        return source, filename, uptodate


#: PyWPS's templates, corrected; set as the loader of our responses' template environments.
TEMPLATES = FixedTemplateLoader()


def apply():
    """Check the PyWPS version and that every template fix applies (so a server whose PyWPS
    changed does not start, rather than fail at its first response), and have PyWPS's Service
    build our request class (idempotent)."""
    if pywps.__version__ != WRITTEN_FOR:
        raise RuntimeError(f"processes.pywps_fixes was written for PyWPS {WRITTEN_FOR}, not {pywps.__version__}: "
                           "check each fix against the new version (tests/test_wps_conformance.py) and update it")
    environment = Environment(loader=TEMPLATES)
    for template in TEMPLATE_FIXES:
        TEMPLATES.get_source(environment, template)

    # PyWPS's Service.call builds its request as WPSRequest(http_request, preprocessors), by
    # that module name: make it build ours.
    from .wpsrequest import CandelaRequest

    service_module = sys.modules["pywps.app.Service"]
    if service_module.WPSRequest not in (WPSRequest, CandelaRequest):
        raise RuntimeError("PyWPS's Service no longer builds pywps.app.WPSRequest.WPSRequest")
    service_module.WPSRequest = CandelaRequest
