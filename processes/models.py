"""Where the change-detection models are: the shipped ones, then those users trained."""

from pywps import configuration

from candela.learning.models import models_dir


def user_models_dir():
    return configuration.get_config_value("candela", "usermodels")


def model_directories():
    return [models_dir(), user_models_dir()]
