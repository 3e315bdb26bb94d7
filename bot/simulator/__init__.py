"""A local stand-in for the MuleRouter and Vtrix APIs, for tests, benchmarks and development.

Why this package exists: the real services bill per generation, take minutes and fail in ways
that are hard to provoke. The simulator serves both contracts on loopback with their status
words, error shapes and result media, runs at any speed, and injects failures and HTTP faults
(scripted or seeded-random) so clients can be tested on every path, including "the create may or
may not have happened". It judges requests by its own reading of the provider documents
(:mod:`bot.simulator.contracts`, ``docs/providers.md``), never by the bot's catalog, so a wrong
limit in the catalog shows up as a refusal instead of passing on both sides.

Use in Python::

    async with SimulatorServer(SimulatorConfig(speed=100, seed=1)) as sim:
        sim.state.push_faults(ScriptedFault(kind="rate_limit", target="create", count=2))
        ...  # point a client at sim.base_url with key DEFAULT_MULEROUTER_KEY

or run ``python -m bot simulator`` (see :mod:`bot.simulator.cli`).
"""

from bot.simulator.cli import add_simulator_arguments, config_from_args, serve
from bot.simulator.config import (
    DEFAULT_KEYS,
    DEFAULT_MULEROUTER_KEY,
    DEFAULT_VTRIX_KEY,
    SimulatorConfig,
)
from bot.simulator.faults import FaultKind, FaultPhase, FaultTarget, ScriptedFault
from bot.simulator.recorder import RecordedRequest
from bot.simulator.server import SimulatorServer
from bot.simulator.state import SimulatorState
from bot.simulator.tasks import SimTask, TaskPhase

__all__ = [
    "DEFAULT_KEYS",
    "DEFAULT_MULEROUTER_KEY",
    "DEFAULT_VTRIX_KEY",
    "FaultKind",
    "FaultPhase",
    "FaultTarget",
    "RecordedRequest",
    "ScriptedFault",
    "SimTask",
    "SimulatorConfig",
    "SimulatorServer",
    "SimulatorState",
    "TaskPhase",
    "add_simulator_arguments",
    "config_from_args",
    "serve",
]
