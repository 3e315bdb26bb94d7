"""Checks on input images that the real service makes only after accepting a task.

Why this module exists: upstream accepts an image of the wrong size with 202 and fails the task
later ("Invalid image dimensions"), so a client that skips its own checks pays a round trip and
sees a task failure, not a 400. The simulator reproduces that by reading ``data:`` URI headers
against the side limits of each media field in :mod:`bot.simulator.contracts`
(``docs/providers.md#input-media``). Remote ``http(s)`` images are taken on trust (the simulator
never leaves loopback).
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Iterator, Mapping
from typing import Any

from PIL import Image

from bot.simulator.contracts import Endpoint
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


def image_size(data_uri: str) -> tuple[int, int] | None:
    """Width and height read from the image header, or None when it is not a readable image."""
    try:
        raw = base64.b64decode(data_uri.partition(",")[2], validate=True)
        with Image.open(io.BytesIO(raw)) as image:
            return image.size
    except (binascii.Error, OSError, ValueError, Image.DecompressionBombError):
        return None


def _references(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        yield from (item for item in value if isinstance(item, str))
