"""Searching the results store, shared by SemanticSearch and the search page: a query from a
phrase or from parameters, run against the configured store."""

from candela.errors import InputError
from candela.search.literals import from_literals
from candela.search.phrase import parse

from .recording import results_store

#: The search parameters besides ``phrase`` (as SemanticSearch and /search/api name them).
PARAMETERS = ("classes", "source", "after", "before", "aoi", "min_fraction", "min_area", "levels", "order",
              "descending", "limit")


def build_query(phrase=None, **parameters):
    """The query a phrase or the parameters ask for (not both: which should win is not for us
    to guess); InputError naming the parameter at fault."""
    given = {name: value for name, value in parameters.items() if value is not None and str(value).strip()}
    unknown = sorted(set(given) - set(PARAMETERS))
    if unknown:
        raise InputError(f"unknown parameter; the parameters are phrase, {', '.join(PARAMETERS)}", unknown[0])
    known = results_store().classes()
    if phrase is not None and str(phrase).strip():
        if given:
            raise InputError(f"give a phrase or parameters, not both (also given: {', '.join(sorted(given))})",
                             "phrase")
        try:
            return parse(str(phrase), known_classes=known)
        except InputError as error:
            raise InputError(str(error), error.input or "phrase") from None
    return from_literals(**given, known_classes=known)


def search(query):
    """The stored observations ``query`` finds."""
    return results_store().search(query)
