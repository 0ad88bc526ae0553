"""The QGIS profile: the same operations, declared so the QGIS WPS plugin can run each one.

The OpenGeoLabs "OWSLib-based WPS Client" plugin (see the field notes, section "QGIS plugin")
gives every ComplexData input a picker of *vector* layers, which it sends as GML text without
a mime type, and will not run while one has no layer; it turns a literal whose identifier holds
"date" or "datum", or whose title holds "date", into a date widget that always sends a date;
and its combo box of allowed values crashes on anything but strings (OWSLib has converted them
to the input's type). So here:

- a raster or archive input is only its ``<identifier>_ref`` literal, required when the input
  is, holding one reference or several separated by commas;
- a vector input is a ComplexData input taking GML;
- a literal with allowed values is a string literal with those values as text (checked
  against them by PyWPS, typed again by the job);
- a literal taking several values is one literal holding them separated by commas;
- "date"/"datum" in an identifier or title reads "day" (``event_date`` is ``event_day``), so no
  date is sent unasked;
- an identifier ending in ``_field`` (the name of a field of the samples) ends in ``_column``
  instead (``class_column``): "column" gets the plugin's field picker of the chosen layer;
- a CSV output is declared ``application/csv``, the one type the plugin saves as ``.csv`` and
  opens as a table (any other it saves as ``.zip``).
"""

import re

from pywps import ComplexOutput, Format

from pywps.inout.literaltypes import AllowedValue

from . import declaration as declared
from .job import Source
from .wps import REF_SUFFIX, WpsProcess, complex_output, literal_input, pywps_format, reference_twin, uploaded
from .wpsinputs import CheckedComplexInput

PROFILE = "qgis"
DATE_WORDS = re.compile("datum|date", re.IGNORECASE)
#: The CSV media type the plugin recognises (not the registered text/csv).
PLUGIN_CSV = "application/csv"


def split_list(text):
    """The items of one comma-separated field, stripped. A comma right after a URL's query
    (``...?bbox=1,2,3,4``) belongs to it, unless a space or a new URL follows it; paths may
    hold spaces."""
    items = []
    for piece in str(text).split(","):
        if items and "?" in items[-1] and piece[:1] not in ("", " ") and "://" not in piece:
            items[-1] += "," + piece.rstrip()
        elif piece.strip():
            items.append(piece.strip())
    return items


def without_date(text):
    """``text`` with the words that make the plugin show a date widget replaced."""
    return DATE_WORDS.sub(lambda m: "day" if m.group(0).islower() else "Day", text)


def plugin_name(identifier):
    """What the plugin shows for a declared input: no date word, and a ``_field`` as a ``_column``."""
    name = without_date(identifier)
    return name[: -len("_field")] + "_column" if name.endswith("_field") else name


class QgisProcess(WpsProcess):
    """PyWPS's Process for one operation, QGIS profile."""

    binding = PROFILE
    url_path = "qgis/wps"  # beside [server] url

    def declare_input(self, inpt):
        name = plugin_name(inpt.identifier)
        if isinstance(inpt, declared.LiteralInput):
            listed = inpt.max_occurs > 1
            text = bool(inpt.allowed) or listed
            return [literal_input(
                inpt, identifier=name, title=without_date(inpt.title), data_type="string" if text else None,
                allowed=[AllowedValue(value=str(v)) for v in inpt.allowed] if inpt.allowed else None,
                max_occurs=1,
            )]
        if isinstance(inpt, declared.VectorInput):
            return [CheckedComplexInput(name, without_date(inpt.title), abstract=inpt.abstract,
                                 supported_formats=[pywps_format(declared.GML)],
                                 min_occurs=1 if inpt.required else 0, max_occurs=1)]
        return [reference_twin(inpt, max_occurs=1, required=inpt.required)]

    def declare_output(self, output):
        if declared.CSV not in output.formats:
            return complex_output(output)
        formats = [Format(PLUGIN_CSV, extension=".csv") if f == declared.CSV else pywps_format(f)
                   for f in output.formats]
        return ComplexOutput(output.identifier, output.title, abstract=output.abstract, supported_formats=formats,
                             as_reference=output.by_reference)

    def required_inputs(self):
        return {}  # each required input is required as itself here

    def read_values(self, request):
        values = {}
        for inpt in self.operation.inputs:
            name = plugin_name(inpt.identifier)
            if isinstance(inpt, declared.LiteralInput):
                given = [item.data for item in request.inputs.get(name, ())]
                if inpt.max_occurs > 1:
                    given = [part for text in given for part in split_list(text)]
                values[inpt.identifier] = given
            elif isinstance(inpt, declared.VectorInput):
                values[inpt.identifier] = [uploaded(item, name, number)
                                           for number, item in enumerate(request.inputs.get(name, ()), start=1)]
            else:
                ref_id = inpt.identifier + REF_SUFFIX
                values[inpt.identifier] = [Source(text, ref_id, reference=text)
                                           for item in request.inputs.get(ref_id, ())
                                           for text in self.split_references(item.data)]
        return values

    def input_name(self, identifier):
        """What the plugin's user sees of the declared input ``identifier``: a file input's
        ``_ref`` field, a name without "date", a ``_column``."""
        declared_inputs = {i.identifier: i for i in self.operation.inputs}
        inpt = declared_inputs.get(identifier)
        if isinstance(inpt, declared.FileInput):
            return identifier + REF_SUFFIX
        return plugin_name(identifier)

    def split_references(self, text):
        """The references in one ``_ref`` value, separated by commas (:func:`split_list`)."""
        return split_list(text)
