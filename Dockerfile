# Slim runtime image: Python, ffmpeg from Debian, the streamer as a non-root user.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY streamer streamer
COPY transcoder transcoder
COPY packager packager
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --home-dir /var/lib/streamer --uid 10001 streamer
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/* && rm -rf /wheels
USER streamer
ENV STREAMER_DATA_DIR=/var/lib/streamer STREAMER_HOST=0.0.0.0 STREAMER_PORT=8000
VOLUME ["/var/lib/streamer"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8000/healthz || exit 1
ENTRYPOINT ["streamer"]
CMD ["serve", "--library", "/music"]
