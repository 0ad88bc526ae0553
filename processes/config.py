"""Configuration: the packaged ``pywps.cfg``, then the operator's files, then ``$PYWPS_CFG``.

Relative paths are made absolute (relative to the project folder), so the server, its
workers and the command-line tools all see the same folders whatever their working folder.
Workers are started with the same files (:data:`LOADED`).
"""

import os
import re
from datetime import timedelta
from pathlib import Path

from pywps import configuration

HERE = Path(__file__).resolve().parents[1]
PACKAGED_CFG = HERE / "pywps.cfg"
AGE_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}

#: The operator's configuration files loaded last (handed to workers).
LOADED = []


def load_config(cfgfiles=None):
    """Load the packaged config, ``cfgfiles``, then ``$PYWPS_CFG``; make paths absolute."""
    LOADED[:] = [str(Path(f).resolve()) for f in cfgfiles or []]
    configuration.load_configuration([str(PACKAGED_CFG), *LOADED])
    config = configuration.CONFIG
    for section, option in (("server", "outputpath"), ("server", "workdir"), ("candela", "usermodels")):
        path = HERE / config.get(section, option)
        path.mkdir(parents=True, exist_ok=True)
        config.set(section, option, str(path))
    roots = [r.strip() for r in config.get("server", "allowedinputpaths").split(os.pathsep) if r.strip()]
    config.set("server", "allowedinputpaths", os.pathsep.join(str(HERE / r) for r in roots))
    database = config.get("logging", "database")
    if database.startswith("sqlite:///") and not database.startswith("sqlite:////") and ":memory:" not in database:
        path = HERE / database[len("sqlite:///"):]
        path.parent.mkdir(parents=True, exist_ok=True)
        config.set("logging", "database", f"sqlite:///{path}")
    if ":memory:" in config.get("logging", "database"):
        raise SystemExit("[logging] database must not be :memory: (workers cannot share it); use a file or PostgreSQL")
    return config


def option(key, default=None, section="candela"):
    """A ``[candela]`` value as text (``default`` when absent or empty)."""
    value = configuration.get_config_value(section, key)
    return default if value in (None, "") else str(value).strip()


def seconds(key, default):
    """A duration option (``90s``, ``30m``, ``6h``, ``2d``, or plain seconds) in seconds."""
    text = option(key, default)
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    try:
        return parse_age(text).total_seconds()
    except ValueError:
        raise SystemExit(f"[candela] {key} = {text!r}: use a duration such as 90s, 30m, 6h or 2d") from None


def parse_age(text):
    """Parse an age such as ``90s``, ``30m``, ``12h`` or ``7d`` into a timedelta."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", str(text))
    if not match:
        raise ValueError(f"invalid age {text!r}: use a number followed by s, m, h or d, e.g. 7d")
    number, unit = float(match.group(1)), match.group(2)
    return timedelta(**{AGE_UNITS[unit]: number})
