# wanbot: python -m bot run, as a non-root user, with the SQLite database on the /data volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    WANBOT_DATABASE=/data/wanbot.sqlite3

RUN useradd --create-home --uid 10001 wanbot \
    && mkdir -p /data \
    && chown wanbot:wanbot /data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY cogs ./cogs
RUN pip install .

USER wanbot
VOLUME ["/data"]
# docker stop sends SIGTERM; the bot persists its state and exits well within the grace period.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "bot", "run"]
