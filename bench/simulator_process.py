"""The provider simulator as its own process, for the benchmarks.

Why this module exists: a benchmark's figures (RSS, CPU, latency) must be the bot's own, so
the simulator runs beside it as ``python -m bot simulator`` on a free loopback port, steered
through its ``/_sim/`` control API. Every benchmark starts it the same way, here.

What it must never do: listen anywhere but 127.0.0.1, or outlive the benchmark that started
it (the child asks the kernel for SIGTERM when its parent dies).
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

REPO_ROOT = Path(__file__).resolve().parents[1]


def process_cpu_seconds(pid: int) -> float:
    """user + system CPU of another process, from ``/proc/<pid>/stat``."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Simulator:
    process: subprocess.Popen[bytes]
    base_url: str
    keys: dict[str, str]
    log_path: Path

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    async def get(self, path: str) -> Any:
        async with (
            aiohttp.ClientSession() as session,
            session.get(self.base_url + path, timeout=aiohttp.ClientTimeout(total=60)) as answer,
        ):
            answer.raise_for_status()
            return await answer.json()

    async def configure(self, changes: dict[str, Any]) -> None:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                self.base_url + "/_sim/config",
                json=changes,
                timeout=aiohttp.ClientTimeout(total=10),
            ) as answer,
        ):
            if answer.status != 200:
                raise RuntimeError(f"simulator refused the config: {await answer.text()}")


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the benchmark dies without cleaning up (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start_simulator(folder: Path, *, speed: float = 1.0, seed: int = 1) -> Simulator:
    """``python -m bot simulator`` on a free loopback port; its output goes to a log file."""
    log_path = folder / "simulator.log"
    command = [sys.executable, "-m", "bot", "simulator", "--host", "127.0.0.1", "--port", "0"]
    command += ["--speed", repr(speed), "--seed", str(seed)]
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in log_path.read_text(errors="replace").splitlines():
            if "simulator listening on " in line:
                # "simulator listening on http://127.0.0.1:PORT (...); keys: mulerouter=K, vtrix=K"
                base_url = line.split("listening on ", 1)[1].split()[0]
                keys = dict(
                    item.strip().split("=", 1) for item in line.split("keys: ", 1)[1].split(",")
                )
                if not base_url.startswith("http://127.0.0.1:"):
                    raise RuntimeError(f"simulator is not on loopback: {base_url}")
                return Simulator(process, base_url, keys, log_path)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    process.wait()
    raise RuntimeError("the simulator did not start:\n" + log_path.read_text(errors="replace"))
