"""Reading request bodies: JSON, or multipart with ``payload_json`` and ``files[n]`` parts.

Why this module exists: discord.py sends files as multipart/form-data (unquoted ``files[0]``
field names); handlers want one shape, ``(payload, files)``, whichever way the bot sent it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

from tests.emulator.errors import DiscordError
from tests.emulator.recorder import UploadedFile


@dataclass
class Body:
    json: Any = None
    files: list[UploadedFile] = field(default_factory=list)
    form: dict[str, str] = field(default_factory=dict)

    def file_for(self, index: int | str) -> UploadedFile | None:
        for name in (f"files[{index}]", f"file[{index}]"):
            for upload in self.files:
                if upload.field == name:
                    return upload
        return None


def invalid_json() -> DiscordError:
    return DiscordError(400, 50109, "The request body contains invalid JSON.")


async def read_body(request: web.Request) -> Body:
    if not request.body_exists:
        return Body()
    content_type = request.headers.get("Content-Type", "")
    if content_type.startswith("multipart/"):
        return await _read_multipart(request)
    raw = await request.read()
    if not raw:
        return Body()
    try:
        return Body(json=json.loads(raw))
    except ValueError:
        raise invalid_json() from None


async def _read_multipart(request: web.Request) -> Body:
    body = Body()
    reader = await request.multipart()
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            continue
        name = part.name or ""
        data = await part.read(decode=False)
        if part.filename is not None:
            body.files.append(
                UploadedFile(
                    field=name,
                    filename=part.filename,
                    content_type=part.headers.get("Content-Type"),
                    data=bytes(data),
                )
            )
        elif name == "payload_json":
            try:
                body.json = json.loads(data)
            except ValueError:
                raise invalid_json() from None
        else:
            body.form[name] = bytes(data).decode("utf-8", "replace")
    return body
