"""Validate OGC API - Processes 1.0 responses against the standard's JSON schemas in
../shared/ogc-schemas/ogcapi-processes-1.0 (YAML, referencing each other by relative path).

Without ../shared (a user's clone) responses are still checked by the protocol tests, but not
validated; ``test_ogcapi.py::test_responses_are_schema_validated`` skips to say so.
"""

from functools import lru_cache

import yaml
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from helpers.paths import SHARED, shared_path

SCHEMAS = SHARED / "ogc-schemas" / "ogcapi-processes-1.0" / "schemas"


@lru_cache(maxsize=None)
def _registry():
    folder = shared_path("ogc-schemas", "ogcapi-processes-1.0", "schemas")
    resources = [(path.as_uri(), Resource.from_contents(yaml.safe_load(path.read_text()),
                                                        default_specification=DRAFT7))
                 for path in folder.glob("*.yaml")]
    return Registry().with_resources(resources)


def assert_valid(document, schema):
    """Assert ``document`` (parsed JSON) is valid against ``schema`` (``statusInfo``,
    ``results``, ...); returns it. Without the schemas, only returns it."""
    if not SCHEMAS.is_dir():
        return document
    validator = Draft7Validator({"$ref": (SCHEMAS / f"{schema}.yaml").as_uri()}, registry=_registry())
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in validator.iter_errors(document)]
    assert not errors, f"invalid {schema}:\n" + "\n".join(errors)
    return document
