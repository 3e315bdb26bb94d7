"""Checks on input images that the real service makes only after accepting a task.

Why this module exists: upstream accepts an image of the wrong size with 202 and fails the task
later ("Invalid image dimensions"), so a client that skips its own checks pays a round trip and
sees a task failure, not a 400. The simulator reproduces that by reading ``data:`` URI headers
against the side limits of each media field in :mod:`bot.simulator.contracts`
(``docs/providers.md#input-media``). Remote ``http(s)`` images are taken on trust (the simulator
never leaves loopback).

Images arrive as megabytes of base64 and the simulator shares the machine with the client it
serves (benchmarks run both), so a size is read from a decoded prefix of the payload when the
header lies in it, which it does for any ordinary PNG, JPEG or BMP; the whole payload is decoded
only when it does not.

What it must never do: give an image a different verdict than decoding it whole would.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Iterator, Mapping
from typing import Any

from PIL import Image

from bot.simulator.contracts import Endpoint, strict_base64
from bot.simulator.failures import INVALID_DIMENSIONS, INVALID_IMAGE, TaskError


def input_image_error(contract: Endpoint, request: Mapping[str, Any]) -> TaskError | None:
    """The failure the task will end with because of its input images, if any.

    ``request`` is the accepted record, so every media value in it is already a URL or a
    ``data:`` URI of a documented format.
    """
    for rule in contract.media_fields():
        media = rule.media
        if media is None or media.min_side is None or media.max_side is None:
            continue  # not an image (audio), or no side limits documented
        for reference in _references(request.get(rule.name)):
            if not reference.startswith("data:"):
                continue
            size = image_size(reference)
            if size is None:
                return INVALID_IMAGE
            if not all(media.min_side <= side <= media.max_side for side in size):
                return INVALID_DIMENSIONS
    return None


# How much of a payload is decoded to look for the header: a multiple of four characters, so
# it decodes on its own to exactly the first 384 KiB of the file.
HEADER_CHARS = 512 * 1024
# The formats whose Pillow reader needs only the header, each with its own magic number: one
# of them opening the prefix means the same reader opens the whole file, to the same size
# (WEBP's reader takes the whole file, so a prefix would not help it).
_HEADER_FORMATS = ("PNG", "JPEG", "BMP")


def image_size(data_uri: str) -> tuple[int, int] | None:
    """Width and height read from the image header, or None when it is not a readable image.

    The verdict is that of decoding the whole payload strictly and opening it with Pillow; a
    payload longer than :data:`HEADER_CHARS` that is well-formed base64 throughout (checked
    without decoding it) is first tried from its decoded prefix alone.
    """
    payload = data_uri.partition(",")[2]
    if len(payload) > HEADER_CHARS and strict_base64(payload):
        size = _open_size(payload[:HEADER_CHARS], _HEADER_FORMATS)
        if size is not None:
            return size
    return _open_size(payload, None)


def _open_size(payload: str, formats: tuple[str, ...] | None) -> tuple[int, int] | None:
    try:
        raw = base64.b64decode(payload, validate=True)
        with Image.open(io.BytesIO(raw), formats=formats) as image:
            return image.size
    except (binascii.Error, OSError, ValueError, Image.DecompressionBombError):
        return None


def _references(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        yield from (item for item in value if isinstance(item, str))
