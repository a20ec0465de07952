"""Fixtures for the monitoring bundle: repository files and JSON schemas.

External tools (promtool, prometheus) are found with ``tests.conftest.require_binary``.

The schemas are third-party files kept in ``tests/monitoring/schemas`` (sources and licence
in its README.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = Path(__file__).resolve().parent / "schemas"


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root."""
    return REPO


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    """docker-compose.yml, parsed."""
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


@pytest.fixture(scope="session")
def prometheus_config() -> dict[str, Any]:
    """monitoring/prometheus.yml, parsed."""
    return yaml.safe_load((REPO / "monitoring" / "prometheus.yml").read_text())


@pytest.fixture(scope="session")
def dashboards() -> dict[str, dict[str, Any]]:
    """Every dashboard under grafana/dashboards, by file name."""
    return {
        path.name: json.loads(path.read_text())
        for path in sorted((REPO / "grafana" / "dashboards").glob("*.json"))
    }


@pytest.fixture(scope="session")
def datasources() -> list[dict[str, Any]]:
    """Every provisioned Grafana datasource."""
    found: list[dict[str, Any]] = []
    for path in sorted((REPO / "grafana" / "provisioning" / "datasources").glob("*.yml")):
        found += yaml.safe_load(path.read_text())["datasources"]
    return found


@pytest.fixture(scope="session")
def schema() -> Callable[..., jsonschema.protocols.Validator]:
    """``schema(file, definition=None)``: a draft-07 validator for a schema file.

    With ``definition``, the validator checks against ``#/definitions/<definition>`` of
    that file (the Grafana panel schemas have no root ``$ref``).
    """

    def load(file: str, definition: str | None = None) -> jsonschema.protocols.Validator:
        path = SCHEMAS / file
        if not path.exists():
            pytest.fail(f"missing schema {path}")
        document = json.loads(path.read_text())
        if definition is not None:
            document = {"$ref": f"#/definitions/{definition}", "definitions": document["definitions"]}
        jsonschema.Draft7Validator.check_schema(document)
        return jsonschema.Draft7Validator(document)

    return load
