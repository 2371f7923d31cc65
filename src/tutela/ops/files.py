"""Files that survive a crash: hashing, fsync, atomic writes and a single-instance lock.

Django-free, so that the encryption pipeline (`python -m tutela.ops.crypto`) can use it.
"""

import contextlib
import ctypes
import fcntl
import hashlib
import json
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

CHUNK = 1 << 20


class LockBusy(Exception):
    pass


def sha256_file(path: Path) -> tuple[int, str]:
    """Return the size and SHA-256 (hex) of a file."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in `path` durable."""
    fsync_file(path)


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write to a temporary file, fsync it, rename it over `path`, fsync the folder.

    A reader sees the old file or the complete new one, never a part, even after a crash.
    """
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_json(path: Path, value: Any) -> None:
    atomic_write_bytes(path, json.dumps(value, indent=2, sort_keys=True).encode() + b"\n")


@contextlib.contextmanager
def exclusive_lock(path: Path, what: str) -> Iterator[None]:
    """Hold an flock on `path` for the block; raise LockBusy when another process holds it.

    The kernel drops the lock when the holder dies, even by SIGKILL, so a crash leaves no stale
    lock behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise LockBusy(
                f"Another {what} is running (process {holder}); wait for it to finish."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


class HashingReader:
    """A read-only binary stream that hashes and counts what passes through it."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.digest.update(data)
        self.size += len(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True


class HashingWriter:
    """A write-only binary stream that hashes and counts what passes through it."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()

    def writable(self) -> bool:
        return True


def flush_to_disk(folder: Path) -> None:
    """Flush the file system that contains `folder` (syncfs), or every file system."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        if sys.platform == "linux" and ctypes.CDLL("libc.so.6", use_errno=True).syncfs(fd) == 0:
            return
    finally:
        os.close(fd)
    os.sync()


def end_with_parent() -> None:
    """Have Linux stop a child (pg_dump, the encryption) when this process dies, even by SIGKILL."""
    if sys.platform == "linux":
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
