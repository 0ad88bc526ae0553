"""The active-learning sessions of FusionClassify, in the server's job database."""

from pywps import configuration

from candela.jobs.sessions import SessionStore
from candela.jobs.store import create_engine


def session_store():
    return SessionStore(create_engine(configuration.get_config_value("logging", "database")))
