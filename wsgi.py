"""WSGI entry point for production servers: ``gunicorn -c gunicorn.conf.py wsgi:app``.

Production unless ``HOOKWATCH_CONFIG`` says otherwise: a production server must not run the
development configuration (its public secret key) by accident. It needs ``SECRET_KEY``.
"""

import os

from app import create_app

app = create_app(os.environ.get("HOOKWATCH_CONFIG") or "production")
