"""Input media waiting for submission, on disk under its SHA-256.

Why this module exists: a member's attachment is checked and normalised once, then must survive
a crash until the provider has accepted the task (Discord's CDN links expire, so it cannot be
fetched again later). Files are content-addressed, so two jobs with the same image share one
file, and written atomically, so a crash never leaves a half-written input under its name.

The store deletes a file only when no job still waiting for submission refers to it
(:meth:`bot.jobs.store.Store.mark_running` says which).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


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
