# Slim runtime image: Python, ffmpeg from Debian, the streamer as a non-root user.
# The Debian release is pinned (bookworm, 12): its ffmpeg 5.1 is one the suite runs with
# (docs/transcoding.md); a moving tag would change ffmpeg under the image.
# The web admin's front-end libraries come from npm at build time (scripts/assets), never
# from a CDN at run time.
FROM node:20-bookworm-slim AS assets
WORKDIR /src
COPY web/package.json web/package-lock.json web/
RUN npm ci --prefix web --no-audit --no-fund --ignore-scripts --loglevel=error
COPY scripts/assets scripts/need scripts/
COPY streamer/admin/static streamer/admin/static
RUN bash scripts/assets

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
# The dependencies at the locked versions, checked against the lock's hashes
# (requirements/runtime.txt, `make lock`), then the streamer itself without resolving.
COPY requirements/runtime.txt requirements/runtime.txt
RUN pip wheel --no-cache-dir --wheel-dir /wheels --require-hashes -r requirements/runtime.txt
COPY pyproject.toml README.md ./
COPY streamer streamer
COPY --from=assets /src/streamer/admin/static/vendor streamer/admin/static/vendor
COPY transcoder transcoder
COPY packager packager
RUN pip wheel --no-cache-dir --wheel-dir /wheels --no-deps .

FROM python:3.11-slim-bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends 'ffmpeg=7:5.1.*' curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --home-dir /var/lib/streamer --uid 10001 streamer
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index /wheels/* && rm -rf /wheels
USER streamer
ENV STREAMER_DATA_DIR=/var/lib/streamer STREAMER_HOST=0.0.0.0 STREAMER_PORT=8000
VOLUME ["/var/lib/streamer"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8000/healthz || exit 1
ENTRYPOINT ["streamer"]
CMD ["serve", "--library", "/music"]
