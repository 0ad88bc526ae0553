"""Unpacking zip archives sent by users, without trusting anything the archive declares.

Every member is checked before anything is written (names, types, declared sizes,
compression ratios), and the bytes actually written are counted while extracting,
because a crafted archive can lie about its sizes.
"""

import os
import re
import stat
import zipfile
from pathlib import Path

from .errors import InputError

#: A member larger than this whose compression ratio is above MAX_RATIO is a zip bomb.
BOMB_MIN_BYTES = 4 * 2**20
MAX_RATIO = 1000
CHUNK = 1 << 20

_DRIVE = re.compile(r"^[A-Za-z]:")


def is_zip(path):
    """True if ``path`` is a readable zip archive."""
    try:
        return Path(path).is_file() and zipfile.is_zipfile(path)
    except OSError:
        return False


def extract_zip(zip_path, directory, max_total_bytes=8 * 2**30, max_members=20000):
    """Extract a zip archive into ``directory`` (created if needed) and return it.

    Raises InputError, before writing anything, for an archive with too many
    members, too large a declared size, unsafe member names, links or special
    files, encrypted members, or zip-bomb compression ratios; and while
    extracting, when the bytes really written exceed ``max_total_bytes``.
    """
    if not is_zip(zip_path):
        raise InputError("the file is not a zip archive")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    root = os.path.realpath(directory)
    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = archive.infolist()
            _check_members(members, root, max_total_bytes, max_members)
            _extract_members(archive, members, root, max_total_bytes)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as error:
        raise InputError(f"the zip archive is damaged or unsupported ({_reason(error)})") from None
    return directory


def _check_members(members, root, max_total_bytes, max_members):
    if len(members) > max_members:
        raise InputError(f"the zip archive has {len(members)} entries, more than the {max_members} allowed")
    declared = sum(member.file_size for member in members)
    if declared > max_total_bytes:
        raise InputError(
            f"the zip archive would unpack to {human_size(declared)}, "
            f"more than the {human_size(max_total_bytes)} allowed"
        )
    seen = set()
    for member in members:
        name = member.filename
        _check_name(name, root)
        if name.rstrip("/") in seen:
            # A second entry of the same name could overwrite a file already checked.
            raise InputError(f"the zip archive holds {_shown(name)} twice")
        seen.add(name.rstrip("/"))
        _check_type(member)
        if member.flag_bits & 0x1:
            raise InputError(f"the zip archive member {_shown(name)} is encrypted")
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > BOMB_MIN_BYTES and ratio > MAX_RATIO:
            raise InputError(f"the zip archive member {_shown(name)} is compressed {ratio:.0f}:1, a likely zip bomb")


def _check_name(name, root):
    unsafe = (
        not name
        or "\\" in name
        or "\x00" in name
        or name.startswith("/")
        or _DRIVE.match(name)
        or ".." in name.split("/")
    )
    if unsafe:
        raise InputError(f"the zip archive has an unsafe member name {_shown(name)}")
    target = os.path.realpath(os.path.join(root, name))
    if target == root or os.path.commonpath([target, root]) != root:
        raise InputError(f"the zip archive has an unsafe member name {_shown(name)}")


def _check_type(member):
    mode = member.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if stat.S_ISLNK(mode):
        raise InputError(f"the zip archive member {_shown(member.filename)} is a symbolic link")
    # Archives made on Windows or by some tools leave the unix mode bits empty (kind 0).
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise InputError(f"the zip archive member {_shown(member.filename)} is not a plain file or folder")


def _extract_members(archive, members, root, max_total_bytes):
    files, folders = [], []
    written = 0
    try:
        for member in members:
            target = os.path.normpath(os.path.join(root, member.filename))
            if member.is_dir():
                _make_folders(target, folders)
                continue
            _make_folders(os.path.dirname(target), folders)
            files.append(target)
            size = 0
            with archive.open(member) as source, open(target, "wb") as out:
                while chunk := source.read(CHUNK):
                    size += len(chunk)
                    written += len(chunk)
                    if written > max_total_bytes or size > member.file_size:
                        raise InputError(
                            f"the zip archive unpacks to more than the {human_size(max_total_bytes)} allowed"
                            " (its declared sizes are wrong)"
                        )
                    out.write(chunk)
    except BaseException:
        # Leave no half-extracted archive behind.
        for path in files:
            if os.path.isfile(path):
                os.unlink(path)
        for path in reversed(folders):
            try:
                os.rmdir(path)
            except OSError:
                pass
        raise


def _make_folders(path, created):
    """Create ``path`` and its missing parents, recording each one created (parents first)."""
    missing = []
    while not os.path.isdir(path):
        if os.path.lexists(path):
            raise InputError("the zip archive has a file and a folder of the same name")
        missing.append(path)
        path = os.path.dirname(path)
    for folder in reversed(missing):
        os.mkdir(folder)
        created.append(folder)


def _shown(name):
    """A member name shortened for a message (it is the user's own text, not a server path)."""
    text = name.encode("ascii", "backslashreplace").decode("ascii")
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _reason(error):
    text = str(error).split(":")[0].strip()
    return text[:80] or type(error).__name__


def human_size(n):
    """A byte count as text: ``"512 bytes"``, ``"1.5 MiB"`` (GiB at most)."""
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024


__all__ = ["extract_zip", "human_size", "is_zip"]
