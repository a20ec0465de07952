# hookwatch app image: gunicorn + multiprocess metrics, JSON logs on stdout.
# Python 3.11 to match the version the test suite runs on; the tag pins the patch release
# and the Debian base (trixie) so a rebuild does not drift.
FROM python:3.11.16-slim-trixie

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /srv/hookwatch

# Dependencies first: this layer is rebuilt only when the pins change.
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY app/ app/
COPY manage.py wsgi.py gunicorn.conf.py ./

# The code stays root-owned and read-only for the user that runs it.
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin hookwatch
USER hookwatch

ENV HOOKWATCH_CONFIG=production \
    LOG_FORMAT=json \
    PROMETHEUS_MULTIPROC_DIR=/tmp/hookwatch-metrics \
    GUNICORN_BIND=0.0.0.0:5000

EXPOSE 5000
CMD ["gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"]
