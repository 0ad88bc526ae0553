"""Server paths under data roots, and fetching references."""

import os

import pytest

from candela.errors import InputError
from candela.references.download import FetchPolicy, safe_file_name
from candela.references.hosts import HostPolicy
from candela.references.resolve import path_under_roots, resolve
from helpers.webserver import body, serving


@pytest.fixture
def roots(tmp_path):
    data = tmp_path / "data"
    secret = tmp_path / "data_secret"
    (data / "sub").mkdir(parents=True)
    secret.mkdir()
    (data / "sub" / "a.tif").write_bytes(b"x")
    (secret / "b.tif").write_bytes(b"y")
    return data, secret


def test_paths_inside_a_root_resolve(roots):
    data, _ = roots
    assert path_under_roots(str(data / "sub" / "a.tif"), [data]) == (data / "sub" / "a.tif").resolve()
    assert path_under_roots("sub/a.tif", [data]) == (data / "sub" / "a.tif").resolve()


@pytest.mark.parametrize("path", ["{secret}/b.tif", "../data_secret/b.tif", "{data}/../data_secret/b.tif",
                                  "/etc/passwd", "{data}/sub/missing.tif"])
def test_paths_outside_or_missing_are_refused(roots, path):
    data, secret = roots
    with pytest.raises(InputError, match="data root"):
        path_under_roots(path.format(data=data, secret=secret), [data])


@pytest.mark.parametrize("path", ["sub/a\0.tif", "{data}/sub/a.tif\0"])
def test_a_nul_character_is_an_input_error_not_a_crash(roots, path):
    data, _ = roots
    with pytest.raises(InputError, match="NUL"):
        path_under_roots(path.format(data=data), [data])


def test_symlinks_are_followed_before_the_check(roots):
    data, secret = roots
    os.symlink(secret / "b.tif", data / "link.tif")
    os.symlink(secret, data / "dirlink")
    for path in (data / "link.tif", data / "dirlink" / "b.tif"):
        with pytest.raises(InputError):
            path_under_roots(str(path), [data])


def test_no_roots_means_no_server_paths(roots):
    data, _ = roots
    with pytest.raises(InputError, match="no data root"):
        path_under_roots(str(data / "sub" / "a.tif"), [])


def test_resolve_refuses_other_schemes(roots, tmp_path):
    data, _ = roots
    for reference in ("ftp://example.org/a.tif", "gopher://x/y", "file://otherhost/etc/passwd"):
        with pytest.raises(InputError):
            resolve(reference, tmp_path, [data], FetchPolicy())
    assert resolve((data / "sub" / "a.tif").as_uri(), tmp_path, [data], FetchPolicy()).name == "a.tif"


def test_download_names_are_plain():
    assert safe_file_name("http://h/x/..%2F..%2Fetc%2Fpasswd") == "passwd"
    assert safe_file_name("http://h/a%20b%3Brm.tif") == "a_b_rm.tif"
    assert safe_file_name("http://h/") == "download"


def test_downloads_of_the_same_name_do_not_overwrite_each_other(tmp_path):
    policy = FetchPolicy(hosts=HostPolicy.parse("127.0.0.0/8"))
    with serving({"/a/image.tif": body(b"first"), "/b/image.tif": body(b"second")}) as (base, _):
        first = resolve(f"{base}/a/image.tif", tmp_path, [], policy)
        second = resolve(f"{base}/b/image.tif", tmp_path, [], policy)
    assert (first.name, second.name) == ("image.tif", "image.tif")
    assert (first.read_bytes(), second.read_bytes()) == (b"first", b"second")


def test_a_failed_download_leaves_nothing_behind(tmp_path):
    with serving({"/big.tif": body(bytes(5000))}) as (base, _):
        with pytest.raises(InputError, match="larger than"):
            resolve(f"{base}/big.tif", tmp_path, [], FetchPolicy(hosts=HostPolicy.parse("127.0.0.0/8"), max_bytes=1000))
    assert list(tmp_path.iterdir()) == []
