"""Running a bot as a real process against the emulator, and stopping or killing it.

Why this module exists: the bot under test is the unmodified program, started with
``python -m tests.emulator.launch`` from the repository root; tests need its output on
failure, a graceful stop (SIGINT), and SIGKILL for crash-and-restart scenarios.
"""

# Waiting helpers take a ``timeout`` in seconds, as the tests call them.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Awaitable
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.waiting import WaitTimeout, wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]


class BotProcess:
    """``async with BotProcess(emulator, env={...}) as bot:`` runs ``python -m bot run``;
    ``module="tests.emulator_tests.sample_bot"`` runs another bot's ``main()`` instead."""

    def __init__(
        self,
        emulator: Any,
        *,
        module: str | None = None,
        args: list[str] | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | str = REPO_ROOT,
        echo: bool = False,
    ) -> None:
        self._emulator = emulator
        self.module = module
        self.args = list(args or [])
        self.extra_env = dict(env or {})
        self.cwd = Path(cwd)
        self.echo = echo
        self.lines: list[str] = []
        self.starts = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    async def start(self) -> None:
        if self.running:
            raise RuntimeError("the bot process is already running")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self._emulator.env(), **self.extra_env}
        command = [sys.executable, "-m", "tests.emulator.launch"]
        if self.module:
            command += ["--module", self.module]
        if self.args:
            command += ["--", *self.args]
        self.lines.append(f"--- start #{self.starts + 1}: {' '.join(command[1:])}")
        self._proc = await asyncio.create_subprocess_exec(
            *command,
            cwd=str(self.cwd),
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self.starts += 1
        self._reader = asyncio.ensure_future(self._read(self._proc))

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines.append(line)
            if self.echo:
                print(f"[bot] {line}", file=sys.stderr)
            self._changed.set()
        self._changed.set()

    async def wait_for_output(self, text: str, timeout: float = 10.0) -> str:
        """The first output line containing ``text``; gives up at once if the bot exited
        without printing one."""

        def found() -> str | None:
            line = next((line for line in self.lines if text in line), None)
            if line is None and not self.running and self._reader and self._reader.done():
                raise WaitTimeout(
                    f"bot exited; its output never contained {text!r}:\n{self.tail()}"
                )
            return line

        return await wait_until(
            found,
            timeout=timeout,
            interval=0.5,
            message=lambda: f"bot output containing {text!r}:\n{self.tail()}",
            wake=self._next_line,
        )

    def _next_line(self) -> Awaitable[bool]:
        """Waits for the next output line (cleared now: what came before was looked at)."""
        self._changed.clear()
        return self._changed.wait()

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.lines[-lines:])

    async def wait_exit(self, timeout: float = 10.0) -> int:
        assert self._proc is not None
        code = await asyncio.wait_for(self._proc.wait(), timeout)
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, 2.0)
        return code

    async def kill(self) -> int:
        """SIGKILL, as a crash: no close frame, no cleanup."""
        if not self.running:
            return self.returncode or 0
        assert self._proc is not None
        self._proc.send_signal(signal.SIGKILL)
        return await self.wait_exit()

    async def stop(self, timeout: float = 8.0) -> int | None:
        """SIGINT (discord.py closes cleanly), then SIGKILL if it lingers."""
        if not self.running:
            return self.returncode
        assert self._proc is not None
        self._proc.send_signal(signal.SIGINT)
        try:
            return await self.wait_exit(timeout)
        except TimeoutError:
            return await self.kill()

    async def restart(self) -> None:
        await self.kill()
        await self.start()

    async def __aenter__(self) -> BotProcess:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
