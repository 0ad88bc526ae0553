"""Fetching references: which hosts, every redirect hop, one answer for every failure, and limits."""

import gzip
import logging
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time

import pytest

from candela.errors import InputError
from candela.references import download as download_module
from candela.references.download import FETCH_FAILED, FetchPolicy, download
from candela.references.hosts import HostPolicy
from helpers.webserver import body, redirect, serving, trickle

LOCAL = HostPolicy.parse("127.0.0.0/8")


def fetched(url, policy, data=None):
    with tempfile.TemporaryDirectory() as folder:
        return download(url, folder, policy, data).read_bytes()


def refusal(url, policy, data=None):
    """The InputError of fetching ``url``, and how many bytes were written meanwhile (counted
    by the policy; the download itself leaves nothing behind)."""
    used = policy.used
    with tempfile.TemporaryDirectory() as folder:
        with pytest.raises(InputError) as caught:
            download(url, folder, policy, data)
        assert os.listdir(folder) == []
    return str(caught.value), policy.used - used


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.1.2.3", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
    "0.0.0.0", "224.0.0.1", "240.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "fc00::1", "fd12::1",
    "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "2002:7f00:1::1", "64:ff9b::a00:1",
])
def test_only_public_addresses_by_default(address):
    assert HostPolicy().why_refused(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "151.101.1.1", "2001:4860:4860::8888", "::ffff:8.8.8.8"])
def test_public_addresses_are_admitted(address):
    assert HostPolicy().why_refused(address) is None


def test_allowedhosts_admits_networks_and_names():
    policy = HostPolicy.parse("127.0.0.0/8, 10.1.0.0/16 archive.internal,fd00::/8")
    for address in ("127.0.0.5", "::ffff:127.0.0.1", "10.1.2.3", "fd00::7"):
        assert policy.why_refused(address) is None
    for address in ("10.2.0.1", "192.168.0.1", "fe80::1"):
        assert policy.why_refused(address)
    assert policy.names == {"archive.internal"}
    with pytest.raises(ValueError, match="neither"):
        HostPolicy.parse("10.0.0.0/8, not a host!")


def test_loopback_is_refused_by_default_and_fetched_once_allowed():
    with serving({"/a.tif": body(b"image")}) as (base, seen):
        assert refusal(f"{base}/a.tif", FetchPolicy()) == (FETCH_FAILED, 0)
        assert seen == []
        assert fetched(f"{base}/a.tif", FetchPolicy(hosts=LOCAL)) == b"image"


def test_a_host_name_entry_admits_the_name_whatever_it_resolves_to():
    with serving({"/a.tif": body(b"image")}) as (base, _):
        url = base.replace("127.0.0.1", "localhost") + "/a.tif"
        assert refusal(url, FetchPolicy())[0] == FETCH_FAILED
        assert fetched(url, FetchPolicy(hosts=HostPolicy(names=["LOCALHOST."]))) == b"image"


def test_every_redirect_hop_is_checked():
    # Only 127.0.0.2 is allowed: a redirect from it to 127.0.0.1 must not be followed.
    policy = FetchPolicy(hosts=HostPolicy.parse("127.0.0.2/32"))
    with serving({"/secret": body(b"secret")}) as (inside, inside_seen), \
            serving({"/go": redirect(f"{inside}/secret"), "/ok": redirect("/data", 307), "/data": body(b"data"),
                     "/loop": redirect("/loop"), "/ftp": redirect("ftp://127.0.0.2/x")}, host="127.0.0.2") as (
            outside, outside_seen):
        assert refusal(f"{outside}/go", policy) == (FETCH_FAILED, 0)
        assert inside_seen == []
        assert fetched(f"{outside}/ok", policy) == b"data"
        assert refusal(f"{outside}/loop", policy)[0] == FETCH_FAILED
        assert [path for _, path, _ in outside_seen].count("/loop") == 6  # the URL and 5 redirects
        assert refusal(f"{outside}/ftp", policy)[0] == FETCH_FAILED


def test_the_connection_goes_to_the_address_checked(monkeypatch):
    # DNS rebinding: the name resolves to an allowed address for the check, then to a refused
    # one. Connecting to the name (resolving it again) would reach the refused address.
    with serving({"/a": body(b"allowed")}, host="127.0.0.2") as (base, _), \
            serving({"/a": body(b"secret")}, port=int(base.rsplit(":", 1)[1])):
        answers = iter(["127.0.0.2"])
        original = socket.getaddrinfo

        def rebinding(host, port, *args, **kwargs):
            if host == "rebinding.test":
                host = next(answers, "127.0.0.1")
            return original(host, port, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", rebinding)
        url = base.replace("127.0.0.2", "rebinding.test") + "/a"
        assert fetched(url, FetchPolicy(hosts=HostPolicy.parse("127.0.0.2/32"))) == b"allowed"


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_every_failure_is_told_alike_and_logged_as_it_is(caplog):
    truncated = body(b"short", Content_Length="1000", length=False)
    with serving({"/a.tif": body(b"image"), "/truncated": truncated}) as (base, _):
        cases = [
            (f"{base}/a.tif", FetchPolicy(), "loopback"),
            (f"http://127.0.0.1:{closed_port()}/a.tif", FetchPolicy(hosts=LOCAL), "ConnectionRefused"),
            (f"{base}/missing.tif", FetchPolicy(hosts=LOCAL), "HTTP 404"),
            ("http://nowhere.invalid/a.tif", FetchPolicy(), "cannot be resolved"),
            (f"{base}/truncated", FetchPolicy(hosts=LOCAL), "ended after 5 of its 1000 bytes"),
        ]
        for url, policy, reason in cases:
            caplog.clear()
            with caplog.at_level(logging.INFO, logger="candela.references.download"):
                assert refusal(url, policy)[0] == FETCH_FAILED
            assert reason in caplog.text


def test_compression_on_the_wire_is_limited():
    bomb = gzip.compress(bytes(8 * 2**20))
    noise = os.urandom(2 * 2**20)
    routes = {"/bomb": body(bomb, Content_Encoding="gzip"), "/noise": body(gzip.compress(noise), Content_Encoding="gzip"),
              "/twice": body(gzip.compress(b"one ") + gzip.compress(b"two"), Content_Encoding="gzip")}
    with serving(routes) as (base, _):
        message, written = refusal(f"{base}/bomb", FetchPolicy(hosts=LOCAL))
        assert "expands more than 100 times" in message
        assert written <= 2**20 + 2**16  # refused just past the floor, not after 8 MiB
        assert fetched(f"{base}/noise", FetchPolicy(hosts=LOCAL)) == noise
        assert fetched(f"{base}/twice", FetchPolicy(hosts=LOCAL)) == b"one two"
        assert fetched(f"{base}/bomb", FetchPolicy(hosts=LOCAL, max_ratio=2000)) == bytes(8 * 2**20)


def test_one_reference_is_limited_whether_its_size_is_declared_or_not():
    data = os.urandom(3000)
    routes = {"/declared": trickle(count=3000), "/streamed": body(data, length=False)}
    with serving(routes) as (base, _):
        for path in ("/declared", "/streamed"):  # a declared size is refused without waiting for the body
            message, written = refusal(f"{base}{path}", FetchPolicy(hosts=LOCAL, max_bytes=2000, deadline=2))
            assert message == "the reference is larger than the 2.0 KiB allowed"
            assert written <= 2000
        assert fetched(f"{base}/streamed", FetchPolicy(hosts=LOCAL, max_bytes=3000)) == data


def test_the_budget_spans_all_references_of_a_job():
    routes = {"/a": body(bytes(1200)), "/b": body(bytes(1200), length=False), "/slow": trickle(count=1200)}
    with serving(routes) as (base, _):
        policy = FetchPolicy(hosts=LOCAL, max_total=3000, deadline=2)
        fetched(f"{base}/a", policy)
        fetched(f"{base}/b", policy)
        for path in ("/slow", "/b"):  # refused on its declared size without waiting, or while it streams
            message, written = refusal(f"{base}{path}", policy)
            assert message == "the references of this request add up to more than the 2.9 KiB allowed"
            assert written < 1200
        assert fetched(f"{base}/a", FetchPolicy(hosts=LOCAL, max_total=3000)) == bytes(1200)


@pytest.mark.parametrize("headers_too", [False, True])
def test_a_trickling_reference_meets_the_deadline(headers_too):
    with serving({"/slow": trickle(headers_too)}) as (base, _):
        started = time.monotonic()
        message, _ = refusal(f"{base}/slow", FetchPolicy(hosts=LOCAL, deadline=1))
        assert message == "the reference was not received within the 1 s allowed"
        assert time.monotonic() - started < 3


def test_post_references_and_see_other():
    with serving({"/wfs": body(b"features"), "/job": redirect("/result", 303), "/result": body(b"result")}) as (
            base, seen):
        assert fetched(f"{base}/wfs", FetchPolicy(hosts=LOCAL), data="<GetFeature/>") == b"features"
        assert fetched(f"{base}/job", FetchPolicy(hosts=LOCAL), data="<Run/>") == b"result"
        assert seen == [("POST", "/wfs", b"<GetFeature/>"), ("POST", "/job", b"<Run/>"), ("GET", "/result", b"")]


@pytest.fixture
def certificate(tmp_path):
    """A self-signed certificate for the name ``localhost`` only: (cert file, key file)."""
    openssl = shutil.which("openssl")
    if not openssl:
        pytest.skip("needs the openssl command")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def test_tls_checks_the_host_name_on_the_address_connected(certificate, monkeypatch):
    cert, key = certificate
    server_names = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: server_names.append(name)
    monkeypatch.setattr(download_module, "_tls_context", lambda: ssl.create_default_context(cafile=str(cert)))
    with serving({"/a": body(b"over tls")}, tls=context) as (base, _):
        port = base.rsplit(":", 1)[1]
        policy = FetchPolicy(hosts=HostPolicy(names=["localhost"], networks=["127.0.0.0/8"]))
        assert fetched(f"https://localhost:{port}/a", policy) == b"over tls"
        assert server_names == ["localhost"]
        # The certificate names localhost, not the address: refused.
        assert refusal(f"https://127.0.0.1:{port}/a", policy)[0] == FETCH_FAILED
