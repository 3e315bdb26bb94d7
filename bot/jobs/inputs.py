"""Input media waiting for submission, on disk under its SHA-256.

Why this module exists: a member's attachment is checked and normalised once, then must survive
a crash until the provider has accepted the task (Discord's CDN links expire, so it cannot be
fetched again later). Files are content-addressed, so two jobs with the same image share one
file, and written atomically, so a crash never leaves a half-written input under its name.

:class:`InputStash` is the engine's one door to them: it moves a request's inline images to
files (the stored request keeps ``input:<sha256>`` references), puts them back before the
create request, and deletes a file only when no job still waiting for submission refers to it
(the store says which), under one lock so storing a reference and deleting an unreferenced
file never interleave. Several processes on PostgreSQL share one media folder (a job taken over
is submitted from the files its first owner wrote): a deletion is checked and done under the
database's inputs lock, which storing a job's references also takes, and a job just stored puts
back a shared file another process deleted before the references were committed.

A job's first create follows its storing at once, so the request it was stored from (images
inline, already checked) is kept in memory for that one attempt, within a byte budget: reading
the files back, encoding them again and re-checking the result would only rebuild it, holding
the interpreter for tens of milliseconds per image while other members' images wait. The files
stay the truth: a later attempt, or any attempt after a restart, is rebuilt from them.

What it must never do: delete a file a waiting job still refers to, keep a member's input
after the provider has accepted the task, or keep a request in memory past its job's first
create attempt.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import io
import os
import re
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bot.catalog import MediaRole, ModelSpec, WanRequest
from bot.jobs.records import InputRef, Job
from bot.jobs.storage import JobStore

INPUT_PREFIX = "input:"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# At most this many bytes of data: URIs are kept in memory for jobs' first create attempts (a
# burst of large images waiting for a create slot is rebuilt from the files instead).
INLINE_KEEP_BYTES = 64 * 1024 * 1024


class InputFiles:
    """A folder of content-addressed files: ``<root>/<first two hex digits>/<sha256>``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        if not _SHA256.match(sha256):
            raise ValueError("not a SHA-256 hex digest")
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes) -> str:
        """Store ``data`` (durably: fsync before rename); return its SHA-256."""
        sha = hashlib.sha256(data).hexdigest()
        target = self.path(sha)
        if target.exists():
            return sha
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".in-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        return sha

    def read(self, sha256: str) -> bytes:
        data = self.path(sha256).read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise OSError(f"input {sha256[:12]} is corrupt on disk")
        return data

    def delete(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)


class InputStash:
    """Stash, rehydrate and forget the input images of jobs (one per engine)."""

    def __init__(
        self, files: InputFiles, store: JobStore, *, keep_bytes: int = INLINE_KEEP_BYTES
    ) -> None:
        self.files = files
        self.store = store
        # Keeps "store a reference" and "delete an unreferenced file" apart in this process;
        # across processes sharing the folder, see store_job and keep.
        self._lock = asyncio.Lock()
        # Job id -> the request it was stored from and its data: URIs' length (see keep_inline).
        self._inline: dict[int, tuple[WanRequest, int]] = {}
        self._inline_bytes = 0
        self._keep_bytes = keep_bytes

    @asynccontextmanager
    async def _storing(self, request: WanRequest) -> AsyncIterator[None]:
        """Hold the lock while a job with inline images is being stored (if it has any)."""
        if not has_inline_media(request):
            yield
            return
        async with self._lock:
            yield

    async def store_job(
        self,
        request: WanRequest,
        create: Callable[[dict[str, Any], tuple[InputRef, ...]], Awaitable[Job]],
        media: Mapping[str, bytes] | None = None,
    ) -> Job:
        """Stash ``request``'s images, then store its job with ``create(stored, refs)``.
        ``media`` may give the bytes behind some of its ``data:`` URIs (see :meth:`stash`).

        A refused ``create`` deletes the files no other job needs. A stored job gets back any
        file another process deleted meanwhile (:meth:`keep`), and its request is kept for its
        first create attempt (:meth:`keep_inline`).
        """
        async with self._storing(request):
            stored, refs = await asyncio.to_thread(self.stash, request, media)
            try:
                job = await create(stored, refs)
            except BaseException:
                await self._discard_unstored(refs)
                raise
        if refs:
            await self.keep(request, refs)
            self.keep_inline(job.id, request)
        return job

    def stash(
        self, request: WanRequest, media: Mapping[str, bytes] | None = None
    ) -> tuple[dict[str, Any], tuple[InputRef, ...]]:
        """Move inline images to content-addressed files; the stored request keeps references.

        ``media`` maps a ``data:`` URI to the bytes it was made from (the checked image, as
        :func:`bot.orders.build_request` pairs them): those are written as they are. Any other
        URI is decoded, which holds the interpreter for about 40 ms per 8 MB image.
        """
        known = media or {}
        stored = request.model_dump(mode="json")
        refs: list[InputRef] = []
        for name, role in request.media_fields().items():
            if role is MediaRole.AUDIO_URL or stored.get(name) is None:
                continue
            values = stored[name] if role is MediaRole.IMAGES else [stored[name]]
            replaced = []
            for position, value in enumerate(values):
                if not value.startswith("data:"):
                    replaced.append(value)
                    continue
                header, _, payload = value.partition(",")
                mime = header.removeprefix("data:").split(";", 1)[0]
                data = known.get(value)
                if data is None:
                    # binascii takes the ASCII str as it is (b64decode would copy it to bytes).
                    data = binascii.a2b_base64(payload)
                sha = self.files.put(data)
                refs.append(InputRef(name, position, sha, mime))
                replaced.append(f"{INPUT_PREFIX}{sha}")
            stored[name] = replaced if role is MediaRole.IMAGES else replaced[0]
        return stored, tuple(refs)

    def rehydrate(self, job: Job, spec: ModelSpec, mimes: Mapping[str, str]) -> WanRequest:
        """The stored request with its input files inlined again, re-validated."""
        fields = dict(job.request)
        for name, role in spec.request_type.media_fields().items():
            value = fields.get(name)
            if value is None or role is MediaRole.AUDIO_URL:
                continue
            values = value if isinstance(value, list) else [value]
            inlined = []
            for item in values:
                if isinstance(item, str) and item.startswith(INPUT_PREFIX):
                    sha = item.removeprefix(INPUT_PREFIX)
                    data = base64.b64encode(self.files.read(sha)).decode("ascii")
                    inlined.append(f"data:{mimes[sha]};base64,{data}")
                else:
                    inlined.append(item)
            fields[name] = inlined if isinstance(value, list) else inlined[0]
        return spec.parse(fields)

    def keep_inline(self, job_id: int, request: WanRequest) -> bool:
        """Keep ``request``, just stashed and stored as job ``job_id``, for its first create
        attempt (:meth:`take_inline`), unless that would pass the byte budget; whether kept."""
        size = inline_size(request)
        if size == 0 or self._inline_bytes + size > self._keep_bytes:
            return False
        self._release_inline(job_id)
        self._inline[job_id] = (request, size)
        self._inline_bytes += size
        return True

    def take_inline(self, job_id: int) -> WanRequest | None:
        """The request kept for ``job_id``'s first create attempt, handed over once: None when
        it was not kept, was taken already, or the process restarted since (then
        :meth:`rehydrate` rebuilds it from the files)."""
        return self._release_inline(job_id)

    @property
    def kept_inline_bytes(self) -> int:
        """How many characters of ``data:`` URIs are kept for first create attempts now."""
        return self._inline_bytes

    def _release_inline(self, job_id: int) -> WanRequest | None:
        kept = self._inline.pop(job_id, None)
        if kept is None:
            return None
        self._inline_bytes -= kept[1]
        return kept[0]

    def read(self, reference: str) -> bytes:
        """The bytes behind a stored ``input:<sha256>`` reference (``OSError`` once gone)."""
        return self.files.read(str(reference).removeprefix(INPUT_PREFIX))

    def open(self, reference: str) -> io.BufferedReader:
        """The file behind a stored ``input:<sha256>`` reference, open for reading (not read,
        not verified: for streaming it somewhere; an open file outlives its deletion).
        ``OSError`` once gone, ``ValueError`` for anything but a reference."""
        return self.files.path(str(reference).removeprefix(INPUT_PREFIX)).open("rb")

    async def forget(self, hashes: list[str]) -> None:
        """Delete the files of ``hashes`` that no waiting job refers to (checked under lock)."""
        if not hashes:
            return
        async with self._lock:
            await self._delete_unreferenced(hashes)

    async def drop(self, job_id: int) -> None:
        """A job that will never be submitted (again) lets go of its input files."""
        self._release_inline(job_id)
        await self.forget(await self.store.release_inputs(job_id))

    async def _discard_unstored(self, refs: tuple[InputRef, ...]) -> None:
        """Files stashed for a job that was then refused (the caller holds :meth:`_storing`)."""
        await self._delete_unreferenced([ref.sha256 for ref in refs])

    async def _delete_unreferenced(self, hashes: list[str]) -> None:
        # Checked and deleted under the deployment's inputs lock: another process sharing the
        # media folder may be storing a job with the same image right now.
        await self.store.sweep_inputs(hashes, self.files.delete)

    async def keep(self, request: WanRequest, refs: tuple[InputRef, ...]) -> None:
        """After ``request``'s job is stored with ``refs``: put back any of its files that a
        process sharing the media folder deleted between :meth:`stash` (which found the file
        there already, from another job of the same image) and the job's references being
        committed. A deletion is checked and done under the inputs lock the job's storing also
        held, so it came wholly before the commit (the file is missing now) or wholly after
        it (it saw the references and kept the file): looking once, now, is enough."""
        missing = {ref.sha256 for ref in refs if not self.files.path(ref.sha256).exists()}
        if missing:
            await asyncio.to_thread(self._restore, request, missing)

    def _restore(self, request: WanRequest, missing: set[str]) -> None:
        for uri in _inline_uris(request):
            data = binascii.a2b_base64(uri.partition(",")[2])
            if hashlib.sha256(data).hexdigest() in missing:
                self.files.put(data)


def _inline_uris(request: WanRequest) -> Iterator[str]:
    """The ``data:`` URIs ``request`` carries in its image fields."""
    for name, role in request.media_fields().items():
        if role is MediaRole.AUDIO_URL:
            continue
        value = getattr(request, name)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and item.startswith("data:"):
                yield item


def inline_size(request: WanRequest) -> int:
    """The characters of the ``data:`` URIs ``request`` carries in its image fields."""
    return sum(len(uri) for uri in _inline_uris(request))


def has_inline_media(request: WanRequest) -> bool:
    """Whether ``request`` carries images inline (``data:`` URIs) that must be stashed."""
    return any(
        role in (MediaRole.IMAGE, MediaRole.IMAGES) and getattr(request, name) is not None
        for name, role in request.media_fields().items()
    )
