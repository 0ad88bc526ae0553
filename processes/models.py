"""Where models are: the shipped change-detection ones, those users trained, and saved classifiers.

Both folders come from the configuration (``[candela] models`` and ``usermodels``, made
absolute by :func:`processes.config.load_config`); the core takes them as arguments.
"""

from pywps import configuration


def shipped_models_dir():
    return configuration.get_config_value("candela", "models")


def user_models_dir():
    return configuration.get_config_value("candela", "usermodels")


def model_directories():
    """Shipped first: an unknown model id is answered with the ids of the first folder only."""
    return [shipped_models_dir(), user_models_dir()]


def classifiers_dir():
    """FusionClassify's saved classifiers (``[candela] classifiers``)."""
    return configuration.get_config_value("candela", "classifiers")
