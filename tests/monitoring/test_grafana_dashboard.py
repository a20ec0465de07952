"""Grafana provisioning and dashboards, checked against Grafana's own JSON schemas.

No Grafana binary runs here; the schemas are the ones Grafana's Foundation SDK generates
from Grafana's source, so a dashboard that passes them is one Grafana can load.
"""

from __future__ import annotations

import itertools
import re
from typing import Any, Iterator

import pytest
import yaml

PANEL_SCHEMAS = {
    "timeseries": "grafana/timeseries.jsonschema.json",
    "stat": "grafana/stat.jsonschema.json",
    "heatmap": "grafana/heatmap.jsonschema.json",
}
VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)[^}]*\}")
GRAFANA_VARIABLES = {"__rate_interval", "__interval", "__range", "__interval_ms", "__range_s"}


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel that shows data (rows are layout only), including panels inside rows."""
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            yield from panel["panels"]
        else:
            yield panel


def errors_of(validator, instance) -> str:
    return "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(instance))


@pytest.fixture(scope="module")
def datasource_uid(datasources) -> str:
    (prometheus,) = [d for d in datasources if d["type"] == "prometheus"]
    return prometheus["uid"]


class TestProvisioning:
    def test_datasource_has_a_fixed_uid_and_scrape_interval(self, datasources, prometheus_config):
        """A fixed uid lets dashboards refer to it; timeInterval sizes $__rate_interval."""
        (prometheus,) = [d for d in datasources if d["type"] == "prometheus"]
        assert prometheus["uid"] == "hookwatch-prometheus"
        job = next(j for j in prometheus_config["scrape_configs"] if j["job_name"] == "hookwatch")
        assert prometheus["jsonData"]["timeInterval"] == job["scrape_interval"]

    def test_dashboard_provider_points_at_a_folder_with_dashboards(self, repo, dashboards):
        path = repo / "grafana" / "provisioning" / "dashboards" / "hookwatch.yml"
        (provider,) = yaml.safe_load(path.read_text())["providers"]
        assert provider["type"] == "file"
        assert "hookwatch.json" in dashboards


class TestDashboards:
    def test_there_is_a_dashboard(self, dashboards):
        assert "hookwatch.json" in dashboards

    def test_validates_against_the_dashboard_schema(self, dashboards, schema):
        validator = schema("grafana/dashboard.jsonschema.json")
        for name, dashboard in dashboards.items():
            assert not errors_of(validator, dashboard), f"{name}:\n{errors_of(validator, dashboard)}"

    def test_is_modern(self, dashboards):
        """Schema version 39 or later and only current panel types (no graph/singlestat)."""
        for dashboard in dashboards.values():
            assert dashboard["schemaVersion"] >= 39
            assert {p["type"] for p in panels(dashboard)} <= set(PANEL_SCHEMAS)

    def test_panel_options_validate_against_their_plugin_schema(self, dashboards, schema):
        """Options and custom field config match the timeseries/stat/heatmap schemas."""
        for dashboard in dashboards.values():
            for panel in panels(dashboard):
                file = PANEL_SCHEMAS[panel["type"]]
                options = errors_of(schema(file, "Options"), panel["options"])
                assert not options, f"{panel['title']} options:\n{options}"
                custom = panel["fieldConfig"]["defaults"].get("custom")
                if custom is not None:
                    found = errors_of(schema(file, "FieldConfig"), custom)
                    assert not found, f"{panel['title']} fieldConfig.custom:\n{found}"

    def test_every_target_validates_as_a_prometheus_query(self, dashboards, schema):
        validator = schema("grafana/prometheus.jsonschema.json")
        for dashboard in dashboards.values():
            for panel in panels(dashboard):
                assert panel["targets"], f"{panel['title']} has no query"
                for target in panel["targets"]:
                    found = errors_of(validator, target)
                    assert not found, f"{panel['title']} {target['refId']}:\n{found}"

    def test_every_panel_and_query_uses_the_provisioned_datasource(self, dashboards, datasource_uid):
        for dashboard in dashboards.values():
            for panel in panels(dashboard):
                assert panel["datasource"] == {"type": "prometheus", "uid": datasource_uid}, panel["title"]
                for target in panel["targets"]:
                    assert target["datasource"]["uid"] == datasource_uid, panel["title"]
            for variable in dashboard["templating"]["list"]:
                if variable["type"] == "query":
                    assert variable["datasource"]["uid"] == datasource_uid, variable["name"]

    def test_no_two_panels_overlap(self, dashboards):
        for dashboard in dashboards.values():
            boxes = [(p["title"], p["gridPos"]) for p in dashboard["panels"]]
            boxes += [(p["title"], p["gridPos"]) for row in dashboard["panels"]
                      if row["type"] == "row" for p in row["panels"]]
            for (a, pa), (b, pb) in itertools.combinations(boxes, 2):
                apart = (pa["x"] + pa["w"] <= pb["x"] or pb["x"] + pb["w"] <= pa["x"]
                         or pa["y"] + pa["h"] <= pb["y"] or pb["y"] + pb["h"] <= pa["y"])
                assert apart, f"{a!r} overlaps {b!r}"
            for title, box in boxes:
                assert box["x"] + box["w"] <= 24, f"{title!r} is wider than the grid"

    def test_panel_ids_are_unique(self, dashboards):
        for dashboard in dashboards.values():
            ids = [p["id"] for p in dashboard["panels"]]
            ids += [p["id"] for row in dashboard["panels"] if row["type"] == "row" for p in row["panels"]]
            assert len(ids) == len(set(ids))

    def test_every_panel_has_a_unit_title_and_description(self, dashboards):
        """A number without a unit is a guess; a description tells the newcomer what it means."""
        for dashboard in dashboards.values():
            for panel in panels(dashboard):
                assert panel.get("title") and panel.get("description"), panel.get("title")
                unit = panel["fieldConfig"]["defaults"].get("unit") or panel["options"].get(
                    "yAxis", {}).get("unit")
                assert unit, f"{panel['title']} has no unit"

    def test_route_and_method_variables_filter_every_http_query(self, dashboards):
        """Queries on the HTTP histograms honour $route and $method, and no variable is undefined."""
        for dashboard in dashboards.values():
            defined = {v["name"] for v in dashboard["templating"]["list"]}
            assert {"route", "method"} <= defined
            for panel in panels(dashboard):
                for target in panel["targets"]:
                    expr = target["expr"]
                    used = {a or b for a, b in VARIABLE.findall(expr)}
                    assert used <= defined | GRAFANA_VARIABLES, f"{panel['title']}: {used - defined}"
                    if "http_server_request_duration_seconds" in expr:
                        assert 'http_route=~"$route"' in expr, panel["title"]
                        assert 'http_request_method=~"$method"' in expr, panel["title"]

    def test_unmatched_routes_get_a_readable_name(self, dashboards):
        """Panels that group by route rename the empty route of unmatched requests."""
        for dashboard in dashboards.values():
            for panel in panels(dashboard):
                for target in panel["targets"]:
                    if "by (http_route)" in target["expr"] or "http_route)" in target["expr"]:
                        assert '"http_route", "(unmatched)", "http_route", ""' in target["expr"], panel["title"]

    def test_latency_panels_show_exemplars(self, dashboards):
        """At least the latency graph and the heatmap ask Prometheus for exemplars."""
        for dashboard in dashboards.values():
            with_exemplars = {p["type"] for p in panels(dashboard)
                              if any(t.get("exemplar") for t in p["targets"])}
            assert {"timeseries", "heatmap"} <= with_exemplars
