"""Unpacking untrusted zip archives: everything unsafe is refused before anything is written."""

import os
import stat
import struct
import warnings
import zipfile

import pytest

from candela import sizes
from candela.datasets import synthetic_s2
from candela.safe import archive, sentinel2
from candela.safe.archive import extract_zip, is_zip
from candela.errors import InputError


def make_zip(path, members, compresslevel=None):
    """Write a zip of ``members``: (name, bytes) pairs or ready ZipInfo/bytes pairs."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as out:
        for name, data in members:
            out.writestr(name, data)
    return path


def files_under(folder):
    return sorted(
        os.path.relpath(os.path.join(d, f), folder) for d, _, names in os.walk(folder) for f in names
    )


def assert_refused(zip_path, target, match, **limits):
    with pytest.raises(InputError, match=match) as caught:
        extract_zip(zip_path, target, **limits)
    assert str(target) not in str(caught.value)
    assert files_under(target) == []
    return caught.value


@pytest.mark.parametrize(
    "name",
    ["../evil", "safe/../../evil", "/tmp/evil_absolute", "C:/evil", "C:evil", "..\\evil", "safe\\..\\..\\evil"],
)
def test_unsafe_names_are_refused(tmp_path, name):
    zip_path = make_zip(tmp_path / "a.zip", [("ok.txt", b"fine"), (name, b"pwned")])
    target = tmp_path / "out" / "deep"
    assert_refused(zip_path, target, "unsafe member name")
    assert not (tmp_path / "out" / "evil").exists()
    assert not (tmp_path / "evil").exists()
    assert not os.path.exists("/tmp/evil_absolute")


def test_name_resolving_outside_through_an_existing_link_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "out"
    target.mkdir()
    (target / "link").symlink_to(outside)
    zip_path = make_zip(tmp_path / "a.zip", [("link/evil", b"pwned")])
    with pytest.raises(InputError, match="unsafe member name"):
        extract_zip(zip_path, target)
    assert list(outside.iterdir()) == []


def test_symlink_member_is_refused(tmp_path):
    link = zipfile.ZipInfo("safe/passwd")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    zip_path = make_zip(tmp_path / "a.zip", [("safe/ok.txt", b"fine"), (link, b"/etc/passwd")])
    assert_refused(zip_path, tmp_path / "out", "symbolic link")


def test_special_file_member_is_refused(tmp_path):
    fifo = zipfile.ZipInfo("safe/fifo")
    fifo.create_system = 3
    fifo.external_attr = (stat.S_IFIFO | 0o644) << 16
    zip_path = make_zip(tmp_path / "a.zip", [(fifo, b"")])
    assert_refused(zip_path, tmp_path / "out", "not a plain file")


def test_too_many_members_are_refused(tmp_path):
    zip_path = make_zip(tmp_path / "a.zip", [(f"f{i}.txt", b"x") for i in range(6)])
    assert_refused(zip_path, tmp_path / "out", "6 entries", max_members=5)
    assert files_under(extract_zip(zip_path, tmp_path / "ok", max_members=6)) == [f"f{i}.txt" for i in range(6)]


def test_declared_size_over_the_limit_is_refused(tmp_path):
    zip_path = make_zip(tmp_path / "a.zip", [("a.bin", os.urandom(700)), ("b.bin", os.urandom(700))])
    assert_refused(zip_path, tmp_path / "out", "would unpack to", max_total_bytes=1000)
    assert len(files_under(extract_zip(zip_path, tmp_path / "ok", max_total_bytes=1400))) == 2


def test_extreme_compression_ratio_is_refused(tmp_path):
    zip_path = make_zip(tmp_path / "a.zip", [("zeros.bin", bytes(16 * 2**20))], compresslevel=9)
    member = zipfile.ZipFile(zip_path).infolist()[0]
    assert member.file_size / member.compress_size > sizes.MAX_RATIO
    assert_refused(zip_path, tmp_path / "out", "zip archive member .zeros.bin. expands more than 100 times")


def test_lying_zip_bomb_is_refused_without_filling_the_disk(tmp_path):
    real_size, declared = 3 * 2**20, 100
    zip_path = make_zip(tmp_path / "a.zip", [("bomb.bin", bytes(real_size))], compresslevel=9)
    data = bytearray(zip_path.read_bytes())
    # Uncompressed size: offset 22 in the local header, 24 in the central directory entry.
    local = data.index(b"PK\x03\x04")
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, local + 22, declared)
    struct.pack_into("<I", data, central + 24, declared)
    zip_path.write_bytes(bytes(data))
    assert zipfile.ZipFile(zip_path).infolist()[0].file_size == declared

    target = tmp_path / "out"
    with pytest.raises(InputError):
        extract_zip(zip_path, target, max_total_bytes=64 * 1024)
    assert files_under(target) == []


def test_bytes_really_written_are_counted(tmp_path, monkeypatch):
    # Pretend the declared sizes passed the checks: counting alone must stop extraction.
    monkeypatch.setattr(archive, "_check_members", lambda *args: None)
    zip_path = make_zip(tmp_path / "a.zip", [(f"d/f{i}.bin", os.urandom(40_000)) for i in range(5)])
    target = tmp_path / "out"
    target.mkdir()
    (target / "kept.txt").write_text("was here before")
    with pytest.raises(InputError, match="more than"):
        extract_zip(zip_path, target, max_total_bytes=100_000)
    # What it wrote is removed; what was there before stays.
    assert files_under(target) == ["kept.txt"]
    assert not (target / "d").exists()


def test_duplicate_member_is_refused(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zip_path = make_zip(tmp_path / "a.zip", [("a.txt", b"checked"), ("a.txt", b"overwritten")])
    assert_refused(zip_path, tmp_path / "out", "twice")


def test_file_and_folder_of_the_same_name_are_refused(tmp_path):
    zip_path = make_zip(tmp_path / "a.zip", [("a", b"file"), ("a/b", b"inside")])
    with pytest.raises(InputError, match="same name"):
        extract_zip(zip_path, tmp_path / "out")
    assert files_under(tmp_path / "out") == []


def test_non_zip_is_refused(tmp_path):
    text = tmp_path / "product.zip"
    text.write_text("not a zip at all")
    assert not is_zip(text)
    assert not is_zip(tmp_path / "missing.zip")
    assert not is_zip(tmp_path)
    assert_refused(text, tmp_path / "out", "not a zip")


def test_truncated_zip_is_refused(tmp_path):
    zip_path = make_zip(tmp_path / "a.zip", [("a.bin", os.urandom(5000))])
    data = zip_path.read_bytes()
    zip_path.write_bytes(data[:2000] + data[-22:])  # keeps the end record, loses the data
    with pytest.raises(InputError):
        extract_zip(zip_path, tmp_path / "out")


def test_zipped_product_extracts_inside_the_target_only(tmp_path):
    zip_path = synthetic_s2.write_product(tmp_path / "in", zipped=True)
    assert is_zip(zip_path)
    before = files_under(tmp_path)
    target = tmp_path / "work" / "out"
    assert extract_zip(zip_path, target) == target

    after = files_under(tmp_path)
    new = [f for f in after if f not in before]
    assert new and all(f.startswith(os.path.join("work", "out") + os.sep) for f in new)
    with zipfile.ZipFile(zip_path) as source:
        expected = sorted(n for n in source.namelist() if not n.endswith("/"))
        for name in expected:
            assert (target / name).read_bytes() == source.read(name)
    assert files_under(target) == sorted(os.path.normpath(n) for n in expected)

    product = sentinel2.read_product(target)
    assert product.level == "L2A"
    assert product.band_path("B04", 10).is_file()


def test_members_each_below_the_limits_can_still_add_up_to_a_bomb(tmp_path, monkeypatch):
    # 8 members of 512 KiB of zeros: each is under the 1 MiB floor, together 4 MiB from 4 kB.
    members = [(f"S2A.SAFE/GRANULE/B{i:02d}.jp2", bytes(2**19)) for i in range(8)]
    zip_path = make_zip(tmp_path / "a.zip", members, compresslevel=9)
    assert max(m.file_size for m in zipfile.ZipFile(zip_path).infolist()) <= sizes.RATIO_FLOOR
    with monkeypatch.context() as patch:  # refused on the declared sizes, before extracting
        patch.setattr(archive, "_extract_members", lambda *args: pytest.fail("extraction started"))
        assert_refused(zip_path, tmp_path / "out", "the zip archive expands more than 100 times")
    assert len(files_under(extract_zip(zip_path, tmp_path / "ok", max_ratio=2000))) == 8


def test_the_ratio_of_bytes_really_written_is_checked(tmp_path, monkeypatch):
    # Pretend the declared sizes passed the checks: the bytes written per compressed byte
    # consumed must stop extraction.
    monkeypatch.setattr(archive, "_check_members", lambda *args: None)
    zip_path = make_zip(tmp_path / "a.zip", [(f"d/f{i}.bin", bytes(2**19)) for i in range(8)], compresslevel=9)
    target = tmp_path / "out"
    with pytest.raises(InputError, match="the zip archive expands more than 100 times"):
        extract_zip(zip_path, target)
    assert files_under(target) == []
