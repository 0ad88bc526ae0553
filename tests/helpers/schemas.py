"""Validate WPS 1.0.0 responses against the offline OGC schemas in ../shared/ogc-schemas.

Without ../shared (a user's clone) responses are still parsed and checked by the protocol tests,
but not validated; ``test_wps.py::test_responses_are_schema_validated`` skips to say so.
"""

from functools import lru_cache

from lxml import etree

from helpers.paths import SHARED, shared_path

SCHEMAS = SHARED / "ogc-schemas"

PREFIXES = ("http://schemas.opengis.net/", "http://www.w3.org/")


class OfflineResolver(etree.Resolver):
    """Map the schemas' absolute URLs onto the offline copy."""

    def resolve(self, url, pubid, context):
        for prefix in PREFIXES:
            if url.startswith(prefix):
                local = SHARED / "ogc-schemas" / url[len("http://"):]
                return self.resolve_filename(str(local), context)
        return None


@lru_cache(maxsize=None)
def _schema(name):
    parser = etree.XMLParser(no_network=True)
    parser.resolvers.add(OfflineResolver())
    path = shared_path("ogc-schemas", "schemas.opengis.net", *name.split("/"))
    return etree.XMLSchema(etree.parse(str(path), parser))


def wps_schema():
    """The WPS 1.0.0 schema (all operations), compiled once."""
    return _schema("wps/1.0.0/wpsAll.xsd")


def ows_exception_schema():
    return _schema("ows/1.1.0/owsExceptionReport.xsd")


def assert_valid(xml):
    """Parse ``xml`` (bytes or str) and assert it is valid WPS 1.0.0 or an OWS exception report."""
    if isinstance(xml, str):
        xml = xml.encode()
    doc = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))
    if not SCHEMAS.is_dir():
        return doc
    schema = ows_exception_schema() if etree.QName(doc).localname == "ExceptionReport" else wps_schema()
    if not schema.validate(doc):
        errors = "\n".join(f"line {e.line}: {e.message}" for e in schema.error_log)
        raise AssertionError(f"schema-invalid response:\n{errors}\n---\n{xml.decode()[:3000]}")
    return doc
