"""Drop an image file's metadata at the byte level, leaving its pixels' bytes untouched.

Why this module exists: a phone photo carries where it was taken (EXIF GPS), the camera's serial
number, editing history (XMP), captions (IPTC, comments, PNG text). Whatever the bot sends
upstream is also posted publicly (the status message shows the inputs), so none of it may pass.
Re-encoding would remove it too, but costs CPU and a generation of JPEG loss; here the
container is rewritten without its metadata segments and the compressed image data is copied
byte for byte:

- JPEG: every APPn and COM segment goes, except the JFIF header (APP0, its thumbnail dropped),
  the ICC profile (APP2 ``ICC_PROFILE``) and Adobe's colour-transform marker (APP14), which
  say how to read the pixels; anything after the first image's EOI (the extra pictures of an
  MPO, trailing junk) goes too.
- PNG: every ancillary chunk goes except those that describe the pixels (``tRNS``, ``iCCP``,
  ``sRGB``, ``gAMA``, ``cHRM``, ``cICP``, ``sBIT``, ``pHYs``); so ``tEXt``/``zTXt``/``iTXt``,
  ``eXIf``, ``tIME`` and anything unknown go; nothing after ``IEND`` is kept.
- WebP: the ``EXIF`` and ``XMP`` chunks (and unknown ones) leave the RIFF container, the VP8X
  flags and the RIFF size are fixed to match.
- BMP has no metadata blocks; it is returned as it is.

The EXIF orientation is not this module's business: a rotated photo must be re-encoded upright
(:mod:`bot.media.images` does that) before its orientation tag can go.

What it must never do: decode or change pixel data, keep a block it does not know, or accept a
container whose lengths do not add up (:class:`MetadataError`, a ``ValueError``: the caller
treats it as a damaged file).
"""

from __future__ import annotations

import re
import struct

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# PNG ancillary chunks that describe how to read the pixels, not who made them or where.
PNG_KEPT_ANCILLARY = frozenset(
    {b"tRNS", b"iCCP", b"sRGB", b"gAMA", b"cHRM", b"cICP", b"sBIT", b"pHYs"}
)
# WebP chunks that carry the image (and its colour profile), in a still image.
WEBP_KEPT_CHUNKS = frozenset({b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ICCP"})
_VP8X_EXIF = 0x08
_VP8X_XMP = 0x04

_SOI = b"\xff\xd8"
_EOI = 0xD9
_SOS = 0xDA
_COM = 0xFE
_APP0, _APP2, _APP14, _APP15 = 0xE0, 0xE2, 0xEE, 0xEF
# Markers that stand alone (no length): TEM, RST0-7 (SOI and EOI handled apart).
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
# In entropy-coded data a marker is 0xFF followed by neither 0x00 (a stuffed byte) nor RSTn.
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7]")
_JFIF = b"JFIF\x00"
_JFIF_HEADER_BYTES = 14  # "JFIF\0", version (2), units (1), densities (2 × 2), thumbnail size (2)


class MetadataError(ValueError):
    """The container's structure is broken: lengths run past the end, markers are missing."""


def strip_metadata(data: bytes) -> bytes:
    """``data`` without its metadata (see the module docstring), or ``data`` itself when there
    was none; the format is recognised from the bytes. Unknown formats are returned as they are.
    """
    if data.startswith(_SOI):
        return strip_jpeg(data)
    if data.startswith(PNG_SIGNATURE):
        return strip_png(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return strip_webp(data)
    return data


def is_image_file(head: bytes) -> bool:
    """Whether the first 12 bytes of a file are a JPEG, PNG or WebP signature."""
    return (
        head.startswith(_SOI)
        or head.startswith(PNG_SIGNATURE)
        or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
    )


# --- JPEG -------------------------------------------------------------------------------------


def _keep_jpeg_segment(marker: int, payload: bytes) -> bytes | None:
    """The segment's payload to keep (possibly trimmed), or None to drop it."""
    if marker == _COM or (_APP0 <= marker <= _APP15 and marker not in (_APP0, _APP2, _APP14)):
        return None
    if marker == _APP0:
        if not payload.startswith(_JFIF) or len(payload) < _JFIF_HEADER_BYTES:
            return None  # JFXX (a thumbnail) or another APP0
        # The JFIF header without its embedded thumbnail.
        return payload[: _JFIF_HEADER_BYTES - 2] + b"\x00\x00"
    if marker == _APP2:
        return payload if payload.startswith(b"ICC_PROFILE\x00") else None
    if marker == _APP14:
        return payload if payload.startswith(b"Adobe") else None
    return payload


def strip_jpeg(data: bytes) -> bytes:
    """A JPEG without APPn (but JFIF, ICC, Adobe) and COM segments, ending at its first EOI."""
    if not data.startswith(_SOI):
        raise MetadataError("not a JPEG")
    out = bytearray(_SOI)
    pos = 2
    size = len(data)
    while True:
        # Markers may be preceded by any number of 0xFF fill bytes.
        if pos >= size or data[pos] != 0xFF:
            raise MetadataError("JPEG marker expected")
        while pos < size and data[pos] == 0xFF:
            pos += 1
        if pos >= size:
            raise MetadataError("JPEG ends inside a marker")
        marker = data[pos]
        pos += 1
        if marker == _EOI:
            out += b"\xff\xd9"
            break
        if marker in _STANDALONE:
            out += bytes((0xFF, marker))
            continue
        if pos + 2 > size:
            raise MetadataError("JPEG ends inside a segment length")
        (length,) = struct.unpack_from(">H", data, pos)
        end = pos + length
        if length < 2 or end > size:
            raise MetadataError("JPEG segment runs past the end of the file")
        payload = data[pos + 2 : end]
        pos = end
        if marker == _SOS:
            found = _NEXT_MARKER.search(data, pos)
            if found is None:
                raise MetadataError("JPEG scan has no end")
            out += bytes((0xFF, marker)) + struct.pack(">H", length) + payload
            out += data[pos : found.start()]
            pos = found.start()
            continue
        kept = _keep_jpeg_segment(marker, payload)
        if kept is not None:
            out += bytes((0xFF, marker)) + struct.pack(">H", len(kept) + 2) + kept
    stripped = bytes(out)
    return data if stripped == data else stripped


# --- PNG --------------------------------------------------------------------------------------


def strip_png(data: bytes) -> bytes:
    """A PNG of its critical chunks and those that say how to read the pixels, ending at IEND."""
    if not data.startswith(PNG_SIGNATURE):
        raise MetadataError("not a PNG")
    view = memoryview(data)
    kept: list[memoryview] = [view[: len(PNG_SIGNATURE)]]
    pos = len(PNG_SIGNATURE)
    size = len(data)
    dropped = False
    while True:
        if pos + 8 > size:
            raise MetadataError("PNG ends before IEND")
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length
        if end > size:
            raise MetadataError("PNG chunk runs past the end of the file")
        critical = kind[0:1].isupper()
        if critical or kind in PNG_KEPT_ANCILLARY:
            kept.append(view[pos:end])
        else:
            dropped = True
        pos = end
        if kind == b"IEND":
            break
    if not dropped and pos == size:
        return data  # nothing to remove: no copy of megabytes
    return b"".join(kept)


# --- WebP -------------------------------------------------------------------------------------


def strip_webp(data: bytes) -> bytes:
    """A WebP without EXIF, XMP or unknown chunks; VP8X flags and the RIFF size made to match."""
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise MetadataError("not a WebP")
    (riff_size,) = struct.unpack_from("<I", data, 4)
    size = riff_size + 8
    if size > len(data) or riff_size < 4:
        raise MetadataError("WebP RIFF size runs past the end of the file")
    chunks: list[bytes] = []
    pos = 12
    while pos < size:
        if pos + 8 > size:
            raise MetadataError("WebP ends inside a chunk header")
        kind, length = struct.unpack_from("<4sI", data, pos)
        end = pos + 8 + length + (length & 1)
        if pos + 8 + length > size:
            raise MetadataError("WebP chunk runs past the end of the file")
        if kind in WEBP_KEPT_CHUNKS:
            chunk = data[pos : min(end, size)]
            if kind == b"VP8X":
                if length < 10:
                    raise MetadataError("WebP VP8X chunk too short")
                flags = chunk[8] & ~(_VP8X_EXIF | _VP8X_XMP)
                chunk = chunk[:8] + bytes((flags,)) + chunk[9:]
            if len(chunk) & 1:
                chunk += b"\x00"
            chunks.append(chunk)
        pos = end
    body = b"".join(chunks)
    stripped = b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body
    return data if stripped == data else stripped
