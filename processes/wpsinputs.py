"""PyWPS input classes of our processes, correcting PyWPS 4.8.1 where it reads inputs.

Subclasses, not patches: our generated processes (:mod:`processes.wps`) declare these, and
PyWPS clones a process's inputs for each request, so they keep their class.

- :class:`CheckedLiteralInput`: a value outside the allowed ones is refused naming the input,
  what was sent and what is allowed (PyWPS: "Input data not valid using mode 1", no locator).
- :class:`CheckedComplexInput`: a ``file://`` reference is admitted only when its real path
  lies inside a data root (PyWPS compares path strings, and follows links); a
  ``wps:BodyReference`` is refused (PyWPS fetches it while parsing, with no timeout and no host
  policy); and the input never fetches a remote href itself (PyWPS would, with no timeout,
  status check or host policy): the job fetches it under its policy (:class:`processes.job.Job`).
"""

import logging
import os
from urllib.parse import unquote, urlparse

from pywps import ComplexInput, LiteralInput, configuration
from pywps.exceptions import FileURLNotSupported, InvalidParameterValue, NoApplicableCode
from pywps.inout.basic import UrlHandler

from candela.errors import InputError
from candela.references.download import FETCH_FAILED
from candela.references.resolve import path_under_roots

LOGGER = logging.getLogger("PYWPS")


def data_roots():
    """The operator's data roots: ``[server] allowedinputpaths``, separated by ':'."""
    value = configuration.get_config_value("server", "allowedinputpaths") or ""
    return [p.strip() for p in value.split(os.pathsep) if p.strip()]


class CheckedLiteralInput(LiteralInput):
    def _check_valid(self):
        try:
            super()._check_valid()
        except InvalidParameterValue:
            allowed = [str(v.value) if v.value is not None else f"{v.minval} to {v.maxval}"
                       for v in self.allowed_values or () if hasattr(v, "minval")]
            hint = f"; allowed: {', '.join(allowed)}" if allowed else ""
            raise InvalidParameterValue(f"Input {self.identifier}: value {self.data!r} is not valid{hint}",
                                        locator=self.identifier) from None


class UnfetchedUrl(UrlHandler):
    """A remote href that is never fetched here: something reading its ``.file`` would be a
    bug (the job fetches references), so refuse."""

    @staticmethod
    def _openurl(href, data=None):
        LOGGER.error("PyWPS was asked to fetch a reference itself; refused (the job fetches references)")
        raise NoApplicableCode(FETCH_FAILED)


class CheckedComplexInput(ComplexInput):
    @staticmethod
    def _validate_file_input(href):
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

    def url_handler(self, inpt):
        if "bodyreference" in inpt:
            raise InvalidParameterValue("wps:BodyReference is not supported; send the body in wps:Body",
                                        inpt.get("identifier"))
        return super().url_handler(inpt)

    @property
    def url(self):
        return self._iohandler.url

    @url.setter
    def url(self, value):
        self._iohandler = UnfetchedUrl(value, self)
        self._check_valid()
