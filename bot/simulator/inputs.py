"""Checks on input images that the real service makes only after accepting a task.

Why this module exists: upstream accepts an image of the wrong size with 202 and fails the task
later ("Invalid image dimensions"), so a client that skips its own checks pays a round trip and
sees a task failure, not a 400. The simulator reproduces that by reading ``data:`` URI headers.
Remote ``http(s)`` images are taken on trust (the simulator never leaves loopback).
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Iterator

from PIL import Image

from bot.catalog import MediaRole, ModelSpec, PixelBounds, WanRequest
from bot.simulator.failures import INVALID_DIMENSIONS, INVALID_IMAGE, TaskError


def input_image_error(spec: ModelSpec, request: WanRequest) -> TaskError | None:
    """The failure the task will end with because of its input images, if any."""
    if spec.image_bounds is None:
        return None
    for reference in _image_references(request):
        if not reference.startswith("data:"):
            continue
        size = image_size(reference)
        if size is None:
            return INVALID_IMAGE
        if not _within(size, spec.image_bounds):
            return INVALID_DIMENSIONS
    return None


def image_size(data_uri: str) -> tuple[int, int] | None:
    """Width and height read from the image header, or None when it is not a readable image."""
    try:
        raw = base64.b64decode(data_uri.partition(",")[2], validate=True)
        with Image.open(io.BytesIO(raw)) as image:
            return image.size
    except (binascii.Error, OSError, ValueError, Image.DecompressionBombError):
        return None


def _within(size: tuple[int, int], bounds: PixelBounds) -> bool:
    return all(bounds.min_side <= side <= bounds.max_side for side in size)


def _image_references(request: WanRequest) -> Iterator[str]:
    for name, role in request.media_fields().items():
        value = getattr(request, name)
        if role is MediaRole.IMAGE and isinstance(value, str):
            yield value
        elif role is MediaRole.IMAGES and isinstance(value, list):
            yield from value
