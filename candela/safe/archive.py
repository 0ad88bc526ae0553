"""Unpacking zip archives sent by users, without trusting anything the archive declares.

Every member is checked before anything is written (names, types, declared sizes,
compression ratios), and the bytes actually written are counted while extracting,
because a crafted archive can lie about its sizes. :func:`check_zip` makes the same checks
for an archive read in place (through GDAL's /vsizip/, say) instead of unpacked.
"""

import os
import re
import stat
import zipfile
from pathlib import Path

from ..errors import InputError
from ..sizes import MAX_RATIO, check_ratio, human_size

MAX_BYTES = 8 * 2**30
MAX_MEMBERS = 20000
CHUNK = 1 << 20

_DRIVE = re.compile(r"^[A-Za-z]:")


def is_zip(path):
    """True if ``path`` is a readable zip archive."""
    try:
        return Path(path).is_file() and zipfile.is_zipfile(path)
    except OSError:
        return False


def extract_zip(zip_path, directory, max_total_bytes=MAX_BYTES, max_members=MAX_MEMBERS, max_ratio=MAX_RATIO):
    """Extract a zip archive into ``directory`` (created if needed) and return it.

    Raises InputError, before writing anything, for an archive with too many
    members, too large a declared size, unsafe member names, links or special
    files, encrypted members, or declared sizes more than ``max_ratio`` times the
    compressed ones (a member's, or the whole archive's); and while extracting, when
    the bytes really written exceed ``max_total_bytes`` or ``max_ratio`` times the
    compressed bytes read so far.
    """
    if not is_zip(zip_path):
        raise InputError("the file is not a zip archive")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    root = os.path.realpath(directory)
    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = archive.infolist()
            _check_members(members, root, max_total_bytes, max_members, max_ratio, zip_path)
            _extract_members(archive, members, root, max_total_bytes, max_ratio, zip_path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as error:
        raise InputError(f"the zip archive is damaged or unsupported ({_reason(error)})") from None
    return directory


def check_zip(zip_path, max_total_bytes=MAX_BYTES, max_members=MAX_MEMBERS, max_ratio=MAX_RATIO):
    """The members (ZipInfo) of a zip archive read in place, checked as :func:`extract_zip`
    checks them before writing anything; the same InputErrors."""
    if not is_zip(zip_path):
        raise InputError("the file is not a zip archive")
    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as error:
        raise InputError(f"the zip archive is damaged or unsupported ({_reason(error)})") from None
    _check_members(members, None, max_total_bytes, max_members, max_ratio, zip_path)
    return members


def _check_members(members, root, max_total_bytes, max_members, max_ratio, zip_path):
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
            raise InputError(f"the zip archive holds {shown_member(name)} twice")
        seen.add(name.rstrip("/"))
        _check_type(member)
        if member.flag_bits & 0x1:
            raise InputError(f"the zip archive member {shown_member(name)} is encrypted")
        check_ratio(member.file_size, member.compress_size, max_ratio, f"the zip archive member {shown_member(name)}")
    # Many members, each below the floor or the ratio, can still add up to a bomb. Compressed
    # sizes count at most the archive's size: members can share their data (overlapping
    # entries), and declared compressed sizes can lie upwards.
    compressed = min(sum(member.compress_size for member in members), os.path.getsize(zip_path))
    check_ratio(declared, compressed, max_ratio, "the zip archive")


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
        raise InputError(f"the zip archive has an unsafe member name {shown_member(name)}")
    if root is None:  # read in place (check_zip): no folder whose links could lead outside
        return
    target = os.path.realpath(os.path.join(root, name))
    if target == root or os.path.commonpath([target, root]) != root:
        raise InputError(f"the zip archive has an unsafe member name {shown_member(name)}")


def _check_type(member):
    mode = member.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if stat.S_ISLNK(mode):
        raise InputError(f"the zip archive member {shown_member(member.filename)} is a symbolic link")
    # Archives made on Windows or by some tools leave the unix mode bits empty (kind 0).
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise InputError(f"the zip archive member {shown_member(member.filename)} is not a plain file or folder")


def _extract_members(archive, members, root, max_total_bytes, max_ratio, zip_path):
    files, folders = [], []
    written = consumed = 0
    archive_size = os.path.getsize(zip_path)
    try:
        for member in members:
            target = os.path.normpath(os.path.join(root, member.filename))
            if member.is_dir():
                _make_folders(target, folders)
                continue
            _make_folders(os.path.dirname(target), folders)
            files.append(target)
            # A member's reader consumes at most its compressed size: counting it whole as
            # soon as the member starts errs on the lenient side, never on the strict one
            # (capped at the archive's size, as in _check_members).
            consumed += member.compress_size
            compressed = min(consumed, archive_size)
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
                    check_ratio(written, compressed, max_ratio, "the zip archive")
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


def shown_member(name):
    """A member name quoted and shortened for a message (the user's own text, not a server path)."""
    text = name.encode("ascii", "backslashreplace").decode("ascii")
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _reason(error):
    text = str(error).split(":")[0].strip()
    return text[:80] or type(error).__name__
