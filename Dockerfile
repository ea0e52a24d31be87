# homesec in one container: the same supervisor `make run` uses (web, workers, watcher,
# and the FTP receiver when HOMESEC_FTP_PORT is set). Everything it keeps lives in /data.
#
#   docker build -t homesec .
#   docker run -d --name homesec --init -p 8000:8000 -v homesec-data:/data homesec
#
# --init reaps the processes the supervisor kills (python as PID 1 does not).
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOMESEC_DATA_DIR=/data \
    HOMESEC_BIND=0.0.0.0 \
    PORT=8000 \
    HOMESEC_ALLOWED_HOSTS=localhost,127.0.0.1

# opencv-python-headless needs no libGL, but it links glib. pg_dump and pg_restore (the
# PostgreSQL 15 client, bookworm's) make and restore backups of a PostgreSQL database
# (`manage.py backup`, HOMESEC_BACKUP_DIR); a newer server needs its own major version's
# client from apt.postgresql.org, named by HOMESEC_PG_BIN.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libglib2.0-0 postgresql-client-15 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml manage.py ./
COPY homesec homesec
COPY cameras cameras
COPY detections detections
COPY events events
COPY alerts alerts
COPY monitoring monitoring
COPY templates templates
COPY static static
# Settings find templates, static files and manage.py next to the homesec package, so
# homesec runs from /app (the working directory puts /app first on sys.path); the install
# brings in the dependencies.
RUN pip install --no-cache-dir . \
 && rm -rf build ./*.egg-info

# A non-root user owns the data volume and the collected static files (collectstatic runs
# at every start); /data is prepared before VOLUME so a new volume gets this ownership.
RUN useradd --system --uid 1000 --user-group --home-dir /data --no-create-home homesec \
 && mkdir -p /data /app/staticfiles \
 && chown homesec:homesec /data /app/staticfiles
USER homesec
VOLUME /data
EXPOSE 8000

# With HOMESEC_TLS_CERT daphne serves only HTTPS: the check speaks it too (to itself, so
# the certificate's name is not checked).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, ssl, urllib.request; tls = bool(os.environ.get('HOMESEC_TLS_CERT')); urllib.request.urlopen('%s://127.0.0.1:%s/health' % ('https' if tls else 'http', os.environ.get('PORT', '8000')), timeout=4, context=ssl._create_unverified_context() if tls else None)"]

CMD ["python", "manage.py", "run"]
