"""WSGI entry point for production servers: ``gunicorn -c gunicorn.conf.py wsgi:app``.

The configuration is chosen by ``HOOKWATCH_CONFIG`` (the Docker image sets ``production``).
"""

from app import create_app

app = create_app()
