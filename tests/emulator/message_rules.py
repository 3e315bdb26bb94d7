"""The checks every message write goes through, wherever it comes from.

Why this module exists: a channel send, an interaction response and a webhook followup share
Discord's order of refusals: 413 for an oversized file first (the edge rejects it before the
API reads the body), then 50035 for content, embed and component limits.
"""

from __future__ import annotations

from typing import Any

from tests.emulator.errors import invalid_form, too_large
from tests.emulator.recorder import UploadedFile
from tests.emulator.rules import Rules
from tests.emulator.validation import Problems, components_problems, message_problems


def check_uploads(files: list[UploadedFile], limit: int) -> None:
    for upload in files:
        if upload.size > limit:
            raise too_large()


def check_message(
    rules: Rules,
    payload: dict[str, Any],
    prefix: tuple[str | int, ...] = (),
    *,
    current_flags: int = 0,
) -> None:
    """``current_flags``: the edited message's flags, used when the edit does not set any."""
    problems: Problems = {}
    if rules.enforce_message_limits:
        problems.update(message_problems(payload))
    if rules.enforce_component_limits and "components" in payload:
        flags = payload.get("flags")
        problems.update(
            components_problems(
                payload.get("components"), int(current_flags if flags is None else flags)
            )
        )
    if problems:
        raise invalid_form({prefix + path: problem for path, problem in problems.items()})
