"""Where configured paths resolve (in a fresh process: the suite's own configuration stays as it is)."""

import json
import os
import subprocess
import sys

from helpers.paths import ROOT

SHOW = ("import json, os; from processes import config; c = config.load_config(); "
        "print(json.dumps(dict(checkout=str(config.CHECKOUT), home=str(config.HOME), cfg=os.environ['PYWPS_CFG'], "
        "**{o: c.get(s, o) for s, o in [('server', 'outputpath'), ('server', 'workdir'), "
        "('server', 'allowedinputpaths'), ('candela', 'models'), ('candela', 'usermodels'), "
        "('logging', 'database')]})))")


def test_relative_paths_are_relative_to_candela_home_not_to_the_working_folder(tmp_path):
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "mine.cfg").write_text("[server]\noutputpath = out\n[candela]\nmodels = shipped\n")
    env = {k: v for k, v in os.environ.items() if k not in ("CANDELA_MODELS", "PYTHONPATH")}
    env.update(CANDELA_HOME=str(home), PYWPS_CFG="mine.cfg", PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-P", "-c", SHOW], cwd=elsewhere, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.splitlines()[-1])
    assert seen == dict(
        checkout=str(ROOT), home=str(home),
        cfg=str(elsewhere / "mine.cfg"),  # absolute for the workers, which start in the data folder
        outputpath=str(home / "out"),  # $PYWPS_CFG
        workdir=str(home / "var" / "work"),  # the checkout's pywps.cfg
        allowedinputpaths=str(home / "data" / "samples"),
        models=str(home / "shipped"), usermodels=str(home / "var" / "models"),
        database=f"sqlite:///{home / 'var' / 'jobs.sqlite'}")
    assert sorted(p.name for p in elsewhere.iterdir()) == ["mine.cfg"]
    assert "not absolute path" not in result.stderr  # PyWPS's note about the working folder, wrong here


def test_without_a_setting_the_shipped_models_are_the_checkouts(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("CANDELA_MODELS", "PYWPS_CFG", "PYTHONPATH")}
    env.update(CANDELA_HOME=str(tmp_path), PYTHONPATH=str(ROOT), PYWPS_CFG=os.devnull)
    result = subprocess.run([sys.executable, "-P", "-c", SHOW], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["models"] == str(ROOT / "models")
