"""The active-learning sessions of FusionClassify, in the server's job database."""

from functools import lru_cache

from pywps import configuration

from candela.jobs.sessions import SessionStore
from candela.jobs.store import create_engine


def session_store():
    """The sessions of the configured job database (one engine per database, per process)."""
    return _store(configuration.get_config_value("logging", "database"))


@lru_cache(maxsize=None)
def _store(url):
    return SessionStore(create_engine(url))
