"""PyWPS configuration files for test servers."""


def write_config(path, root, url="http://127.0.0.1:5000", data_roots=(), candela=None, **server):
    """A PyWPS config file for tests: everything under ``root``, served at ``url``.

    ``candela`` adds ``[candela]`` options; ``server`` overrides ``[server]`` ones.
    """
    options = {
        "url": f"{url}/wps",
        "outputurl": f"{url}/outputs/",
        "outputpath": str(root / "outputs"),
        "workdir": str(root / "work"),
        "allowedinputpaths": ":".join(str(r) for r in data_roots),
        "maxsingleinputsize": "20mb",
        "maxrequestsize": "30mb",
        **server,
    }
    candela = {"usermodels": root / "models", "classifiers": root / "classifiers",
               "results": f"sqlite:///{root / 'results.gpkg'}", **(candela or {})}
    lines = ["[server]", *(f"{k} = {v}" for k, v in options.items()),
             "[logging]", "level = INFO", f"database = sqlite:///{root / 'jobs.sqlite'}",
             "[candela]", *(f"{k} = {v}" for k, v in candela.items())]
    path.write_text("\n".join(lines) + "\n")
    return path
