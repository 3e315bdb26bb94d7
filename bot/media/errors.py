"""The one error type of :mod:`bot.media`, and the size wording its messages share.

Why this module exists: every refusal of a member's file must end up in front of that member, in
words that say what to change. Keeping the exception and the "MB" formatting in one place keeps
images, audio and downloads saying it the same way.
"""

from __future__ import annotations

MIB = 1024 * 1024


class MediaRejected(Exception):
    """A member's file can't be used. ``user_message`` (also ``str(exc)``) is safe to show them.

    The message names the file, the problem and what to do about it; it never contains file
    contents, URLs with tokens or library internals (those belong in the ``__cause__``).
    """

    def __init__(self, user_message: str) -> None:
        self.user_message = user_message
        super().__init__(user_message)


def megabytes(size: int) -> str:
    """``10485760`` -> ``"10 MB"``, ``12_000_000`` -> ``"11.4 MB"`` (MiB, as Discord counts).

    A size just over a limit keeps enough decimals not to read as the limit itself.
    """
    value = size / MIB
    if value == int(value):
        return f"{value:.0f} MB"
    text = f"{value:.1f}"
    if text.endswith(".0"):
        text = f"{value:.2f}"
    return f"{text} MB"
