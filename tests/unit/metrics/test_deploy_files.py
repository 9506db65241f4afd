"""deploy/: the alert rules, the scrape config and the dashboard are well-formed and name only
metrics our processes export (promtool is not available here: this is the structural check)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.metrics import SupervisedBots
from metrics.scope import ProcessMetrics

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created"), "gauge": ("",)}


class _NoBots:
    def __init__(self) -> None:
        self.bots: dict[str, Any] = {}


def _exported_names() -> set[str]:
    """Every sample name the API, workers, bot and agent registries can expose."""
    processes = [ProcessMetrics.for_api(), ProcessMetrics.for_workers(), ProcessMetrics.for_bot()]
    agent = ProcessMetrics.bare()
    agent.registry.register(SupervisedBots(_NoBots()))  # type: ignore[arg-type]
    names = set()
    for process in [*processes, agent]:
        for family in process.registry.collect():
            names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
    return names


def _referenced(expr: str) -> set[str]:
    return set(re.findall(r"\bhmmtrade_[a-z_]+", expr))


@pytest.fixture(scope="module")
def exported() -> set[str]:
    return _exported_names()


def test_alert_rules_have_the_shape_prometheus_loads(exported: set[str]) -> None:
    rules_file = yaml.safe_load((DEPLOY / "alerts.yml").read_text())
    assert set(rules_file) == {"groups"}
    alerts = {}
    for group in rules_file["groups"]:
        assert set(group) <= {"name", "interval", "rules"} and group["name"]
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}, rule
            assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", rule["alert"])
            assert re.fullmatch(r"\d+[smh]", rule["for"])
            assert rule["labels"]["severity"] in {"warning", "critical"}
            assert rule["annotations"]["summary"] and rule["annotations"]["description"]
            assert _referenced(rule["expr"]) <= exported, rule["alert"]
            assert rule["expr"].count("(") == rule["expr"].count(")"), rule["alert"]
            alerts[rule["alert"]] = rule["expr"]
    assert len(alerts) == sum(len(g["rules"]) for g in rules_file["groups"])  # names are unique
    assert "hmmtrade_intent_backlog" in alerts["HmmtradeIntentBacklogHigh"]
    assert "hmmtrade_dlq_messages" in alerts["HmmtradeDlqGrowing"]
    assert "hmmtrade_bot_last_audit_timestamp_seconds" in alerts["HmmtradeBotSilent"]
    assert 'vendor="kms"' in alerts["HmmtradeKmsErrors"]


def test_every_process_is_scraped_with_a_bearer_token_file() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert {"hmmtrade-api", "hmmtrade-workers", "hmmtrade-agent", "hmmtrade-bots"} <= set(jobs)
    for job in jobs.values():
        assert job["metrics_path"] == "/metrics"
        assert job["authorization"]["type"] == "Bearer" and job["authorization"]["credentials_file"]
        assert "credentials" not in job["authorization"]  # never the token itself in the config


def test_the_dashboard_queries_only_exported_metrics(exported: set[str]) -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "hmmtrade.json").read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["panels"]
    referenced: set[str] = set()
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            referenced |= _referenced(target["expr"])
    assert referenced <= exported
    for must in ("hmmtrade_intents_accepted_total", "hmmtrade_consumer_pending_messages", "hmmtrade_dlq_messages"):
        assert must in referenced
