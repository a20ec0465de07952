"""Prometheus configuration and rules: promtool's verdict, and the project's conventions."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import require_binary

# level:metric:operations, the naming convention of Prometheus's recording-rule docs.
RECORD_NAME = re.compile(r"^[a-z_]+:[a-z_]+:[a-z0-9_]+$")


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [require_binary("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, f"promtool {' '.join(args)}:\n{result.stdout}{result.stderr}"
    return result


@pytest.fixture(scope="module")
def monitoring(repo) -> Path:
    return repo / "monitoring"


@pytest.fixture(scope="module")
def rules(monitoring) -> list[dict]:
    return [
        rule
        for path in sorted((monitoring / "rules").glob("*.yml"))
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]


class TestPromtool:
    def test_check_config(self, monitoring):
        """The config parses, and the rule files it names are found and valid."""
        result = promtool("check", "config", "prometheus.yml", cwd=monitoring)
        assert "rules/hookwatch-alerts.yml" in result.stdout
        assert "rules/hookwatch-recording.yml" in result.stdout

    def test_check_rules(self, monitoring):
        files = sorted(str(p.relative_to(monitoring)) for p in (monitoring / "rules").glob("*.yml"))
        assert files
        promtool("check", "rules", *files, cwd=monitoring)

    def test_rule_unit_tests(self, monitoring):
        files = sorted(str(p.relative_to(monitoring)) for p in (monitoring / "tests").glob("*.yml"))
        assert files
        result = promtool("test", "rules", *files, cwd=monitoring)
        assert result.stdout.count("SUCCESS") == len(files)


class TestConventions:
    def test_recording_rules_are_named_level_metric_operations(self, rules):
        records = [r["record"] for r in rules if "record" in r]
        assert records
        for name in records:
            assert RECORD_NAME.match(name), name

    def test_every_alert_explains_itself(self, rules):
        """Summary and description annotations, and a severity to route on."""
        alerts = [r for r in rules if "alert" in r]
        assert {a["alert"] for a in alerts} >= {
            "HookwatchHigh5xxRatio", "HookwatchHighLatencyP95",
            "HookwatchTargetDown", "HookwatchNotReady",
        }
        for alert in alerts:
            assert alert["annotations"]["summary"] and alert["annotations"]["description"]
            assert alert["labels"]["severity"] in {"warning", "critical"}

    def test_every_alert_is_unit_tested_firing_and_quiet(self, rules, monitoring):
        """Each alert appears in a promtool test that expects it and in one that does not."""
        tests = [
            case
            for path in (monitoring / "tests").glob("*.yml")
            for group in yaml.safe_load(path.read_text())["tests"]
            for case in group.get("alert_rule_test", [])
        ]
        for alert in (r["alert"] for r in rules if "alert" in r):
            cases = [c for c in tests if c["alertname"] == alert]
            assert any(c["exp_alerts"] for c in cases), f"{alert} never expected to fire"
            assert any(not c["exp_alerts"] for c in cases), f"{alert} never expected quiet"

    def test_every_recording_rule_is_unit_tested(self, rules, monitoring):
        text = "".join(p.read_text() for p in (monitoring / "tests").glob("*.yml"))
        for name in {r["record"] for r in rules if "record" in r}:
            assert f"expr: {name}" in text or f"({name}" in text, f"{name} has no promtool test"
