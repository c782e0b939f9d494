"""The data lake: S3 in production, a local folder with the same key layout by default.

Both are reached through `pyarrow.fs`, so every asset, sensor and command uses one interface and
never learns which one it has. Keys are always '/'-separated and relative to the lake's root.
Objects are moved as stored bytes: pyarrow's extension-based (de)compression is always off.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO

import dagster as dg
import pyarrow.fs as pafs
from pydantic import Field, PrivateAttr


def checked_key(key: str) -> str:
    """`key` if it names a place inside the lake's root, else ValueError (defence in depth:
    keys built from data are validated where they are built, see `theletter_data.ids`)."""
    parts = key.replace("\\", "/").split("/")
    if key.startswith("/") or "\0" in key or ".." in parts:
        shown = repr(key) if len(key) <= 80 else f"{key[:77]!r}..."
        raise ValueError(f"lake key {shown} would leave the lake's root: refused")
    return key


@dataclass(frozen=True)
class LakeObject:
    key: str
    size: int
    modified_at: datetime | None


class Lake(dg.ConfigurableResource):
    """Raw logs and exports as objects under one root: `s3://bucket/prefix` or a local folder."""

    url: str = Field(description="`s3://bucket[/prefix]` or a local folder path.")
    endpoint_url: str | None = Field(
        default=None, description="S3-compatible endpoint override (e.g. a moto server in tests)."
    )
    region: str | None = Field(default=None, description="AWS region of the bucket.")

    _filesystem: pafs.FileSystem | None = PrivateAttr(default=None)

    @property
    def is_local(self) -> bool:
        return not self.url.startswith("s3://")

    @cached_property
    def _root(self) -> str:
        if self.is_local:
            return Path(self.url).expanduser().resolve().as_posix()
        return self.url.removeprefix("s3://").rstrip("/")

    @property
    def fs(self) -> pafs.FileSystem:
        if self._filesystem is None:
            if self.is_local:
                self._filesystem = pafs.LocalFileSystem()
            else:
                self._filesystem = pafs.S3FileSystem(
                    endpoint_override=self.endpoint_url,
                    region=self.region,
                    retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=8),
                )
        return self._filesystem

    def path(self, key: str) -> str:
        """The filesystem path of a key (for pyarrow readers that take a filesystem + path).

        A key is relative to the lake's root and never leaves it: one with a `..` segment, a
        NUL byte or a leading `/` (an absolute path) is refused, whatever built it."""
        return f"{self._root}/{checked_key(key)}"

    def _key(self, path: str) -> str:
        return path[len(self._root) + 1 :]

    def list(self, prefix: str) -> list[LakeObject]:
        """Every object under the folder `prefix`, sorted by key; none if the folder is missing."""
        selector = pafs.FileSelector(
            self.path(prefix).rstrip("/"), recursive=True, allow_not_found=True
        )
        objects = [
            LakeObject(self._key(info.path), info.size or 0, info.mtime)
            for info in self.fs.get_file_info(selector)
            if info.type == pafs.FileType.File
        ]
        return sorted(objects, key=lambda o: o.key)

    def exists(self, key: str) -> bool:
        return self.fs.get_file_info(self.path(key)).type == pafs.FileType.File

    @property
    def bucket(self) -> str:
        return self._root.split("/", 1)[0]

    @property
    def root_in_bucket(self) -> str:
        """The lake's prefix inside its bucket: '' or ending with '/'."""
        rest = self._root.split("/", 1)[1] if "/" in self._root else ""
        return f"{rest}/" if rest else ""

    def s3_client(self) -> Any:
        """A boto3 S3 client for what pyarrow's filesystem does not do (storage classes)."""
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name=self.region)

    def _fail_if_archived(self, key: str) -> None:
        """A read refused because the object sits in Glacier fails the step at once, saying
        what to do, instead of being retried as an I/O error."""
        from theletter_data.archive import archived

        if self.is_local or not archived(
            self.s3_client(), self.bucket, [self.root_in_bucket + key]
        ):
            return
        raise dg.Failure(
            f"`{key}` is archived in S3 Glacier and must be restored before it can be staged: "
            "run `theletter-data restore-archived --from <first day> --to <last day>`, wait for "
            "the restore (Bulk: up to 48 h), then stage the days again.",
            allow_retries=False,
        )

    def delete(self, key: str) -> None:
        self.fs.delete_file(self.path(key))

    def read_bytes(self, key: str) -> bytes:
        with self.fs.open_input_stream(self.path(key), compression=None) as stream:
            return stream.read()

    def write_bytes(self, key: str, data: bytes) -> None:
        with self.open_output(key) as out:
            out.write(data)

    @contextmanager
    def open_output(self, key: str) -> Iterator[BinaryIO]:
        """A binary stream that becomes the object `key` once closed (never half-visible)."""
        if self.is_local:
            target = Path(self.path(key))
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.partial")
            with open(partial, "wb") as out:
                yield out
            partial.replace(target)
        else:
            with self.fs.open_output_stream(self.path(key), compression=None) as out:
                yield out  # type: ignore[misc]

    @contextmanager
    def local_files(self, keys: Sequence[str], threads: int = 4) -> Iterator[list[Path]]:
        """Local paths for objects, for engines that read files: the objects themselves when the
        lake is a folder, otherwise downloads that are deleted when the block ends. Callers pass
        small batches of keys, so temporary disk use stays at a few objects' compressed size."""
        if self.is_local:
            yield [Path(self.path(k)) for k in keys]
            return
        folder = Path(tempfile.mkdtemp(prefix="theletter-lake-"))
        try:
            targets = [folder / f"{i:06d}-{Path(k).name}" for i, k in enumerate(keys)]

            def download(pair: tuple[str, Path]) -> None:
                key, target = pair
                try:
                    with (
                        self.fs.open_input_stream(self.path(key), compression=None) as src,
                        open(target, "wb") as dst,
                    ):
                        shutil.copyfileobj(src, dst, length=8 << 20)
                except OSError:
                    self._fail_if_archived(key)
                    raise

            with ThreadPoolExecutor(max_workers=threads) as pool:
                list(pool.map(download, zip(keys, targets, strict=True)))
            yield targets
        finally:
            shutil.rmtree(folder, ignore_errors=True)
