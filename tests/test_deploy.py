"""deploy/: the compose file, Prometheus config and Grafana provisioning fit together.

No Docker engine runs on our machines, so what is checked is what breaks silently: a mounted
path that moved, a variable the server does not read, a scrape target on the wrong port, a
provisioning path that is not where the dashboards are mounted, an image without a pinned tag.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from execstream_server.config import OPTIONS

from .support.prometheus_server import require_tool

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
COMPOSE: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
PROMETHEUS: dict[str, Any] = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
PROVISIONING = DEPLOY / "grafana" / "provisioning"


def bind_mounts(service: str) -> dict[str, Path]:
    """Container path -> host path of a service's bind mounts (named volumes left out)."""
    mounts = {}
    for volume in SERVICES[service].get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            mounts[target] = (DEPLOY / source).resolve()
    return mounts


def test_every_mounted_path_and_the_build_context_exist() -> None:
    for service in SERVICES:
        for target, source in bind_mounts(service).items():
            assert source.exists(), f"{service}: {source} (mounted at {target}) is missing"
    build = SERVICES["execstream"]["build"]
    context = (DEPLOY / build["context"]).resolve()
    assert context == ROOT and (context / build["dockerfile"]).is_file()


def test_images_are_pinned() -> None:
    for name, service in SERVICES.items():
        if "build" in service:
            continue
        image, _, tag = service["image"].rpartition(":")
        assert image and tag and tag != "latest", f"{name}: pin {service['image']}"


def test_ports_are_published_on_loopback_only() -> None:
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port}"


def test_the_server_reads_every_variable_it_is_given() -> None:
    known = {option.env for option in OPTIONS}
    given = set(SERVICES["execstream"]["environment"])
    assert given <= known, sorted(given - known)


def test_prometheus_scrapes_the_servers_metrics_port() -> None:
    environment = SERVICES["execstream"]["environment"]
    port = environment["EXECSTREAM_METRICS_PORT"]
    assert environment["EXECSTREAM_METRICS_HOST"] == "0.0.0.0"
    [job] = [j for j in PROMETHEUS["scrape_configs"] if j["job_name"] == "execstream"]
    targets = [t for config in job["static_configs"] for t in config["targets"]]
    assert targets == [f"execstream:{port}"]
    assert "/etc/prometheus/prometheus.yml" in bind_mounts("prometheus")


def test_grafana_loads_the_dashboards_from_where_they_are_mounted() -> None:
    mounts = bind_mounts("grafana")
    assert mounts["/etc/grafana/provisioning"] == PROVISIONING
    provider = yaml.safe_load((PROVISIONING / "dashboards" / "execstream.yaml").read_text())
    [files] = provider["providers"]
    assert files["type"] == "file"
    assert mounts[files["options"]["path"]] == DEPLOY / "grafana" / "dashboards"
    home = SERVICES["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (DEPLOY / "grafana" / "dashboards" / Path(home).name).is_file()


def test_grafana_datasource_points_at_the_prometheus_service() -> None:
    sources = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yaml").read_text())
    [source] = sources["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    assert "127.0.0.1:9090:9090" in SERVICES["prometheus"]["ports"]


@pytest.mark.prometheus
def test_promtool_accepts_the_prometheus_config() -> None:
    result = subprocess.run(
        [
            require_tool("promtool"),
            "check",
            "config",
            str(DEPLOY / "prometheus" / "prometheus.yml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
