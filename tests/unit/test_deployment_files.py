"""compose.yaml and the Dockerfile agree with the code they deploy."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml
from pydantic import ValidationError

from api.settings import ApiSettings
from billing.settings import StripeSettings
from stack.cli import _parser
from workers.settings import WorkerSettings

REPO = Path(__file__).resolve().parents[2]
APP_SERVICES = ("migrate", "api", "workers")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((REPO / "compose.yaml").read_text()))


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return (REPO / "Dockerfile").read_text()


def _env_names_the_code_reads() -> set[str]:
    names = {"HMMTRADE_LOG_LEVEL", "HMMTRADE_LOG_JSON"}  # read by stack/logging.py and stack/cli.py
    for settings in (ApiSettings, WorkerSettings, StripeSettings):
        for field in settings.model_fields.values():
            alias = field.validation_alias
            names.update(getattr(alias, "choices", []) or ([alias] if isinstance(alias, str) else []))
    return names


def _subcommands() -> set[str]:
    action = next(a for a in _parser()._actions if a.dest == "command")
    return set(action.choices or {})


def test_every_service_sets_only_variables_the_code_reads(compose: dict[str, Any]) -> None:
    known = _env_names_the_code_reads()
    for name in APP_SERVICES:
        unknown = set(compose["services"][name]["environment"]) - known
        assert not unknown, f"{name} sets variables nothing reads: {unknown}"


def test_urls_point_at_the_compose_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    pg_env = services["postgres"]["environment"]
    for name in APP_SERVICES:
        env = services[name]["environment"]
        db = urlparse(env["DATABASE_URL"].replace("${POSTGRES_PASSWORD:-hmmtrade-local-only}", "pw"))
        assert (db.hostname, db.port, db.path.lstrip("/"), db.username) == (
            "postgres",
            5432,
            pg_env["POSTGRES_DB"],
            pg_env["POSTGRES_USER"],
        )
        if "NATS_URL" in env:
            bus = urlparse(env["NATS_URL"])
            assert (bus.scheme, bus.hostname, bus.port) == ("nats", "nats", 4222)
    assert "-js" in services["nats"]["command"], "JetStream must be on"
    assert "js-enabled-only=true" in " ".join(services["nats"]["healthcheck"]["test"])


def test_api_port_matches_the_published_port_and_the_image(compose: dict[str, Any], dockerfile: str) -> None:
    api = compose["services"]["api"]
    command_port = api["command"][api["command"].index("--port") + 1]
    published = {mapping.split(":")[1] for mapping in api["ports"]}
    exposed = set(re.findall(r"^EXPOSE (\d+)", dockerfile, flags=re.MULTILINE))
    assert published == exposed == {command_port}
    assert "/readyz" in " ".join(api["healthcheck"]["test"])


def test_services_start_in_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("api", "workers"):
        depends = services[name]["depends_on"]
        assert depends["nats"]["condition"] == "service_healthy"
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"]["restart"] == "no"


def test_commands_are_real_subcommands(compose: dict[str, Any], dockerfile: str) -> None:
    commands = _subcommands()
    for name in APP_SERVICES:
        assert compose["services"][name]["command"][0] in commands
    default_cmd = re.search(r'^CMD \["(\w+)"', dockerfile, flags=re.MULTILINE)
    assert default_cmd is not None and default_cmd.group(1) in commands
    assert 'ENTRYPOINT ["hmmtrade"]' in dockerfile


def test_image_contains_every_package_and_runs_unprivileged(dockerfile: str) -> None:
    includes = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    for package in (p.rstrip("*") for p in includes):
        assert re.search(rf"^COPY {package} \./{package}$", dockerfile, flags=re.MULTILINE), package
    assert "--require-hashes -r requirements.lock" in dockerfile
    assert re.search(r"^USER (?!root)\w+", dockerfile, flags=re.MULTILINE)


def test_production_api_gets_its_signing_key_from_a_secret(compose: dict[str, Any]) -> None:
    api = compose["services"]["api"]
    assert api["environment"]["HMMTRADE_ENV"] == "production"
    [secret] = api["secrets"]
    assert api["environment"]["HMMTRADE_JWT_PRIVATE_KEY_FILE"] == f"/run/secrets/{secret['source']}"
    assert secret["source"] in compose["secrets"]
    with pytest.raises(ValidationError, match="HMMTRADE_JWT_PRIVATE_KEY_FILE must be set in production"):
        ApiSettings(HMMTRADE_ENV="production")
