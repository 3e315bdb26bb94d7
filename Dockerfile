# wanbot: python -m bot run from the installed wheel, as a non-root user, data on /data.
#
# Two stages. "wheel" builds the package from the source; the final image installs the pinned
# dependencies from requirements.lock first (a layer that only a change of the lock rebuilds),
# then the wheel alone with --no-deps. No source tree is left in the image.

FROM python:3.11-slim AS wheel
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY cogs ./cogs
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    WANBOT_DATABASE=/data/wanbot.sqlite3

RUN useradd --create-home --uid 10001 --user-group wanbot \
    && mkdir -p /data \
    && chown wanbot:wanbot /data

# The dependencies, hash-checked, exactly as locked: unchanged by a code change.
COPY requirements.lock /tmp/requirements.lock
RUN pip install --no-compile --require-hashes -r /tmp/requirements.lock \
    && rm /tmp/requirements.lock

# The package itself; the build fails (run from /, where there is no source) if the migrations
# did not ship in the wheel.
COPY --from=wheel /wheels/ /tmp/wheels/
RUN pip install --no-deps /tmp/wheels/wanbot-*.whl \
    && rm -rf /tmp/wheels \
    && python -c "from bot.jobs.migrations import load_migrations; load_migrations()"

USER 10001:10001
# Relative paths land on the volume: `generate` writes ./out (= /data/out), `backup .` writes a
# dated copy into /data, and a ./.env there is read too.
WORKDIR /data
VOLUME ["/data"]
# The bot's HTTP server (WANBOT_HTTP_HOST, default 127.0.0.1) is reached from inside the
# container. Slim images have no curl: Python's urllib, which fails on anything but 2xx.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; h = os.environ.get('WANBOT_HTTP_HOST', '127.0.0.1'); h = '127.0.0.1' if h in ('', '0.0.0.0', '::') else h; u.urlopen('http://%s:%s/readyz' % (h, os.environ.get('WANBOT_HTTP_PORT', '8080')), timeout=4)"]
# docker stop sends SIGTERM; the bot persists its state and exits well within the grace period.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "bot", "run"]
