# wanbot: python -m bot run, as a non-root user, with the SQLite database on the /data volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    WANBOT_DATABASE=/data/wanbot.sqlite3

RUN useradd --create-home --uid 10001 wanbot \
    && mkdir -p /data \
    && chown wanbot:wanbot /data

# The image runs the installed package, not a copy of the source: the tree is removed once
# installed, and the build fails (from /, away from any source) if the migrations did not ship.
COPY pyproject.toml README.md /tmp/wanbot-src/
COPY bot /tmp/wanbot-src/bot
COPY cogs /tmp/wanbot-src/cogs
RUN pip install /tmp/wanbot-src \
    && rm -rf /tmp/wanbot-src \
    && cd / && python -c "from bot.jobs.migrations import load_migrations; load_migrations()"

USER wanbot
WORKDIR /home/wanbot
VOLUME ["/data"]
# docker stop sends SIGTERM; the bot persists its state and exits well within the grace period.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "bot", "run"]
