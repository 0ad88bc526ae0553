"""The QGIS "OWSLib-based WPS Client" plugin (OpenGeoLabs), replayed as it drives a server.

What it does, from ../shared/notes/pywps-field-notes.md (section "QGIS plugin"): one widget
per input, chosen in this order: ComplexData → a map-layer picker (vector layers only, sent
as GML text without a mime type; none chosen: "There is not any layer"); "column" in the
identifier → a field picker; "date"/"datum" in the identifier or "date" in the title → a
date widget that always sends ``yyyy-MM-dd`` (today unless changed); allowed values → a
checkable combo box that accepts only strings (OWSLib has typed them: anything else raises
TypeError and the dialog never loads); else a line edit, whose text is sent unless it is the
word ``None`` (empty text is sent). Then ``execute(id, inputs, output=[])``, polled, and each
output downloaded to a file named by its mime type and opened as a layer.
"""

from datetime import date
from pathlib import Path

import requests
from owslib.wps import ComplexDataInput, WebProcessingService, monitorExecution

GEOTIFF = "image/tiff; subtype=geotiff"
VECTOR_TYPES = ("application/gml+xml", "text/xml", "application/xml", "application/geo+json",
                "application/json", "application/vnd.geo+json")


class PluginError(Exception):
    """What the plugin would show the user instead of running the process."""


class Plugin:
    def __init__(self, url):
        self.wps = WebProcessingService(url)  # the plugin lists the capabilities first

    def widgets(self, identifier):
        """``{input identifier: widget kind}`` as the plugin's dialog builds them."""
        process = self.wps.describeprocess(identifier)
        widgets = {}
        for inpt in process.dataInputs:
            name, title = inpt.identifier, inpt.title or ""
            if inpt.dataType == "ComplexData":
                types = [value.mimeType for value in inpt.supportedValues]
                if not any(t and t.split(";")[0].strip() in VECTOR_TYPES for t in types):
                    raise PluginError(f"{name}: a layer picker for {types}: only vector layers can be sent")
                widgets[name] = "layer"
            elif "column" in name:
                widgets[name] = "field"
            elif "date" in name or "datum" in name or "date" in title:
                widgets[name] = "date"
            elif inpt.allowedValues and inpt.allowedValues != ["AnyValue"]:
                if not all(isinstance(value, str) for value in inpt.allowedValues):
                    raise PluginError(f"{name}: TypeError in the combo box: {inpt.allowedValues!r}")
                widgets[name] = "combo"
            else:
                widgets[name] = "line"
        return widgets

    def run(self, identifier, texts=None, checked=None, layers=None):
        """Fill the dialog (line-edit ``texts``, ``checked`` combo items, GML ``layers``) and run.

        Line edits left alone are sent empty; date widgets send today.
        """
        texts, checked, layers = texts or {}, checked or {}, layers or {}
        inputs = []
        for name, widget in self.widgets(identifier).items():
            if widget == "layer":
                if name not in layers:
                    raise PluginError("There is not any layer")
                inputs.append((name, ComplexDataInput(layers[name])))
            elif widget == "date":
                inputs.append((name, texts.get(name, date.today().isoformat())))
            elif widget == "combo":
                inputs += [(name, value) for value in checked.get(name, ())]
            elif texts.get(name, "") != "None":
                inputs.append((name, texts.get(name, "")))
        execution = self.wps.execute(identifier, inputs, output=[])
        monitorExecution(execution, sleepSecs=1)
        return execution

    def download(self, execution, folder):
        """Each output as the plugin saves it: ``{identifier: path}``."""
        files = {}
        for output in execution.processOutputs:
            suffix = ".tif" if output.mimeType == GEOTIFF else ".csv" if output.mimeType == "application/csv" \
                else ".zip"
            path = Path(folder) / f"{output.identifier}{suffix}"
            if output.reference:
                response = requests.get(output.reference, timeout=60)
                response.raise_for_status()
                path.write_bytes(response.content)
            else:
                path.write_text("".join(str(d) for d in output.data))
            files[output.identifier] = path
        return files
