"""Input files shared by several processes (issue #14): one media folder, one database.

Process B lets go of an image (its job was submitted) while process A is storing a job with the
same image: A's stash found the file already there, then B found no committed reference to it
and deleted it, and only then did A's references commit. A's job must still have its file, or
a retry or a takeover could never submit it. Two stores on one database stand for the two
processes (two pools on PostgreSQL; two connections on SQLite), each with its own stash.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bot.catalog import spec_for
from bot.config import ProviderName
from bot.jobs.inputs import InputFiles, InputStash
from bot.jobs.records import InputRef, Job
from tests.jobs.conftest import Backend
from tests.jobs.test_store import NOW, OPEN, new_job

I2V = spec_for("wan2.6-i2v", ProviderName.MULEROUTER)


async def store_with(
    stash: InputStash, request: Any, *, meanwhile: Callable[[], Awaitable[None]] | None = None
) -> Job:
    """Store a job of ``request`` through ``stash``, running ``meanwhile`` just before its row
    and references are committed (the window another process may act in)."""

    async def create(stored: dict[str, Any], refs: tuple[InputRef, ...]) -> Job:
        if meanwhile is not None:
            await meanwhile()
        new = dataclasses.replace(new_job(inputs=refs), request=stored)
        return await stash.store.create_job(new, OPEN, NOW)

    return await stash.store_job(request, create)


async def test_an_image_deleted_by_another_process_while_a_job_is_stored_is_put_back(
    backend: Backend, tmp_path: Path, png_data_uri: Callable[[int, int], str]
) -> None:
    folder = InputFiles(tmp_path / "media" / "inputs")  # one folder, shared
    a = InputStash(folder, await backend.open())
    b = InputStash(folder, await backend.open())
    request = I2V.parse({"prompt": "a lighthouse", "image": png_data_uri(64, 48)})
    first = await store_with(b, request)
    (sha,) = {ref.sha256 for ref in await b.store.inputs_of(first.id)}
    assert folder.path(sha).exists()

    async def b_submits_its_job() -> None:
        await b.drop(first.id)  # no committed job refers to the image: B deletes it
        assert not folder.path(sha).exists()

    second = await store_with(a, request, meanwhile=b_submits_its_job)
    assert [ref.sha256 for ref in await a.store.inputs_of(second.id)] == [sha]
    assert folder.path(sha).exists(), "the waiting job's image was lost"
    stored = await a.store.get_job(second.id)
    assert stored is not None
    assert a.rehydrate(stored, I2V, {sha: "image/png"}) == request


async def test_a_deletion_after_the_references_are_committed_keeps_the_file(
    backend: Backend, tmp_path: Path, png_data_uri: Callable[[int, int], str]
) -> None:
    folder = InputFiles(tmp_path / "media" / "inputs")
    a = InputStash(folder, await backend.open())
    b = InputStash(folder, await backend.open())
    request = I2V.parse({"prompt": "a lighthouse", "image": png_data_uri(64, 48)})
    first = await store_with(b, request)
    second = await store_with(a, request)
    (sha,) = {ref.sha256 for ref in await a.store.inputs_of(second.id)}
    await b.drop(first.id)  # A's job still waits on it
    assert folder.path(sha).exists()
    await a.drop(second.id)  # now nobody does
    assert not folder.path(sha).exists()


async def test_the_checked_bytes_are_stored_as_the_decoded_uri_would_be(
    backend: Backend, tmp_path: Path, png_data_uri: Callable[[int, int], str]
) -> None:
    uri = png_data_uri(64, 48)
    raw = base64.b64decode(uri.partition(",")[2])
    request = I2V.parse({"prompt": "a lighthouse", "image": uri})
    decoded = InputStash(InputFiles(tmp_path / "decoded"), await backend.open())
    given = InputStash(InputFiles(tmp_path / "given"), decoded.store)
    assert given.stash(request, {request.image: raw}) == decoded.stash(request)
    (ref,) = decoded.stash(request)[1]
    assert given.files.read(ref.sha256) == decoded.files.read(ref.sha256) == raw
