"""deploy/compose-redis.yaml and its nginx config fit together (no Docker engine needed).

What is checked is what breaks silently: a replica on another store than the others, Redis
without the persistence the docs require, an nginx upstream missing a replica, a mounted file
that moved, a port published beyond loopback, a variable the server does not read.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from execstream_server.config import OPTIONS

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
COMPOSE: dict[str, Any] = yaml.safe_load((DEPLOY / "compose-redis.yaml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
REPLICAS = sorted(name for name in SERVICES if name.startswith("execstream-"))
NGINX = (DEPLOY / "nginx" / "grpc.conf").read_text()


def test_three_replicas_share_one_redis_store() -> None:
    assert len(REPLICAS) == 3
    stores = {SERVICES[name]["environment"]["EXECSTREAM_STORE"] for name in REPLICAS}
    assert stores == {"redis://redis:6379/0"}
    for name in REPLICAS:
        assert SERVICES[name]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "healthcheck" in SERVICES["redis"]


def test_redis_keeps_every_acknowledged_event() -> None:
    command = SERVICES["redis"]["command"]
    flags = dict(zip(command[1::2], command[2::2], strict=True))
    assert flags["--appendonly"] == "yes"
    assert flags["--appendfsync"] == "always"
    assert flags["--maxmemory-policy"] == "noeviction"
    assert any(v.endswith(":/data") for v in SERVICES["redis"]["volumes"])


def test_the_replicas_read_every_variable_they_are_given() -> None:
    known = {option.env for option in OPTIONS}
    for name in REPLICAS:
        given = set(SERVICES[name]["environment"])
        assert given <= known, sorted(given - known)


def test_nginx_balances_over_exactly_the_replicas() -> None:
    port = SERVICES[REPLICAS[0]]["environment"]["EXECSTREAM_PORT"]
    upstream = re.findall(r"^\s*server\s+([\w.-]+):(\d+)", NGINX, re.MULTILINE)
    assert sorted(upstream) == [(name, port) for name in REPLICAS]
    assert re.search(r"grpc_pass\s+grpc://execstream;", NGINX)
    # A ReportProgress stream is one growing request body: nginx's 1 MiB default cuts it.
    assert re.search(r"client_max_body_size\s+0;", NGINX)
    [mount] = SERVICES["nginx"]["volumes"]
    source, target = mount.split(":")[:2]
    assert (DEPLOY / source).resolve() == DEPLOY / "nginx" / "grpc.conf"
    assert target == "/etc/nginx/nginx.conf"
    listen = re.search(r"^\s*listen\s+(\d+);", NGINX, re.MULTILINE)
    assert listen is not None
    assert SERVICES["nginx"]["ports"] == [f"127.0.0.1:{listen.group(1)}:{listen.group(1)}"]


def test_ports_are_loopback_only_and_metrics_ports_distinct() -> None:
    published = [str(p) for service in SERVICES.values() for p in service.get("ports", [])]
    assert published and all(p.startswith("127.0.0.1:") for p in published)
    host_ports = [p.split(":")[1] for p in published]
    assert len(host_ports) == len(set(host_ports))
    for name in REPLICAS:
        [metrics] = SERVICES[name]["ports"]
        assert metrics.endswith(":" + SERVICES[name]["environment"]["EXECSTREAM_METRICS_PORT"])


def test_images_are_pinned_and_the_build_context_exists() -> None:
    for name, service in SERVICES.items():
        if "build" in service:
            context = (DEPLOY / service["build"]["context"]).resolve()
            assert context == ROOT and (context / service["build"]["dockerfile"]).is_file()
            continue
        image, _, tag = service["image"].rpartition(":")
        assert image and tag and tag != "latest", f"{name}: pin {service['image']}"


def test_scaling_doc_links_resolve() -> None:
    doc = ROOT / "docs" / "scaling.md"
    links = re.findall(r"\]\(([^)#]+)\)", doc.read_text())
    local = [link for link in links if "://" not in link]
    assert "../deploy/compose-redis.yaml" in local
    for link in local:
        assert (doc.parent / link).exists(), link
