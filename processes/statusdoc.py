"""WPS status documents: written whole, and always able to reach a final state.

A client polling while a document is rewritten must read the old or the new one, never half:
the new one is written beside it and renamed over it. On a full disk that new file cannot be
written; the final document is then written over the old one in place, into the blocks the
old one already holds (status documents differ little in size), so a job that failed for
lack of space still says so.
"""

import errno
import os
import time
from pathlib import Path

from xml.sax.saxutils import escape

from lxml import etree
from pywps import configuration

from candela.safe.xml import xml_parser

from .wpsresponse import service_instance

WPS_NS = "http://www.opengis.net/wps/1.0.0"
OWS_NS = "http://www.opengis.net/ows/1.1"


def write_status_document(path, text):
    """Replace the document at ``path`` with ``text``, atomically when the disk allows."""
    path = Path(path)
    data = text.encode("utf-8") if isinstance(text, str) else text
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.partial-{os.getpid()}")
    try:
        with open(partial, "wb") as file:
            file.write(data)
        os.replace(partial, path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        if error.errno not in (errno.ENOSPC, errno.EDQUOT) or not path.exists():
            raise
        with open(path, "r+b") as file:  # full disk: reuse the old document's blocks
            file.write(data)
            file.truncate()


def mark_failed(path, message):
    """Rewrite a status document's wps:Status as ProcessFailed with ``message``."""
    path = Path(path)
    if not path.is_file():
        return
    try:
        tree = etree.parse(str(path), xml_parser())
    except etree.XMLSyntaxError:  # e.g. cut short by a full disk: start again from nothing
        tree = etree.ElementTree(etree.fromstring(bare_document(path.stem)))
    status = tree.find(f"{{{WPS_NS}}}Status")
    if status is None:
        return
    for child in list(status):
        status.remove(child)
    status.set("creationTime", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    failed = etree.SubElement(status, f"{{{WPS_NS}}}ProcessFailed")
    report = etree.SubElement(failed, f"{{{OWS_NS}}}ExceptionReport", version="1.0.0")
    exception = etree.SubElement(report, f"{{{OWS_NS}}}Exception", exceptionCode="NoApplicableCode")
    etree.SubElement(exception, f"{{{OWS_NS}}}ExceptionText").text = message
    for output in tree.findall(f"{{{WPS_NS}}}ProcessOutputs"):
        tree.getroot().remove(output)  # a failed job has no outputs
    write_status_document(path, etree.tostring(tree, xml_declaration=True, encoding="UTF-8"))


def bare_document(job_id):
    """The smallest valid status document of a job whose own document is unreadable."""
    outputs = configuration.get_config_value("server", "outputurl")
    return (
        f'<wps:ExecuteResponse xmlns:wps="{WPS_NS}" xmlns:ows="{OWS_NS}" service="WPS" version="1.0.0" '
        f'xml:lang="en-US" serviceInstance="{escape(service_instance())}" '
        f'statusLocation="{escape(outputs.rstrip("/"))}/{escape(job_id)}.xml">'
        '<wps:Process wps:processVersion="unknown"><ows:Identifier>unknown</ows:Identifier>'
        '<ows:Title>unknown</ows:Title></wps:Process><wps:Status creationTime="1970-01-01T00:00:00Z">'
        '<wps:ProcessAccepted>unknown</wps:ProcessAccepted></wps:Status></wps:ExecuteResponse>'
    )
