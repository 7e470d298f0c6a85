"""The S3 ObjectStore (aioboto3): a library is a prefix of a bucket.

One aiobotocore client per store, created in ``open()`` and closed in ``close()``, with
bounded timeouts, retries and connection pool. Ranged GETs stream the body in bounded chunks;
``If-Match`` on the stored ETag turns a replaced object into ObjectChanged instead of a
response that mixes two versions.

Uploads are our own, not aioboto3's managed ``upload_file``: that one queues up to
``max_io_queue_size`` (100) chunks ahead of the network, and a cancelled call neither stops
its part uploaders nor aborts the multipart upload, which then lingers (and is billed).
Here at most ``upload_concurrency`` parts are in memory at once, and any failure or
cancellation aborts the upload.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import AsyncGenerator, AsyncIterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import aioboto3
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession
from botocore.exceptions import BotoCoreError, ClientError, DataNotFoundError

from streamer.storage.base import (
    DERIVED_PREFIX,
    ObjectChanged,
    ObjectInfo,
    ObjectNotFound,
    StorageError,
    StorageUnavailable,
)
from streamer.storage.keys import check_key, check_prefix, check_range
from streamer.storage.source_file import SourceFile

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer
    from aiobotocore.response import StreamingBody
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import CompletedPartTypeDef, ObjectIdentifierTypeDef

__all__ = ["S3Store"]

logger = logging.getLogger("streamer.storage")

_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
_CHANGED_CODES = frozenset({"412", "PreconditionFailed"})
_BEYOND_END_CODES = frozenset({"416", "InvalidRange"})

_MAX_PARTS = 10_000  # S3's limit on the parts of one multipart upload

# botocore data files (besides the S3 models) that creating a client reads.
_SHARED_DATA = ("endpoints", "partitions", "sdk-default-configuration")


class S3Store:
    """An ObjectStore over ``s3://bucket/prefix`` on AWS or any S3-compatible server."""

    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_attempts: int = 3  # total attempts per request, the first included
    max_pool_connections: int = 50
    # /readyz must answer quickly even when the endpoint hangs.
    check_timeout: float = 5.0
    # Files from this size up go as a multipart upload of parts of multipart_chunksize
    # (more if 10,000 parts would not hold the file), upload_concurrency at a time: memory
    # stays under multipart_chunksize * upload_concurrency whatever the file's size.
    multipart_threshold: int = 8 * 1024 * 1024
    multipart_chunksize: int = 8 * 1024 * 1024
    upload_concurrency: int = 4
    delete_batch_size: int = 1000  # keys per DeleteObjects request (S3 allows 1,000)

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        max_attempts: int | None = None,
    ) -> None:
        if not bucket:
            raise ValueError("an S3 store needs a bucket")
        self._bucket = bucket
        # "music", "music/" and "/music/" name the same library.
        self._prefix = prefix.strip("/")
        self._key_prefix = f"{self._prefix}/" if self._prefix else ""
        self._endpoint_url = endpoint_url
        self._region = region
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key
        if connect_timeout is not None:
            self.connect_timeout = connect_timeout
        if read_timeout is not None:
            self.read_timeout = read_timeout
        if max_attempts is not None:
            self.max_attempts = max_attempts
        self._stack: contextlib.AsyncExitStack | None = None
        self._client: S3Client | None = None

    @property
    def url(self) -> str:
        return f"s3://{self._bucket}/{self._prefix}"

    @property
    def bucket(self) -> str:
        return self._bucket

    def local_path(self, key: str) -> None:
        """Objects in S3 have no local path."""

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        """Create the S3 client and its connection pool."""
        if self._client is not None:
            raise RuntimeError(f"{self.url} is already open")
        session = await asyncio.to_thread(self._make_session)
        config = AioConfig(
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            retries={"max_attempts": self.max_attempts, "mode": "standard"},
            max_pool_connections=self.max_pool_connections,
            # Custom endpoints (MinIO, moto, Ceph) rarely have wildcard DNS for buckets.
            s3={"addressing_style": "path" if self._endpoint_url else "auto"},
        )
        stack = contextlib.AsyncExitStack()
        try:
            self._client = await stack.enter_async_context(
                session.client("s3", endpoint_url=self._endpoint_url, config=config)
            )
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack

    def _make_session(self) -> aioboto3.Session:
        """Build the session in a worker thread, with botocore's data files preloaded.

        botocore reads its config file and JSON models from disk synchronously, on first
        use; loading them here keeps that off the event loop when the client is created.
        """
        core = AioSession()
        loader = core.get_component("data_loader")
        # The arguments mirror botocore's own calls: its loader caches by exact arguments.
        with contextlib.suppress(DataNotFoundError):
            model = loader.load_service_model("s3", "service-2", api_version=None)
            loader.load_service_model("s3", "endpoint-rule-set-1", api_version=None)
            loader.load_service_model("s3", "paginators-1", model["metadata"]["apiVersion"])
        for name in _SHARED_DATA:
            with contextlib.suppress(DataNotFoundError):
                loader.load_data(name)
        return aioboto3.Session(
            botocore_session=core,
            aws_access_key_id=self._access_key_id,
            aws_secret_access_key=self._secret_access_key,
            region_name=self._region,
        )

    async def close(self) -> None:
        """Close the client and its pooled connections; the store can be opened again."""
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    def _s3(self) -> S3Client:
        if self._client is None:
            raise RuntimeError(f"{self.url} is not open: await store.open() first")
        return self._client

    def _object_key(self, key: str) -> str:
        check_key(key)
        return self._key_prefix + key

    # -- the protocol ----------------------------------------------------------------------

    async def check(self) -> None:
        client = self._s3()
        try:
            async with asyncio.timeout(self.check_timeout):
                await client.head_bucket(Bucket=self._bucket)
        except TimeoutError as exc:
            raise StorageUnavailable(
                f"{self.url}: no answer within {self.check_timeout:g}s"
            ) from exc
        except (ClientError, BotoCoreError) as exc:
            raise StorageUnavailable(f"{self.url}: {exc}") from exc

    async def stat(self, key: str) -> ObjectInfo:
        object_key = self._object_key(key)
        try:
            head = await self._s3().head_object(Bucket=self._bucket, Key=object_key)
        except (ClientError, BotoCoreError) as exc:
            self._raise(key, exc)
        return ObjectInfo(
            key=key,
            size=head["ContentLength"],
            mtime=head["LastModified"].timestamp(),
            version=head["ETag"].strip('"'),
        )

    async def iter_objects(self) -> AsyncGenerator[ObjectInfo, None]:
        """Every object under the prefix (list_objects_v2, 1,000 per page).

        Folder markers (keys ending in "/") and keys that are not valid store keys (with
        empty, "." or ".." components) are skipped: they could not be read back. So are the
        streamer's own derived objects (keys under DERIVED_PREFIX), as the local walker skips
        hidden names.
        """
        async for info in self._list(self._key_prefix, skip_derived=True):
            yield info

    async def iter_derived(self) -> AsyncGenerator[ObjectInfo, None]:
        """Every object under the prefix's DERIVED_PREFIX (list_objects_v2, 1,000 per page)."""
        async for info in self._list(self._key_prefix + DERIVED_PREFIX, skip_derived=False):
            yield info

    async def _list(self, prefix: str, *, skip_derived: bool) -> AsyncGenerator[ObjectInfo, None]:
        paginator = self._s3().get_paginator("list_objects_v2")
        try:
            async for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
                for entry in page.get("Contents", []):
                    key = entry["Key"][len(self._key_prefix) :]
                    if key.endswith("/") or (skip_derived and key.startswith(DERIVED_PREFIX)):
                        continue
                    try:
                        check_key(key)
                    except ObjectNotFound:
                        logger.warning("skipping S3 object with an invalid key: %r", entry["Key"])
                        continue
                    yield ObjectInfo(
                        key=key,
                        size=entry["Size"],
                        mtime=entry["LastModified"].timestamp(),
                        version=entry["ETag"].strip('"'),
                    )
        except (ClientError, BotoCoreError) as exc:
            raise StorageUnavailable(f"cannot list {self.url}: {exc}") from exc

    async def iter_range(
        self,
        key: str,
        start: int,
        length: int,
        *,
        version: str | None = None,
        chunk_size: int = 262144,
    ) -> AsyncGenerator[bytes, None]:
        """Yield ``length`` bytes from ``start`` with one ranged GET, in chunks of at most
        ``chunk_size`` bytes.

        With ``version`` the GET carries ``If-Match``, so a replaced object raises
        ObjectChanged before any byte. The body is closed however the iteration ends;
        callers that may stop early should ``aclose()`` the iterator. ``length`` 0 yields
        nothing and makes no request.
        """
        check_range(start, length)
        if chunk_size <= 0:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        object_key = self._object_key(key)
        if length == 0:
            return
        params: dict[str, Any] = {
            "Bucket": self._bucket,
            "Key": object_key,
            "Range": f"bytes={start}-{start + length - 1}",
        }
        if version is not None:
            params["IfMatch"] = f'"{version}"'
        try:
            response = await self._s3().get_object(**params)
        except (ClientError, BotoCoreError) as exc:
            self._raise(key, exc)
        body = response["Body"]
        # Leaving the block releases the connection: back to the pool when the body was
        # read to its end, closed when the consumer stopped early.
        async with body:
            if response["ContentLength"] != length:
                raise ObjectChanged(
                    f"{key!r}: asked for {length} bytes from {start}, "
                    f"got {response['ContentLength']} (the object is shorter)"
                )
            remaining = length
            while remaining > 0:
                chunk = await self._read_chunk(key, body, min(chunk_size, remaining))
                if not chunk:
                    raise ObjectChanged(f"{key!r}: body ended {remaining} bytes early")
                remaining -= len(chunk)
                yield chunk

    async def _read_chunk(self, key: str, body: StreamingBody, size: int) -> bytes:
        """Up to ``size`` bytes of ``body``, fewer only at its end.

        The HTTP stream hands out whatever has arrived (often a few KB); gathering a full
        chunk keeps the consumer's per-chunk work (ASGI sends, cache writes) low.
        """
        parts: list[bytes] = []
        wanted = size
        try:
            while wanted > 0:
                data = await body.read(wanted)
                if not data:
                    break
                parts.append(data)
                wanted -= len(data)
        except (BotoCoreError, TimeoutError) as exc:
            raise StorageUnavailable(f"reading {key!r} from {self.url}: {exc}") from exc
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def read(self, key: str, start: int, length: int) -> bytes:
        check_range(start, length)
        object_key = self._object_key(key)
        if length == 0:
            return b""
        try:
            response = await self._s3().get_object(
                Bucket=self._bucket, Key=object_key, Range=f"bytes={start}-{start + length - 1}"
            )
            body = response["Body"]
            async with body:
                return await body.read()
        except ClientError as exc:
            if _code(exc) in _BEYOND_END_CODES:
                return b""  # the range starts at or past the end: nothing to read
            self._raise(key, exc)
        except BotoCoreError as exc:
            self._raise(key, exc)

    async def presigned_url(self, key: str, expires: int = 3600) -> str:
        """A URL that lets a plain HTTP client (ffmpeg) GET ``key`` for ``expires`` seconds.

        Signing is local: no request is made and the key need not exist yet.
        """
        object_key = self._object_key(key)
        return await self._s3().generate_presigned_url(
            "get_object",
            Params={"Bucket": self._bucket, "Key": object_key},
            ExpiresIn=expires,
        )

    # -- writes ----------------------------------------------------------------------------

    async def put_file(
        self, key: str, path: Path, *, content_type: str | None = None, consume: bool = False
    ) -> ObjectInfo:
        """Upload ``path`` to ``key``: one PutObject below ``multipart_threshold``, else a
        multipart upload with bounded memory that is aborted on any failure or cancellation.

        S3 makes the object visible only when the PUT or the upload completes. The file is
        read in worker threads; if it is replaced or shrinks meanwhile, ObjectChanged.
        """
        object_key = self._object_key(key)
        self._s3()  # fail before reading anything if the store is not open
        source = await asyncio.to_thread(SourceFile.open, path)
        if source.size < self.multipart_threshold:
            data = memoryview(bytearray(source.size))
            await asyncio.to_thread(source.read_into, 0, data)
            await self._put_object(key, object_key, _BufferBody(data), content_type)
        else:
            await self._put_multipart(key, object_key, source, content_type)
        return await self.stat(key)

    async def put_bytes(
        self, key: str, data: bytes, *, content_type: str | None = None
    ) -> ObjectInfo:
        """Store ``data`` under ``key`` with one PutObject."""
        object_key = self._object_key(key)
        await self._put_object(key, object_key, data, content_type)
        return await self.stat(key)

    async def put_stream(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        size_hint: int | None = None,
        content_type: str | None = None,
    ) -> ObjectInfo:
        """Store what ``chunks`` yields under ``key``: one PutObject when it ends within
        one part, else a multipart upload whose parts go up as they fill, one at a time
        while the next fills (so memory holds about two parts, and a slow store slows
        the reader instead of piling data up).

        Parts are ``multipart_chunksize``, larger when ``size_hint`` would not fit in
        10,000 of them. Any failure or cancellation, the iterator's errors included,
        aborts the upload: nothing becomes visible.
        """
        object_key = self._object_key(key)
        self._s3()  # fail before reading anything if the store is not open
        part_size = max(self.multipart_chunksize, -(-(size_hint or 0) // _MAX_PARTS))
        buffer = bytearray()
        upload_id: str | None = None
        parts: list[CompletedPartTypeDef] = []
        sending: asyncio.Task[None] | None = None
        try:
            async for chunk in chunks:
                view = memoryview(chunk)
                while view:
                    room = part_size - len(buffer)
                    buffer += view[:room]
                    view = view[room:]
                    if len(buffer) < part_size:
                        continue
                    if upload_id is None:
                        upload_id = await self._create_multipart(key, object_key, content_type)
                    if sending is not None:
                        await sending  # the part before: at most one in flight
                    if len(parts) >= _MAX_PARTS:
                        raise StorageError(f"{key!r}: more than {_MAX_PARTS} parts")
                    sending = asyncio.ensure_future(
                        self._send_part(object_key, upload_id, len(parts) + 1, buffer, parts)
                    )
                    buffer = bytearray()
            if upload_id is None:
                await self._put_object(
                    key, object_key, _BufferBody(memoryview(buffer)), content_type
                )
                return await self.stat(key)
            if sending is not None:
                await sending
            if buffer:  # the last part may be smaller than S3's 5 MB minimum
                await self._send_part(object_key, upload_id, len(parts) + 1, buffer, parts)
            await self._s3().complete_multipart_upload(
                Bucket=self._bucket,
                Key=object_key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException as exc:
            if sending is not None:
                if not sending.done():
                    sending.cancel()
                    await asyncio.wait([sending])  # no part still going up when we abort
                if not sending.cancelled():
                    sending.exception()  # seen: the error that matters is ``exc``
            if upload_id is not None:
                # Shielded: a second cancellation must not leave the parts stored (and billed).
                await asyncio.shield(self._abort_upload(object_key, upload_id))
            if isinstance(exc, ClientError | BotoCoreError):
                self._raise(key, exc)
            raise
        return await self.stat(key)

    async def _create_multipart(self, key: str, object_key: str, content_type: str | None) -> str:
        params: dict[str, Any] = {"Bucket": self._bucket, "Key": object_key}
        if content_type is not None:
            params["ContentType"] = content_type
        try:
            created = await self._s3().create_multipart_upload(**params)
        except (ClientError, BotoCoreError) as exc:
            self._raise(key, exc)
        return created["UploadId"]

    async def _send_part(
        self,
        object_key: str,
        upload_id: str,
        number: int,
        data: bytearray,
        parts: list[CompletedPartTypeDef],
    ) -> None:
        response = await self._s3().upload_part(
            Bucket=self._bucket,
            Key=object_key,
            UploadId=upload_id,
            PartNumber=number,
            Body=_BufferBody(memoryview(data)),  # type: ignore[arg-type]  # any binary file will do
        )
        parts.append({"ETag": response["ETag"], "PartNumber": number})

    async def _put_object(
        self, key: str, object_key: str, data: bytes | _BufferBody, content_type: str | None
    ) -> None:
        params: dict[str, Any] = {"Bucket": self._bucket, "Key": object_key, "Body": data}
        if content_type is not None:
            params["ContentType"] = content_type
        try:
            await self._s3().put_object(**params)
        except (ClientError, BotoCoreError) as exc:
            self._raise(key, exc)

    async def _put_multipart(
        self, key: str, object_key: str, source: SourceFile, content_type: str | None
    ) -> None:
        client = self._s3()
        params: dict[str, Any] = {"Bucket": self._bucket, "Key": object_key}
        if content_type is not None:
            params["ContentType"] = content_type
        try:
            created = await client.create_multipart_upload(**params)
        except (ClientError, BotoCoreError) as exc:
            self._raise(key, exc)
        upload_id = created["UploadId"]
        try:
            parts = await self._upload_parts(object_key, upload_id, source)
            await client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=object_key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException as exc:
            # Shielded: a second cancellation must not leave the parts stored (and billed).
            await asyncio.shield(self._abort_upload(object_key, upload_id))
            if isinstance(exc, ClientError | BotoCoreError):
                self._raise(key, exc)
            raise

    async def _upload_parts(
        self, object_key: str, upload_id: str, source: SourceFile
    ) -> list[CompletedPartTypeDef]:
        """Upload every part of ``source``; return them in order for CompleteMultipartUpload.

        ``upload_concurrency`` workers take the next part from a shared counter, read it in
        a thread into the worker's own buffer and upload it: the buffers are the only part
        data in memory, allocated once per upload.
        """
        client = self._s3()
        part_size = max(self.multipart_chunksize, -(-source.size // _MAX_PARTS))
        offsets = enumerate(range(0, source.size, part_size), start=1)
        done: list[CompletedPartTypeDef] = []

        async def worker() -> None:
            buffer = memoryview(bytearray(part_size))
            # The event loop runs one worker at a time, so sharing the iterator is safe.
            for number, offset in offsets:
                part = buffer[: min(part_size, source.size - offset)]
                await asyncio.to_thread(source.read_into, offset, part)
                # upload_part returns only once the request (retries included) is over, so
                # the buffer is free for the next part afterwards.
                response = await client.upload_part(
                    Bucket=self._bucket,
                    Key=object_key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=_BufferBody(part),  # type: ignore[arg-type]  # any binary file will do
                )
                done.append({"ETag": response["ETag"], "PartNumber": number})

        count = min(self.upload_concurrency, -(-source.size // part_size))
        workers = [asyncio.ensure_future(worker()) for _ in range(count)]
        try:
            await asyncio.gather(*workers)
        except BaseException:
            for task in workers:
                task.cancel()
            # Wait for them, so no upload_part is still running when the upload is aborted.
            await asyncio.wait(workers)
            raise
        return sorted(done, key=lambda part: part["PartNumber"])

    async def _abort_upload(self, object_key: str, upload_id: str) -> None:
        try:
            await self._s3().abort_multipart_upload(
                Bucket=self._bucket, Key=object_key, UploadId=upload_id
            )
        except (ClientError, BotoCoreError) as exc:
            # Nothing more to do here: a bucket lifecycle rule (AbortIncompleteMultipartUpload)
            # is what finally removes such leftovers.
            logger.warning(
                "could not abort multipart upload %s of %r in %s: %s",
                upload_id,
                object_key,
                self.url,
                exc,
            )

    async def delete(self, key: str) -> None:
        """DeleteObject; S3 answers the same whether or not the key existed."""
        object_key = self._object_key(key)
        try:
            await self._s3().delete_object(Bucket=self._bucket, Key=object_key)
        except (ClientError, BotoCoreError) as exc:
            self._raise(key, exc)

    async def delete_prefix(self, prefix: str) -> int:
        """List the keys under ``prefix`` and delete them with DeleteObjects, up to
        ``delete_batch_size`` per request, as the listing goes. Returns how many went."""
        check_prefix(prefix)
        client = self._s3()
        paginator = client.get_paginator("list_objects_v2")
        deleted = 0
        batch: list[ObjectIdentifierTypeDef] = []
        try:
            async for page in paginator.paginate(
                Bucket=self._bucket, Prefix=self._key_prefix + prefix
            ):
                for entry in page.get("Contents", []):
                    batch.append({"Key": entry["Key"]})
                    if len(batch) >= self.delete_batch_size:
                        deleted += await self._delete_batch(prefix, batch)
                        batch = []
            if batch:
                deleted += await self._delete_batch(prefix, batch)
        except (ClientError, BotoCoreError) as exc:
            raise StorageUnavailable(f"deleting {prefix!r} in {self.url}: {exc}") from exc
        return deleted

    async def _delete_batch(self, prefix: str, batch: list[ObjectIdentifierTypeDef]) -> int:
        response = await self._s3().delete_objects(
            Bucket=self._bucket, Delete={"Objects": batch, "Quiet": True}
        )
        # Quiet mode reports only the failures, and a failure does not fail the request.
        errors = response.get("Errors", [])
        if errors:
            first = errors[0]
            raise StorageUnavailable(
                f"deleting {prefix!r} in {self.url}: {len(errors)} of {len(batch)} keys "
                f"refused, first {first.get('Key')!r}: {first.get('Code')} {first.get('Message')}"
            )
        return len(batch)

    def _raise(self, key: str, exc: ClientError | BotoCoreError) -> NoReturn:
        """Translate a botocore error about ``key`` into the storage error tree."""
        if isinstance(exc, ClientError):
            code = _code(exc)
            if code in _NOT_FOUND_CODES:
                raise ObjectNotFound(f"no object {key!r} in {self.url}") from exc
            if code in _CHANGED_CODES:
                raise ObjectChanged(f"{key!r} in {self.url} is no longer that version") from exc
            if code in _BEYOND_END_CODES:
                raise ObjectChanged(f"{key!r} in {self.url} is shorter than expected") from exc
        raise StorageUnavailable(f"{key!r} in {self.url}: {exc}") from exc


class _BufferBody(io.RawIOBase):
    """A read-only, seekable file over a buffer, sharing it rather than copying it.

    Bodies go through botocore as files: it seeks and reads them to size and checksum the
    request (and to retry it), and aiohttp sends them in 64 KB reads. ``io.BytesIO`` would
    copy the buffer (it shares only ``bytes``), and a bytearray given as such trips
    aiohttp's "large body" warning.
    """

    def __init__(self, view: memoryview) -> None:
        super().__init__()
        self._view = view
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        chunk = self._view[self._position : self._position + memoryview(buffer).nbytes]
        memoryview(buffer).cast("B")[: len(chunk)] = chunk
        self._position += len(chunk)
        return len(chunk)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self._position
        elif whence == io.SEEK_END:
            offset += len(self._view)
        elif whence != io.SEEK_SET:
            raise ValueError(f"invalid whence {whence}")
        if offset < 0:
            raise ValueError(f"negative seek position {offset}")
        self._position = offset
        return offset

    def tell(self) -> int:
        return self._position


def _code(exc: ClientError) -> str:
    """The S3 error code ("NoSuchKey"), or the HTTP status for bodiless HEAD errors."""
    error = exc.response.get("Error", {})
    code = error.get("Code")
    if code:
        return str(code)
    return str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
