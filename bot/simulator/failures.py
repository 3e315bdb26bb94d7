"""The ways a simulated task can fail, with the codes and words the providers use.

Why this module exists: clients map failure codes and texts to what a member reads (a content
refusal reads differently from an outage), so the simulator must produce the documented codes
3001–3005 with plausible titles and details, including 3005 "prompt violation".
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TaskError:
    code: int
    title: str
    detail: str


INVALID_DIMENSIONS = TaskError(3001, "Task Execution Error", "Invalid image dimensions")
INVALID_IMAGE = TaskError(3001, "Task Execution Error", "Invalid image file")

_RANDOM_FAILURES: dict[int, tuple[TaskError, ...]] = {
    3001: (TaskError(3001, "Task Execution Error", "Model inference failed"),),
    3002: (TaskError(3002, "Task Timeout", "The model did not finish in time"),),
    3003: (TaskError(3003, "Resource Unavailable", "No model capacity available, retry later"),),
    3004: (TaskError(3004, "Output Error", "The generated result could not be stored"),),
    3005: (
        TaskError(3005, "External service execution failed", "prompt violation"),
        TaskError(3005, "External service execution failed", "upstream service error"),
    ),
}


def random_failure(rng: random.Random) -> TaskError:
    """A failure with a code drawn evenly from 3001–3005."""
    return rng.choice(_RANDOM_FAILURES[rng.randint(3001, 3005)])
