"""Configuration: the packaged defaults, a checkout's ``pywps.cfg``, the operator's files, ``$PYWPS_CFG``.

``defaults.cfg`` (package data, so an installed wheel has it) is read first; then, when running
from a checkout, its top-level ``pywps.cfg``; then the files given; then ``$PYWPS_CFG``.
Relative paths are made absolute against the data folder (:func:`data_folder`), so the server,
its workers and the command-line tools all see the same folders whatever their working folder.
Workers are started with the same files (:data:`LOADED`).
"""

import configparser
import logging
import os
import re
from datetime import timedelta
from pathlib import Path


class _RelativeDirsNotice(logging.Filter):
    """Drops PyWPS's warnings that outputpath or workdir is relative (it makes them absolute
    against the working folder, whenever it loads files: already on import) or missing:
    :func:`load_config` resolves them against the data folder and creates them."""

    def filter(self, record):
        message = record.getMessage()
        return not (message.startswith(("server->outputpath ", "server->workdir "))
                    and ("not absolute path" in message or "not directory" in message))


# Before PyWPS is imported: importing it loads $PYWPS_CFG.
logging.getLogger("PYWPS").addFilter(_RelativeDirsNotice())

from pywps import configuration  # noqa: E402

PACKAGE = Path(__file__).resolve().parent
DEFAULTS_CFG = PACKAGE / "defaults.cfg"
#: The checkout the code runs from (its ``pywps.cfg`` and ``setup.cfg`` beside this package), or
#: None when installed (site-packages has neither).
CHECKOUT = PACKAGE.parent if all((PACKAGE.parent / f).is_file() for f in ("pywps.cfg", "setup.cfg")) else None
AGE_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}

#: The operator's configuration files loaded last (handed to workers).
LOADED = []
#: The data folder of the loaded configuration (set by :func:`load_config`).
HOME = None


def data_folder():
    """What relative paths are relative to: ``$CANDELA_HOME``; else the checkout when running
    from one; else the per-user ``$XDG_DATA_HOME/candela-wps`` (``~/.local/share/candela-wps``).
    Never the working folder: a server, its workers and a cron job's ``cleanup`` must agree."""
    if os.environ.get("CANDELA_HOME"):
        return Path(os.environ["CANDELA_HOME"]).expanduser().resolve()
    if CHECKOUT is not None:
        return CHECKOUT
    data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data).expanduser().resolve() / "candela-wps"


def load_config(cfgfiles=None):
    """Load the packaged defaults, a checkout's ``pywps.cfg``, ``cfgfiles``, then ``$PYWPS_CFG``;
    make paths absolute against the data folder."""
    global HOME
    HOME = home = data_folder()
    LOADED[:] = [str(Path(f).resolve()) for f in cfgfiles or []]
    if os.environ.get("PYWPS_CFG"):  # workers start in the data folder: they must find the same file
        os.environ["PYWPS_CFG"] = str(Path(os.environ["PYWPS_CFG"]).resolve())
    checkout = [str(CHECKOUT / "pywps.cfg")] if CHECKOUT else []
    files = [str(DEFAULTS_CFG), *checkout, *LOADED]
    configuration.load_configuration(list(files))
    config = configuration.CONFIG
    # PyWPS has made outputpath and workdir absolute against the working folder: read them as written.
    written = configparser.ConfigParser(os.environ, interpolation=configuration.EnvInterpolation())
    written.read([*files, *([os.environ["PYWPS_CFG"]] if os.environ.get("PYWPS_CFG") else [])], encoding="utf-8")
    for section, option in (("server", "outputpath"), ("server", "workdir"), ("candela", "usermodels"),
                            ("candela", "classifiers")):
        path = home / Path(written.get(section, option)).expanduser()
        path.mkdir(parents=True, exist_ok=True)
        config.set(section, option, str(path))
    uploads = config.get("candela", "uploads", fallback="").strip()
    if uploads:
        config.set("candela", "uploads", str(home / Path(uploads).expanduser()))
    shipped = config.get("candela", "models", fallback="").strip()
    if not shipped:
        from candela.learning.models import models_dir  # the core's default: $CANDELA_MODELS, else shipped

        shipped = models_dir()
    config.set("candela", "models", str(home / Path(shipped).expanduser()))
    roots = [r.strip() for r in config.get("server", "allowedinputpaths").split(os.pathsep) if r.strip()]
    config.set("server", "allowedinputpaths", os.pathsep.join(str(home / Path(r).expanduser()) for r in roots))
    for section, option in (("logging", "database"), ("candela", "results")):
        database = config.get(section, option)
        if ":memory:" in database:
            raise SystemExit(f"[{section}] {option} must not be :memory: (workers cannot share it); "
                             "use a file or PostgreSQL")
        if database.startswith("sqlite:///") and not database.startswith("sqlite:////"):
            path = home / database[len("sqlite:///"):]
            path.parent.mkdir(parents=True, exist_ok=True)
            config.set(section, option, f"sqlite:///{path}")
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


def monitor_section():
    """The ``[monitor]`` section (a mapping with ``get``), its ``state`` path made absolute
    against the data folder (as the other paths: a monitor started from anywhere finds it)."""
    section = configuration.CONFIG["monitor"]
    state = (section.get("state", "") or "var/monitor-state.json").strip()
    configuration.CONFIG.set("monitor", "state", str((HOME or data_folder()) / Path(state).expanduser()))
    return section
