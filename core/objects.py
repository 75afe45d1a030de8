"""Content-addressed, add-only objects store: ``<lake>/objects/sha256/ab/cd/<sha256>``.

Why files and not a Delta table: identical content maps to one path, so writes
deduplicate by construction, concurrent writers of the same content cannot conflict,
and an object is published with one atomic rename (a reader sees all of it or none).
Every read re-hashes the bytes and raises ObjectCorruptError on a mismatch.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs

_OBJECT_ID = re.compile(r"[0-9a-f]{64}")


class ObjectCorruptError(IOError):
    """Stored bytes do not hash to their object id."""


class ObjectMissingError(FileNotFoundError):
    """No object with that id in the store."""


class ObjectStoreUnreachable(OSError):
    """The store's bucket or endpoint cannot be used (missing bucket, wrong keys, server down)."""


def _redact(text: str, options: dict[str, str] | None) -> str:
    """Never let a secret from the storage options reach a message."""
    for key, value in (options or {}).items():
        if value and len(value) >= 4 and any(w in key.lower() for w in ("secret", "token", "password", "key_id")):
            text = text.replace(value, "***")
    return text


def redacted_cause(exc: BaseException, options: dict[str, str] | None) -> str:
    """``Type: message`` of a storage error on one line, bounded, with the options' secrets redacted."""
    message = " ".join(_redact(str(exc), options).split())[:400]
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


@dataclass(frozen=True)
class StoredObject:
    object: str
    size: int
    crc32: int
    written: bool  # False when the object was already present


def _is_local(root: str) -> bool:
    return "://" not in root or root.startswith("file://")


def _option(options: dict[str, str], *names: str) -> str | None:
    """The first of ``names`` in ``options``, case-insensitive (delta-rs accepts either case)."""
    lowered = {k.lower(): v for k, v in options.items()}
    for name in names:
        if name.lower() in lowered:
            return lowered[name.lower()]
    return None


_S3_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION")


def s3_filesystem(storage_options: dict[str, str] | None) -> pafs.S3FileSystem:
    """A pyarrow S3 filesystem configured from the same options delta-rs gets.

    ``FileSystem.from_uri`` ignores them and resolves the bucket's region against real AWS,
    so an S3-compatible endpoint (MinIO, moto, Ceph...) would never be reached. One filesystem is kept
    per set of options and of the variables it falls back on: making one sets up a client, which every
    partition write and every objects store of a run did before.
    """
    env = tuple(os.environ.get(name) for name in _S3_ENV)
    return _cached_s3(tuple(sorted((storage_options or {}).items())), env)


@functools.lru_cache(maxsize=16)
def _cached_s3(options: tuple[tuple[str, str], ...], env: tuple[str | None, ...]) -> pafs.S3FileSystem:
    opts = dict(options)
    kwargs: dict[str, object] = {"connect_timeout": 5, "request_timeout": 30,
                                 "check_directory_existence_before_creation": False}
    endpoint = _option(opts, "AWS_ENDPOINT_URL", "AWS_ENDPOINT", "endpoint_url", "endpoint")
    if endpoint:
        scheme, _, host = endpoint.partition("://")
        kwargs["endpoint_override"] = host.rstrip("/") if host else endpoint
        kwargs["scheme"] = scheme if host else "https"
        if kwargs["scheme"] == "http" and (_option(opts, "AWS_ALLOW_HTTP", "allow_http") or "").lower() != "true":
            raise ValueError(f"endpoint {endpoint} is plain http: set AWS_ALLOW_HTTP=true in the storage options")
    for key, names in {
        "access_key": ("AWS_ACCESS_KEY_ID", "access_key_id"),
        "secret_key": ("AWS_SECRET_ACCESS_KEY", "secret_access_key"),
        "session_token": ("AWS_SESSION_TOKEN", "session_token", "token"),
        "region": ("AWS_REGION", "AWS_DEFAULT_REGION", "region"),
    }.items():
        value = _option(opts, *names) or os.environ.get(names[0])
        if value:
            kwargs[key] = value
    if (_option(opts, "AWS_VIRTUAL_HOSTED_STYLE_REQUEST", "virtual_hosted_style_request") or "").lower() == "true":
        kwargs["force_virtual_addressing"] = True
    kwargs.setdefault("region", "us-east-1")  # never a HeadBucket round trip to resolve it
    return pafs.S3FileSystem(**kwargs)


def filesystem_for(lake_root: str, storage_options: dict[str, str] | None) -> tuple[pafs.FileSystem, str]:
    """(filesystem, base path) for a non-local lake root, honouring the storage options."""
    scheme, _, rest = lake_root.partition("://")
    if scheme in ("s3", "s3a"):
        return s3_filesystem(storage_options), rest
    return pafs.FileSystem.from_uri(lake_root)


class ObjectStore:
    """Add-only blob store keyed by sha256 of the bytes."""

    def __init__(self, lake_root: str, storage_options: dict[str, str] | None = None) -> None:
        self.lake_root = lake_root
        self.local = _is_local(lake_root)
        if self.local:
            base = lake_root.removeprefix("file://")
            self.root = str(Path(base) / "objects" / "sha256")
            self._fs = None
        else:
            self._fs, base = filesystem_for(lake_root, storage_options)
            self.root = f"{base.rstrip('/')}/objects/sha256"
        self._options = storage_options

    @property
    def storage_options(self) -> dict[str, str] | None:
        """What a worker process needs, with ``lake_root``, to open the same store."""
        return self._options

    def _unreachable(self, action: str, exc: BaseException) -> ObjectStoreUnreachable:
        return ObjectStoreUnreachable(
            f"objects store at {self.lake_root.rstrip('/')}/objects: cannot {action}. Check that the bucket "
            f"exists and that EVIDENCE_LAKE_STORAGE_OPTIONS (endpoint, region, keys) reach it. "
            f"Cause: {redacted_cause(exc, self._options)}")

    def path_for(self, object_id: str) -> str:
        if not _OBJECT_ID.fullmatch(object_id):
            raise ValueError(f"not a sha256 object id: {object_id!r}")
        return f"{self.root}/{object_id[:2]}/{object_id[2:4]}/{object_id}"

    def exists(self, object_id: str) -> bool:
        path = self.path_for(object_id)
        if self.local:
            return os.path.exists(path)
        try:
            return self._fs.get_file_info(path).type == pafs.FileType.File
        except OSError as exc:
            raise self._unreachable(f"look up object {object_id}", exc) from None  # its text is in the message

    def put(self, data: bytes, object_id: str | None = None) -> StoredObject:
        """Store ``data`` unless present; ``object_id`` may be passed when already computed."""
        oid = object_id or hashlib.sha256(data).hexdigest()
        crc = zlib.crc32(data) & 0xFFFFFFFF
        path = self.path_for(oid)
        if self.exists(oid):
            return StoredObject(oid, len(data), crc, written=False)
        if self.local:
            directory = os.path.dirname(path)
            os.makedirs(directory, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                os.replace(tmp, path)  # atomic; a racing writer of the same bytes is harmless
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
        else:
            try:
                with self._fs.open_output_stream(path) as out:  # object stores publish on close (no directories)
                    out.write(data)
            except OSError as exc:
                raise self._unreachable(f"store object {oid}", exc) from None  # its text is in the message
        return StoredObject(oid, len(data), crc, written=True)

    def flush(self) -> None:
        """Durability barrier: make every object written so far survive a power loss.

        One sync per snapshot instead of one fsync per object (20k fsyncs cost 10 s on this
        machine); it runs before the Delta commit that references the objects. A killed
        process loses nothing either way: renamed files are in the page cache.
        """
        if self.local:
            os.sync()

    def get(self, object_id: str) -> bytes:
        """Return the bytes of ``object_id``; raise if missing or if they no longer match."""
        path = self.path_for(object_id)
        try:
            if self.local:
                with open(path, "rb") as handle:
                    data = handle.read()
            else:
                with self._fs.open_input_stream(path) as src:
                    data = src.read()
        except FileNotFoundError as exc:
            raise ObjectMissingError(f"object {object_id} is not in the store ({path})") from exc
        except OSError as exc:
            raise self._unreachable(f"read object {object_id}", exc) from None  # its text is in the message
        actual = hashlib.sha256(data).hexdigest()
        if actual != object_id:
            raise ObjectCorruptError(
                f"object {object_id} is corrupt: its bytes hash to {actual} ({path}); "
                "re-materialise a partition that references it to restore it"
            )
        return data

    def heal(self, data: bytes, object_id: str) -> None:
        """Replace a corrupt object with good bytes (used when a re-snapshot finds the damage)."""
        if hashlib.sha256(data).hexdigest() != object_id:
            raise ValueError("heal() was given bytes that do not match the object id")
        if self.local:
            if os.path.exists(self.path_for(object_id)):
                os.unlink(self.path_for(object_id))
            self.put(data, object_id)
        else:  # an object-store PUT replaces the object whole
            with self._fs.open_output_stream(self.path_for(object_id)) as out:
                out.write(data)
