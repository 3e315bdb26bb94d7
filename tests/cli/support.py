"""Running ``python -m bot`` as a real subprocess, with a clean environment."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

RUN_TIMEOUT = 60.0
_PRIVATE_PREFIXES = ("DISCORD_", "MULEROUTER_", "VTRIX_", "WAN_", "WANBOT_")


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def err_lines(self) -> list[str]:
        return self.stderr.splitlines()


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any bot setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(_PRIVATE_PREFIXES)}
    env.update(extra)
    return env


async def run_bot(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Run:
    """``python -m bot <args>`` in ``cwd``; the event loop keeps serving in-process simulators."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=cwd,
        env=env if env is not None else clean_env(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())
