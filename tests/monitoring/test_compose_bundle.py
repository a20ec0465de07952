"""docker-compose.yml and the app image: valid, complete, and consistent with the configs.

No Docker engine runs here, so these checks stand in for `docker compose config` and a
build: the file validates against the Compose Specification, everything it mounts or
copies exists, and the names and ports agree with what Prometheus and Grafana expect.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

PINNED_TAG = re.compile(r":v?\d+\.\d+\.\d+(-[\w.-]+)?$")


def container_port(mapping: str) -> int:
    """The container side of a short-syntax port mapping such as ``127.0.0.1:5000-5009:5000``."""
    return int(mapping.rsplit(":", 1)[1])


def dockerfile_instructions(repo: Path, keyword: str) -> list[list[str]]:
    """The arguments of every ``keyword`` instruction in the Dockerfile."""
    lines = (repo / "Dockerfile").read_text().splitlines()
    return [line.split()[1:] for line in lines if line.split()[:1] == [keyword]]


def gunicorn_default_bind(repo: Path) -> str:
    """The bind address gunicorn.conf.py falls back to."""
    match = re.search(r'GUNICORN_BIND", "([^"]+)"', (repo / "gunicorn.conf.py").read_text())
    assert match, "gunicorn.conf.py must set bind from GUNICORN_BIND with a default"
    return match.group(1)


class TestComposeFile:
    def test_validates_against_the_compose_specification(self, compose, schema):
        """The file is valid Compose Specification, the schema `docker compose` enforces."""
        errors = sorted(schema("compose-spec.json").iter_errors(compose), key=str)
        assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)

    def test_uses_no_obsolete_or_scale_breaking_keys(self, compose):
        """No `version:` (obsolete) and no `container_name` (it forbids --scale)."""
        assert "version" not in compose
        for name, service in compose["services"].items():
            assert "container_name" not in service, name

    def test_every_image_is_pinned_to_a_release(self, compose):
        """Third-party images carry an exact release tag, never `latest` or a bare major."""
        images = [s["image"] for s in compose["services"].values() if "image" in s]
        assert images, "expected prometheus and grafana images"
        for image in images:
            assert PINNED_TAG.search(image), f"{image} is not pinned to X.Y.Z"

    def test_every_bind_mount_exists_in_the_repository(self, compose, repo):
        """A missing file would be created by Docker as an empty directory, silently."""
        mounts = [
            volume.split(":")[0]
            for service in compose["services"].values()
            for volume in service.get("volumes", [])
            if volume.startswith("./")
        ]
        assert mounts
        for source in mounts:
            assert (repo / source).exists(), f"{source} is mounted but does not exist"

    def test_named_volumes_are_declared(self, compose):
        """Data volumes are named, so Prometheus history and Grafana state survive restarts."""
        for service in ("prometheus", "grafana"):
            named = [v.split(":")[0] for v in compose["services"][service]["volumes"]
                     if not v.startswith("./")]
            assert named, f"{service} has no data volume"
            assert all(name in compose["volumes"] for name in named)

    def test_core_services_have_healthchecks_on_their_health_endpoints(self, compose):
        """Each long-running service reports health through its own health endpoint."""
        expected = {"app": "/healthz", "prometheus": "/-/ready", "grafana": "/api/health"}
        for name, path in expected.items():
            test = " ".join(compose["services"][name]["healthcheck"]["test"])
            assert path in test, f"{name} healthcheck does not probe {path}"

    def test_grafana_starts_after_prometheus_is_healthy(self, compose):
        depends = compose["services"]["grafana"]["depends_on"]
        assert depends["prometheus"]["condition"] == "service_healthy"

    def test_app_can_be_scaled(self, compose):
        """`--scale app=3` needs a host port range, one port per replica."""
        for mapping in compose["services"]["app"]["ports"]:
            host = mapping.rsplit(":", 1)[0]
            assert re.search(r"\d+-\d+$", host), f"{mapping}: a fixed host port breaks --scale"


class TestAppImage:
    def test_compose_builds_the_app_from_the_dockerfile(self, compose, repo):
        assert compose["services"]["app"]["build"] == "."
        assert (repo / "Dockerfile").is_file()

    def test_every_copied_file_exists_and_is_not_ignored(self, repo):
        """COPY sources exist and .dockerignore does not exclude them from the context."""
        ignored = {
            line.strip() for line in (repo / ".dockerignore").read_text().splitlines()
            if line.strip() and not line.startswith("#")
        }
        sources = [src for args in dockerfile_instructions(repo, "COPY") for src in args[:-1]]
        assert "requirements.txt" in sources
        for source in sources:
            assert (repo / source).exists(), f"COPY {source}: not in the repository"
            assert source.rstrip("/") not in ignored, f"COPY {source}: excluded by .dockerignore"

    def test_runs_gunicorn_as_a_non_root_user(self, repo):
        users = dockerfile_instructions(repo, "USER")
        assert users and users[-1][0] not in {"root", "0"}
        cmd = " ".join(dockerfile_instructions(repo, "CMD")[-1])
        assert "gunicorn" in cmd and "gunicorn.conf.py" in cmd and "wsgi:app" in cmd

    def test_base_image_is_a_pinned_slim_python(self, repo):
        base = dockerfile_instructions(repo, "FROM")[0][0]
        assert base.startswith("python:") and "-slim" in base
        assert re.match(r"python:\d+\.\d+\.\d+-", base), f"{base}: pin the patch release"

    def test_app_runs_multiprocess_with_json_logs(self, compose):
        """Production config, JSON lines on stdout, metrics files on a fresh tmpfs."""
        app = compose["services"]["app"]
        env = app["environment"]
        assert env["HOOKWATCH_CONFIG"] == "production"
        assert env["LOG_FORMAT"] == "json"
        assert env["SECRET_KEY"].startswith("${SECRET_KEY:-")
        assert env["PROMETHEUS_MULTIPROC_DIR"] in app["tmpfs"]


class TestNamesAndPortsAgree:
    def test_prometheus_discovers_the_app_service_on_its_port(
        self, compose, prometheus_config, repo
    ):
        """Prometheus resolves the app service by DNS on the port gunicorn listens on."""
        job = next(j for j in prometheus_config["scrape_configs"] if j["job_name"] == "hookwatch")
        (sd,) = job["dns_sd_configs"]
        assert sd["type"] == "A"
        assert sd["names"] == ["app"] and "app" in compose["services"]
        app_ports = {container_port(m) for m in compose["services"]["app"]["ports"]}
        exposed = {int(p) for args in dockerfile_instructions(repo, "EXPOSE") for p in args}
        bind_port = int(gunicorn_default_bind(repo).rsplit(":", 1)[1])
        assert {sd["port"]} == app_ports == exposed == {bind_port}

    def test_prometheus_mounts_match_its_config(self, compose, prometheus_config):
        """The config file and the rule glob resolve inside the container."""
        service = compose["services"]["prometheus"]
        config_file = next(a.split("=", 1)[1] for a in service["command"]
                           if a.startswith("--config.file="))
        targets = {v.split(":")[1]: v.split(":")[0] for v in service["volumes"]}
        assert targets[config_file] == "./monitoring/prometheus.yml"
        config_dir = str(Path(config_file).parent)
        for pattern in prometheus_config["rule_files"]:
            rules_dir = str(Path(config_dir, pattern).parent)
            assert targets[rules_dir] == "./monitoring/" + str(Path(pattern).parent)

    def test_prometheus_keeps_exemplars(self, compose):
        assert "--enable-feature=exemplar-storage" in compose["services"]["prometheus"]["command"]

    def test_grafana_datasource_url_is_the_prometheus_service(self, compose, datasources):
        (prometheus,) = [d for d in datasources if d["type"] == "prometheus"]
        url = urlsplit(prometheus["url"])
        assert url.hostname == "prometheus" and "prometheus" in compose["services"]
        ports = {container_port(m) for m in compose["services"]["prometheus"]["ports"]}
        assert ports == {url.port}
        healthcheck = " ".join(compose["services"]["prometheus"]["healthcheck"]["test"])
        assert f":{url.port}/" in healthcheck

    def test_grafana_provisioning_and_home_dashboard_are_mounted(self, compose, repo):
        """Provisioning is mounted where Grafana reads it; the home dashboard is a real file."""
        grafana = compose["services"]["grafana"]
        targets = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"]}
        assert targets["/etc/grafana/provisioning"] == "./grafana/provisioning"
        provider_file = repo / "grafana" / "provisioning" / "dashboards" / "hookwatch.yml"
        (provider,) = yaml.safe_load(provider_file.read_text())["providers"]
        dashboards_dir = provider["options"]["path"]
        assert targets[dashboards_dir] == "./grafana/dashboards"
        home = Path(grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
        assert str(home.parent) == dashboards_dir
        assert (repo / "grafana" / "dashboards" / home.name).is_file()

    def test_grafana_is_watchable_without_login_but_not_editable(self, compose):
        env: dict[str, Any] = compose["services"]["grafana"]["environment"]
        assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
        assert env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
        assert env["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:-")

    def test_traffic_profile_drives_the_app_service(self, compose):
        """The optional traffic service runs the project's traffic command at the app."""
        traffic = compose["services"]["traffic"]
        assert traffic["profiles"] == ["traffic"]
        command = traffic["command"]
        assert command[:3] == ["python", "-m", "app.traffic"]  # manage.py traffic, no app built
        app_port = container_port(compose["services"]["app"]["ports"][0])
        assert f"--base-url=http://app:{app_port}" in command
        assert "--allow-remote" in command
        assert traffic["depends_on"]["app"]["condition"] == "service_healthy"
