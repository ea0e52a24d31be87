# homesec in one container: the same supervisor `make run` uses (web, workers, watcher,
# and the FTP receiver when HOMESEC_FTP_PORT is set). Data lives in the /data volume.
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOMESEC_DATA_DIR=/data \
    HOMESEC_CAMERA_ROOT=/data/cameras \
    HOMESEC_BIND=0.0.0.0 \
    PORT=8000 \
    HOMESEC_ALLOWED_HOSTS=localhost,127.0.0.1

# OpenCV's headless wheel still links glib.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libglib2.0-0 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY homesec homesec
COPY cameras cameras
COPY detections detections
COPY events events
COPY alerts alerts
COPY monitoring monitoring
RUN pip install .
COPY manage.py ./
COPY templates templates
COPY static static

RUN useradd --system --home /data --uid 1000 homesec \
 && mkdir -p /data/cameras \
 && chown -R homesec:homesec /data /app
USER homesec
VOLUME /data
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"

CMD ["python", "manage.py", "run"]
