"""A submission's files are data the grader reads, never paths it follows.

Everything that copies or reads a student's files with the grader's own privileges (the judge's
copy of the lab package, autograde's import of a submission, the modules it borrows from a
student's other labs) goes through here. Every path component is opened relative to its parent
with ``O_NOFOLLOW``, so a symlink anywhere (``x.py -> ../../solutions/...``, a folder pointing at
the hidden tests) is refused, never followed; only regular files with one name are read (a FIFO,
``/dev/zero`` or a hard link to another file is refused, and ``O_NONBLOCK`` means opening a FIFO
never hangs); bytes and files are counted while copying. A refusal raises ``UnsafeSubmission`` naming the file, and a
copy that fails removes what it had written.
"""
from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path

MAX_BYTES = 64 << 20          # a whole submission
MAX_FILES = 4000
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class UnsafeSubmission(Exception):
    """A file the grader will not read: a link, a device, a FIFO, or too much data. The message
    names the file and says why."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return "not a regular file"


def _refuse(rel: str, mode: int) -> UnsafeSubmission:
    return UnsafeSubmission(f"{rel} is {_kind(mode)}; submissions may hold only regular files and folders "
                            "(replace it with a copy of the file)")


def _one_name(st: os.stat_result, shown: str) -> None:
    """A hard link is a regular file with another name somewhere (perhaps the reference's):
    a submission's files have one name each."""
    if st.st_nlink > 1:
        raise UnsafeSubmission(f"{shown} is a hard link ({st.st_nlink} names); submit a copy of the file")


def _open_dir(path: Path) -> int:
    """Open ``path`` as a folder; every component after the first existing ancestor that the
    caller trusts is opened without following links."""
    try:
        return os.open(path, _DIR_FLAGS)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UnsafeSubmission(f"{path} is not a plain folder (a symbolic link?)") from None
        raise


def _open_under(dir_fd: int, parts: list[str], shown: str) -> int:
    """Walk ``parts`` below ``dir_fd`` without following any link; returns an fd of the last one."""
    fd = os.dup(dir_fd)
    try:
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            st = os.stat(part, dir_fd=fd, follow_symlinks=False)
            if not (stat.S_ISREG(st.st_mode) if last else stat.S_ISDIR(st.st_mode)):
                raise _refuse(shown if last else "/".join(parts[:i + 1]), st.st_mode)
            nxt = os.open(part, _FILE_FLAGS if last else _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nxt
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):         # swapped between the stat and the open
            raise _refuse(shown, st.st_mode)
        _one_name(st, shown)
        return fd
    except BaseException:
        os.close(fd)
        raise


def read_bytes(root: Path, rel: str | Path, limit: int = MAX_BYTES) -> bytes:
    """The bytes of ``root/rel``, refusing a link or special file at any level below ``root``."""
    parts = list(Path(rel).parts)
    root_fd = _open_dir(root)
    try:
        fd = _open_under(root_fd, parts, str(rel))
    finally:
        os.close(root_fd)
    try:
        return _read(fd, limit, str(rel))
    finally:
        os.close(fd)


def is_regular(root: Path, rel: str | Path) -> bool:
    """True when ``root/rel`` is a regular file reached without links."""
    try:
        root_fd = _open_dir(root)
    except (UnsafeSubmission, OSError):
        return False
    try:
        os.close(_open_under(root_fd, list(Path(rel).parts), str(rel)))
        return True
    except (UnsafeSubmission, OSError):
        return False
    finally:
        os.close(root_fd)


def _read(fd: int, limit: int, shown: str) -> bytes:
    chunks, total = [], 0
    while True:
        try:
            chunk = os.read(fd, 1 << 20)
        except BlockingIOError:
            raise UnsafeSubmission(f"{shown} cannot be read as a file") from None
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > limit:
            raise UnsafeSubmission(f"{shown} is larger than {limit >> 20} MiB in all")
        chunks.append(chunk)


def copy_tree(src: Path, dest: Path, *, want=None, skip_dirs=(), max_bytes: int = MAX_BYTES,
              max_files: int = MAX_FILES) -> int:
    """Copy the regular files under ``src`` into ``dest`` (created); returns bytes copied.

    want(rel_path) -> bool picks the files to copy (default: all); entries not wanted are never
    opened. Folders named in ``skip_dirs`` (or starting with '.') are not entered. A wanted link,
    device or FIFO, a folder that is a link, or more than ``max_bytes``/``max_files`` raises
    UnsafeSubmission, and ``dest`` is removed again.
    """
    total = [0, 0]
    root_fd = _open_dir(src)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        _copy_dir(root_fd, dest, "", want, set(skip_dirs), total, max_bytes, max_files)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    finally:
        os.close(root_fd)
    return total[0]


def _copy_dir(fd, dest, prefix, want, skip, total, max_bytes, max_files):
    for name in sorted(os.listdir(fd)):
        rel = f"{prefix}{name}"
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            if name in skip or name.startswith("."):
                continue
            sub = os.open(name, _DIR_FLAGS, dir_fd=fd)
            try:
                (dest / name).mkdir(exist_ok=True)
                _copy_dir(sub, dest / name, rel + "/", want, skip, total, max_bytes, max_files)
            finally:
                os.close(sub)
            continue
        if want is not None and not want(rel):
            continue
        if stat.S_ISLNK(st.st_mode) and name in skip:
            continue
        if not stat.S_ISREG(st.st_mode):
            raise _refuse(rel, st.st_mode)
        total[1] += 1
        if total[1] > max_files:
            raise UnsafeSubmission(f"more than {max_files} files under {prefix or './'}")
        f = os.open(name, _FILE_FLAGS, dir_fd=fd)
        try:
            if not stat.S_ISREG(os.fstat(f).st_mode):
                raise _refuse(rel, os.fstat(f).st_mode)
            _one_name(os.fstat(f), rel)
            data = _read(f, max_bytes - total[0], rel)
        finally:
            os.close(f)
        total[0] += len(data)
        (dest / name).write_bytes(data)
