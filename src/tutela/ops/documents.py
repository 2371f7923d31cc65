"""The document store that backups copy: a small interface, with a local-disk implementation.

A backup lists the documents after the database snapshot is taken. Documents are written to
the store before the database row that refers to them commits, and never changed in place,
so every document the dumped database refers to is in the listing.

Other storages (S3, Azure Blob through django-storages) go through `StorageDocumentStore`,
which uses only Django's storage API, so a backup reads the same encrypted bytes that the site
stores, whatever the backend.

TODO: listing through the storage API costs one request per folder and one or two per document
(size and time); listing objects with their ETags in one paged request (boto3
list_objects_v2, azure list_blobs) would make large buckets faster to back up.
"""

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Protocol, cast

from django.core.files.base import ContentFile, File
from django.core.files.storage import FileSystemStorage, Storage, storages

from tutela.ops.files import atomic_write_bytes, fsync_dir

RESTORE_MARKER = ".tutela-restore-incomplete"
TEMPORARY_PREFIX = ".tutela-tmp-"


class UnsupportedStore(Exception):
    pass


class BadDocumentName(Exception):
    pass


@dataclass(frozen=True)
class DocumentInfo:
    name: str  # a relative path with "/" separators, as Django's storage names it
    size: int
    modified: str  # changes whenever the content may have changed (mtime in ns, or an ETag)


class DocumentStore(Protocol):
    def describe(self) -> str: ...
    def list_documents(self) -> Iterator[DocumentInfo]: ...
    def open_document(self, name: str) -> BinaryIO: ...
    def write_document(self, name: str, produce: Callable[[BinaryIO], None]) -> None: ...
    def has_documents(self) -> bool: ...
    def clear(self) -> None: ...
    def mark_incomplete(self, note: dict[str, str]) -> None: ...
    def marked_incomplete(self) -> bool: ...
    def clear_mark(self) -> None: ...


def checked_name(name: str) -> PurePosixPath:
    """Refuse a name that would write outside the store (absolute, `..`, empty)."""
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or "\\" in name or "\0" in name:
        raise BadDocumentName("A document name in the backup is not a plain relative path.")
    return path


class LocalDocumentStore:
    """Documents in a folder on this host (Django's FileSystemStorage)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def describe(self) -> str:
        return f"local folder {self.root}"

    def list_documents(self) -> Iterator[DocumentInfo]:
        if not self.root.is_dir():
            return
        for folder, dirs, files in os.walk(self.root):
            dirs.sort()
            for filename in sorted(files):
                if filename == RESTORE_MARKER or filename.startswith(TEMPORARY_PREFIX):
                    continue
                path = Path(folder) / filename
                stat = path.lstat()
                if not path.is_file() or path.is_symlink():
                    continue
                name = path.relative_to(self.root).as_posix()
                yield DocumentInfo(name, stat.st_size, str(stat.st_mtime_ns))

    def open_document(self, name: str) -> BinaryIO:
        return (self.root / checked_name(name)).open("rb")

    def write_document(self, name: str, produce: Callable[[BinaryIO], None]) -> None:
        """Let `produce` write the content; the document appears only if it returns."""
        target = self.root / checked_name(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f"{TEMPORARY_PREFIX}{target.name}")
        try:
            with temporary.open("wb") as out:
                produce(out)
            temporary.replace(target)
        finally:
            temporary.unlink(missing_ok=True)

    def has_documents(self) -> bool:
        return next(self.list_documents(), None) is not None

    def clear(self) -> None:
        if not self.root.is_dir():
            return
        for child in self.root.iterdir():
            if child.name == RESTORE_MARKER:
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()

    def mark_incomplete(self, note: dict[str, str]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.root / RESTORE_MARKER, json.dumps(note).encode())

    def marked_incomplete(self) -> bool:
        return (self.root / RESTORE_MARKER).exists()

    def clear_mark(self) -> None:
        (self.root / RESTORE_MARKER).unlink(missing_ok=True)
        fsync_dir(self.root)


class StorageDocumentStore:
    """Documents in any Django storage (S3, Azure Blob), through the storage API alone.

    Documents are never changed in place, so a document's size and time of last change
    identify its content.
    """

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def describe(self) -> str:
        return f"{type(self.storage).__name__} storage"

    def _names(self, folder: str = "") -> Iterator[str]:
        dirs, files = self.storage.listdir(folder)
        for filename in sorted(files):
            if filename != RESTORE_MARKER:
                yield f"{folder}/{filename}" if folder else filename
        for sub in sorted(dirs):
            yield from self._names(f"{folder}/{sub}" if folder else sub)

    def list_documents(self) -> Iterator[DocumentInfo]:
        for name in self._names():
            modified = self.storage.get_modified_time(name).isoformat()
            yield DocumentInfo(name, self.storage.size(name), modified)

    def open_document(self, name: str) -> BinaryIO:
        checked_name(name)
        return cast(BinaryIO, self.storage.open(name, "rb"))

    def write_document(self, name: str, produce: Callable[[BinaryIO], None]) -> None:
        """Let `produce` write the content to a temporary file, then upload it whole."""
        checked_name(name)
        with tempfile.SpooledTemporaryFile(max_size=8 * 2**20) as buffer:
            produce(cast(BinaryIO, buffer))
            buffer.seek(0)
            saved = self.storage.save(name, File(buffer))
        if saved != name:
            raise BadDocumentName(
                f"The storage saved document {name} as {saved}; clear the storage, then restore "
                f"again."
            )

    def has_documents(self) -> bool:
        return next(self._names(), None) is not None

    def clear(self) -> None:
        for name in list(self._names()):
            self.storage.delete(name)

    def mark_incomplete(self, note: dict[str, str]) -> None:
        self.storage.delete(RESTORE_MARKER)
        self.storage.save(RESTORE_MARKER, ContentFile(json.dumps(note).encode()))

    def marked_incomplete(self) -> bool:
        return bool(self.storage.exists(RESTORE_MARKER))

    def clear_mark(self) -> None:
        self.storage.delete(RESTORE_MARKER)


def site_document_store() -> DocumentStore:
    """Return the store of Django's default storage: a folder, or any other storage's API."""
    storage = storages["default"]
    if isinstance(storage, FileSystemStorage):
        return LocalDocumentStore(Path(storage.location))
    return StorageDocumentStore(storage)
