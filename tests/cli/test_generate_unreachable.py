"""``python -m bot generate`` against a provider URL nothing answers (issue #13).

A mistyped base URL used to mean minutes of silence (the engine tries a create that could not
connect five times, 30 s, 60 s, 120 s and 240 s apart) before one error line. The status line
must say at once that the provider is unreachable and that the create is being retried: a
refused connection proves nothing was sent, so retrying it can never bill twice.
"""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import sys
from pathlib import Path

import pytest

from tests.cli.support import clean_env

pytestmark = pytest.mark.timeout(60)

RETRY_LINE = re.compile(
    r"^\[provider unreachable, retrying \(attempt 2\)\] · elapsed \d+:\d\d( · ETA ~\d+:\d\d)?$"
)


def closed_port_url() -> str:
    """A loopback URL nothing listens on: connecting to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


async def test_an_unreachable_provider_shows_the_retry_before_any_error(tmp_path: Path) -> None:
    env = clean_env(MULEROUTER_BASE_URL=closed_port_url(), MULEROUTER_API_KEY="a-key")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "generate",
        "wan2.2-t2v-plus",
        "--prompt",
        "a cat",
        cwd=tmp_path,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    seen: list[str] = []
    try:
        while not (seen and RETRY_LINE.match(seen[-1])):
            raw = await process.stderr.readline()
            assert raw, f"generate ended without a retry line: {seen}"
            seen.append(raw.decode().rstrip("\n"))
            assert not seen[-1].startswith("error:"), seen  # the retry is shown first
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)  # the operator, having read the line
        rest = (await process.communicate())[1].decode()

    assert seen[0].startswith("submitting wan2.2-t2v-plus to mulerouter"), seen
    assert seen[1:] == [seen[-1]]  # nothing between: the retry is the first status shown
    assert "a-key" not in "\n".join(seen) + rest
    assert process.returncode == 130, rest
    assert "interrupted" in rest
