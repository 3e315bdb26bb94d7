"""Usage reports over the ledger: totals for commands, and the CSV export.

Why this module exists: the people paying need to see who spent what, and an export they can
open in a spreadsheet must add up to exactly what the bot shows (both come from the same
ledger rows, in integer micro-dollars until the last step).
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from bot.jobs.storage import JobStore

CSV_COLUMNS = (
    "entry_id",
    "recorded_at_utc",
    "period_utc",
    "job_id",
    "user_id",
    "guild_id",
    "model",
    "entry",
    "amount_usd",
    "billed",
    "job_state",
    "note",
)


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


async def ledger_csv(store: JobStore, *, since: float, guild_id: int | None = None) -> str:
    """Every ledger entry since ``since`` (for one server, or all), one CSV row each.

    ``amount_usd`` is exact (no float rounding); summing the column per job gives each job's
    charge, and summing it all gives the period's spend.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    async for row in store.ledger_rows(since=since, guild_id=guild_id):
        writer.writerow(
            (
                row.id,
                _iso(row.created_at),
                _iso(row.charged_at),
                row.job_id,
                row.user_id,
                "" if row.guild_id is None else row.guild_id,
                row.model_id,
                row.entry,
                f"{row.amount:f}",
                "yes" if row.billed else "no",
                row.job_state,
                row.note,
            )
        )
    return out.getvalue()
