"""Gateway transport compression: one deflate stream per connection, or plain text.

Why this module exists: discord.py asks for ``compress=zlib-stream`` (``zstd-stream`` when
zstandard is installed) and decompresses until the ``Z_SYNC_FLUSH`` marker ``00 00 ff ff``;
every frame of a connection must come from the same compressor, in order.
"""

from __future__ import annotations

import zlib

ZLIB_SUFFIX = b"\x00\x00\xff\xff"


class FrameEncoder:
    """Turns JSON text into what goes on the wire for the ``compress`` the URL asked for."""

    def __init__(self, compress: str | None) -> None:
        self.mode: str | None = None
        self._zlib = None
        self._zstd = None
        if compress == "zlib-stream":
            self.mode = "zlib-stream"
            self._zlib = zlib.compressobj()
        elif compress == "zstd-stream":
            try:
                import zstandard  # type: ignore[import-not-found]
            except ImportError:  # plain text frames are accepted by discord.py too
                pass
            else:
                self.mode = "zstd-stream"
                self._zstd = zstandard.ZstdCompressor().compressobj()
                self._zstd_flush = zstandard.COMPRESSOBJ_FLUSH_BLOCK

    def encode(self, text: str) -> bytes | str:
        if self._zlib is not None:
            raw = text.encode()
            return self._zlib.compress(raw) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
        if self._zstd is not None:
            return self._zstd.compress(text.encode()) + self._zstd.flush(self._zstd_flush)
        return text
