"""The terminal says "pass" and "downloaded" where a channel says "attach" and "posted" (#13).

The core's messages speak to a member in a channel; ``generate`` prints them in a terminal,
where nothing is attached, posted or retried with a button.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.catalog import VIDEO_INPUT_BOUNDS
from bot.cli.terminal import for_terminal
from bot.jobs.engine import RESTARTED_MID_CREATE
from bot.media import MediaRejected
from bot.media.images import prepare_image
from bot.providers.errors import SubmissionOutcomeUnknown
from tests.cli.support import run_bot

CHANNEL_WORDS = re.compile(r"\b(attach\w*|post(ed|ing)?|Retry)\b", re.IGNORECASE)


@pytest.mark.parametrize(
    ("member", "terminal"),
    [
        (
            "x.gif isn't an image this bot can read; Convert it to JPEG or PNG and attach it "
            "again.",
            "x.gif isn't an image this bot can read; Convert it to JPEG or PNG and pass it again.",
        ),
        (
            "x.png is empty (0 bytes). Attach the image again.",
            "x.png is empty (0 bytes). Pass the image again.",
        ),
        (
            "x.png looks damaged or incomplete. Save or export it again and attach the new file.",
            "x.png looks damaged or incomplete. Save or export it again and pass the new file.",
        ),
        (
            "a.mp4 is a video (MP4), not audio: attach a WAV or MP3 file of 3 to 30 seconds "
            "instead.",
            "a.mp4 is a video (MP4), not audio: pass a WAV or MP3 file of 3 to 30 seconds instead.",
        ),
        ("must be an attached image (JPEG, PNG)", "must be an image file (JPEG, PNG)"),
        ("The size must be one of: 832*480.", "The size must be one of: 832*480."),
    ],
)
def test_member_words_become_terminal_words(member: str, terminal: str) -> None:
    assert for_terminal(member) == terminal


@pytest.mark.parametrize(
    "message",
    [RESTARTED_MID_CREATE, SubmissionOutcomeUnknown.user_message],
    ids=["restart", "unknown"],
)
def test_the_cores_unknown_outcome_notices_read_right_in_a_terminal(message: str) -> None:
    said = for_terminal(message)
    assert not CHANNEL_WORDS.search(said), said
    assert "no result will come for it" in said
    assert "run the command again" in said


def test_a_refused_file_names_no_channel_action() -> None:
    with pytest.raises(MediaRejected) as refused:
        prepare_image(b"not an image", VIDEO_INPUT_BOUNDS, name="bad.jpg")
    assert "attach" in str(refused.value).lower()  # the member's words, for a channel
    assert not CHANNEL_WORDS.search(for_terminal(str(refused.value)))


async def test_generate_says_pass_not_attach(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    run = await run_bot(
        "generate",
        "wan2.5-i2i-preview",
        "--simulate",
        "--prompt",
        "x",
        "--image",
        str(bad),
        cwd=tmp_path,
    )
    assert run.returncode == 1
    [line] = run.err_lines
    assert line.startswith("error: bad.jpg isn't an image"), run.stderr
    assert line.endswith("and pass it again."), run.stderr
    assert not CHANNEL_WORDS.search(line), line
