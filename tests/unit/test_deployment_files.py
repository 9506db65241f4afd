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
from fly.settings import FlySettings
from stack.cli import _parser
from web.settings import WebSettings
from workers.settings import WorkerSettings

REPO = Path(__file__).resolve().parents[2]
APP_SERVICES = ("migrate", "api", "workers")
ALL_APP_SERVICES = (*APP_SERVICES, "web")  # web has no database
NATS_NODES = ("nats-1", "nats-2", "nats-3")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((REPO / "compose.yaml").read_text()))


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return (REPO / "Dockerfile").read_text()


def _env_names_the_code_reads() -> set[str]:
    names = {"HMMTRADE_LOG_LEVEL", "HMMTRADE_LOG_JSON"}  # read by stack/logging.py and stack/cli.py
    names.add("GOOGLE_APPLICATION_CREDENTIALS")  # read by google-auth when vault/gcp.py builds a Cloud KMS client
    for settings in (ApiSettings, WorkerSettings, StripeSettings, FlySettings, WebSettings):
        for field in settings.model_fields.values():
            alias = field.validation_alias
            names.update(getattr(alias, "choices", []) or ([alias] if isinstance(alias, str) else []))
    return names


def _subcommands() -> set[str]:
    action = next(a for a in _parser()._actions if a.dest == "command")
    return set(action.choices or {})


def test_every_service_sets_only_variables_the_code_reads(compose: dict[str, Any]) -> None:
    known = _env_names_the_code_reads()
    for name in ALL_APP_SERVICES:
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
            nodes = [urlparse(url) for url in env["NATS_URL"].split(",")]
            assert [(b.scheme, b.hostname, b.port) for b in nodes] == [("tls", node, 4222) for node in NATS_NODES], (
                "every node of the cluster, over TLS"
            )
            assert env["NATS_CREDS"] == f"/run/secrets/bus/{name}.creds", f"{name} connects as itself"
            assert env["NATS_CA"].startswith("/run/secrets/bus/")
            assert str(env["HMMTRADE_BUS_REPLICAS"]) == str(len(NATS_NODES)), "streams on every node (R3)"
    for i, node in enumerate(NATS_NODES, start=1):
        command = services[node]["command"]
        assert "-js" in command, "JetStream must be on"
        assert command[:2] == ["-c", f"/etc/nats/{node}.conf"], "the node runs its bus init --cluster config"
        assert command[command.index("--server_name") + 1] == f"hmmtrade-{i}"
        assert f"./secrets/bus/{node}.conf:/etc/nats/{node}.conf:ro" in services[node]["volumes"]
        assert not any("bus-keys" in v or v.startswith("./secrets/bus:") for v in services[node]["volumes"])
        assert not any("8222" in port for port in services[node]["ports"]), "monitoring stays private"
        assert "js-enabled-only=true" in " ".join(services[node]["healthcheck"]["test"])


def test_api_port_matches_the_published_port_and_the_image(compose: dict[str, Any], dockerfile: str) -> None:
    api = compose["services"]["api"]
    command_port = api["command"][api["command"].index("--port") + 1]
    published = {mapping.split(":")[1] for mapping in api["ports"]}
    assert api["deploy"]["replicas"] == 2 and api["ports"] == ["8000-8001:8000"]  # a host port per replica
    exposed = set(" ".join(re.findall(r"^EXPOSE ([\d ]+)", dockerfile, flags=re.MULTILINE)).split())
    assert published == {command_port} and command_port in exposed
    assert "/readyz" in " ".join(api["healthcheck"]["test"])


def test_the_web_app_calls_the_api_service_and_reads_the_bus_as_the_dashboard(
    compose: dict[str, Any], dockerfile: str
) -> None:
    web = compose["services"]["web"]
    env, api = web["environment"], compose["services"]["api"]
    api_port = api["command"][api["command"].index("--port") + 1]
    assert env["HMMTRADE_API_URL"] == f"http://api:{api_port}"
    assert env["HMMTRADE_WEB_NATS_CREDS"] == "/run/secrets/bus/dashboard.creds"  # subscribe-only identity
    assert "DATABASE_URL" not in env and "HMMTRADE_JWT_PRIVATE_KEY_FILE" not in env  # a client of the API only
    web_port = web["command"][web["command"].index("--port") + 1]
    assert {m.split(":")[1] for m in web["ports"]} == {web_port}
    assert web_port in " ".join(re.findall(r"^EXPOSE ([\d ]+)", dockerfile, flags=re.MULTILINE)).split()
    assert web["depends_on"]["api"]["condition"] == "service_healthy"
    assert web["command"][0] in _subcommands()


def test_services_start_in_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("api", "workers"):
        depends = services[name]["depends_on"]
        assert all(depends[node]["condition"] == "service_healthy" for node in NATS_NODES)
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
    assert "--require-hashes -r requirements-runtime.lock" in dockerfile
    assert re.search(r"^USER (?!root)\w+", dockerfile, flags=re.MULTILINE)


def test_the_image_is_built_on_the_base_image_argument(dockerfile: str) -> None:
    assert re.findall(r"^ARG BASE_IMAGE=(\S+)$", dockerfile, flags=re.MULTILINE) == ["python:3.12-slim"]
    assert re.findall(r"^FROM (\S+)", dockerfile, flags=re.MULTILINE) == ["${BASE_IMAGE}", "${BASE_IMAGE}"]
    assert not re.search(r"^RUN python ", dockerfile, flags=re.MULTILINE)  # Debian's base has python3 only


def _pinned_names(lock: str) -> dict[str, str]:
    return dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", lock, flags=re.MULTILINE))


def test_the_image_lock_is_the_runtime_subset_of_the_dev_lock_without_dev_tools() -> None:
    runtime = _pinned_names((REPO / "requirements-runtime.lock").read_text())
    dev = _pinned_names((REPO / "requirements.lock").read_text())
    assert runtime and all(dev.get(name) == version for name, version in runtime.items())
    dev_tools = {"pytest", "pytest-asyncio", "pytest-timeout", "mypy", "ruff", "schemathesis", "hypothesis",
                 "playwright", "aiosmtpd", "check-jsonschema"}  # fmt: skip
    assert not dev_tools & set(runtime)
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    for requirement in declared:
        name = re.split(r"[\[<>=~ ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")
        assert name in runtime, f"{name} is a runtime dependency missing from requirements-runtime.lock"


def test_compose_yaml_is_valid_by_the_compose_specification_schema() -> None:
    """The compose specification's own JSON schema (vendored by check-jsonschema, no download) parses compose.yaml
    as `docker compose` would: unknown keys, wrong types and malformed ports or depends_on fail here."""
    import importlib.resources
    import json

    import jsonschema

    vendor = importlib.resources.files("check_jsonschema") / "builtin_schemas" / "vendor" / "compose-spec.json"
    schema = json.loads(vendor.read_text())
    document = yaml.safe_load((REPO / "compose.yaml").read_text())
    validator = jsonschema.validators.validator_for(schema)(schema, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(document), key=lambda error: list(error.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)
    broken = {**document, "services": {**document["services"], "api": {**document["services"]["api"], "prots": []}}}
    assert not validator.is_valid(broken)  # the schema is strict: a misspelt key is refused


def test_production_api_gets_its_signing_key_from_a_secret(compose: dict[str, Any]) -> None:
    api = compose["services"]["api"]
    assert api["environment"]["HMMTRADE_ENV"] == "production"
    assert api["environment"]["HMMTRADE_JWT_PRIVATE_KEY_FILE"] == "/run/secrets/jwt_signing_key"
    assert {"source": "jwt_signing_key"} in api["secrets"] and "jwt_signing_key" in compose["secrets"]
    with pytest.raises(ValidationError, match="HMMTRADE_JWT_PRIVATE_KEY_FILE must be set in production"):
        ApiSettings(HMMTRADE_ENV="production")


_VARIABLE = re.compile(r"\$\{(\w+)(?::([?-])([^}]*))?\}")


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ``${VAR:-default}`` / ``${VAR:?message}`` substitution, for the forms compose.yaml uses."""

    def one(match: re.Match[str]) -> str:
        name, kind, text = match.groups()
        if env.get(name):
            return env[name]
        if kind == "-":
            return text
        raise AssertionError(f"{name} is required: {text}")

    return _VARIABLE.sub(one, value)


# What an operator exports for `docker compose up` (the `${VAR:?...}` ones must be set).
DEPLOY_ENV = {
    "STRIPE_SECRET_KEY": "sk_test_x",
    "STRIPE_WEBHOOK_SECRET": "whsec_x",
    "STRIPE_PRICE_PRO": "price_pro",
    "STRIPE_PRICE_TEAM": "price_team",
    "KMS_KEY_NAME": "projects/acme/locations/europe-west1/keyRings/hmmtrade/cryptoKeys/broker-secrets",
    "FLY_API_TOKEN": "fo1_x",
    "HMMTRADE_BOT_API_URL": "https://hmmtrade.example.com",
    "HMMTRADE_BOT_NATS_URL": "nats://bus.hmmtrade.example.com:4222",
}
HOSTING_SECRETS_REQUIRED = {
    "api": ("KMS_KEY_NAME",),
    "workers": ("FLY_API_TOKEN", "HMMTRADE_BOT_API_URL", "HMMTRADE_BOT_NATS_URL"),
}


def _service_env(compose: dict[str, Any], name: str, env: dict[str, str]) -> dict[str, str]:
    return {key: _interpolate(str(value), env) for key, value in compose["services"][name]["environment"].items()}


@pytest.mark.parametrize("service", sorted(HOSTING_SECRETS_REQUIRED))
def test_deploy_time_settings_of_kms_and_fly_are_required_with_a_message(compose: dict[str, Any], service: str) -> None:
    environment = compose["services"][service]["environment"]
    for name in HOSTING_SECRETS_REQUIRED[service]:
        assert re.fullmatch(rf"\$\{{{name}:\?set {name} \(.+\)\}}", environment[name]), environment[name]
        with pytest.raises(AssertionError, match=f"{name} is required: set {name}"):
            _service_env(compose, service, {k: v for k, v in DEPLOY_ENV.items() if k != name})


def test_the_deployed_api_and_workers_can_launch_hosted_bots(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("KMS_ENDPOINT", "FLY_APP_NAME", "FLY_API_HOSTNAME", "FLY_BOT_IMAGE"):
        monkeypatch.delenv(name, raising=False)  # only compose's environment counts
    api_env = _service_env(compose, "api", DEPLOY_ENV)
    workers_env = _service_env(compose, "workers", DEPLOY_ENV)
    api, workers, fly = ApiSettings(**api_env), WorkerSettings(**workers_env), FlySettings(**workers_env)
    assert api.kms_key_name == DEPLOY_ENV["KMS_KEY_NAME"] and api.kms_endpoint is None  # Google's Cloud KMS
    # what workers/hosting_app.py needs before it launches anything
    assert fly.api_token is not None and fly.api_token.get_secret_value() == DEPLOY_ENV["FLY_API_TOKEN"]
    assert (workers.bot_api_url, workers.bot_nats_url) == (
        DEPLOY_ENV["HMMTRADE_BOT_API_URL"],
        DEPLOY_ENV["HMMTRADE_BOT_NATS_URL"],
    )
    defaults = {name: FlySettings.model_fields[name].default for name in ("app_name", "api_hostname", "bot_image")}
    assert {"app_name": fly.app_name, "api_hostname": fly.api_hostname, "bot_image": fly.bot_image} == defaults
    # the workers mint machine JWTs the API verifies: the same key folder, on one shared volume
    assert api.machine_jwt_key_dir is not None and api.machine_jwt_key_dir == workers.machine_jwt_key_dir
    mounts = {name: compose["services"][name]["volumes"] for name in ("api", "workers")}
    assert (
        mounts["api"]
        == mounts["workers"]
        == [
            f"machine-keys:{api.machine_jwt_key_dir}",
            "./secrets/bus:/run/secrets/bus:ro",  # `hmmtrade bus init`: their credentials and the bus keys
        ]
    )
    assert api.bus_key_file == workers.bus_key_file == Path("/run/secrets/bus/bus-keys.json")
    assert "machine-keys" in compose["volumes"]


def test_the_api_reads_kms_credentials_from_a_secret_file(compose: dict[str, Any]) -> None:
    api = compose["services"]["api"]
    assert api["environment"]["GOOGLE_APPLICATION_CREDENTIALS"] == "/run/secrets/gcp_kms_credentials"
    assert {"source": "gcp_kms_credentials"} in api["secrets"]
    assert compose["secrets"]["gcp_kms_credentials"]["file"].startswith("./secrets/")


def test_the_image_prepares_the_key_folder_for_its_unprivileged_user(compose: dict[str, Any], dockerfile: str) -> None:
    key_dir = compose["services"]["workers"]["environment"]["HMMTRADE_MACHINE_JWT_KEY_DIR"]
    user = re.findall(r"^USER (\S+)$", dockerfile, flags=re.MULTILINE)[-1]
    assert re.search(rf"^RUN install -d -o {user} -m 0700 {re.escape(key_dir)}$", dockerfile, flags=re.MULTILINE)


def test_bus_init_writes_a_config_per_cluster_node_with_authenticated_tls_routes(tmp_path: Path) -> None:
    from stack.bus_cmd import init_bus

    init_bus(tmp_path, tls_hosts=(), cluster=3)
    password = (tmp_path / "route-password").read_text().strip()
    assert len(password) >= 32 and (tmp_path / "route-password").stat().st_mode & 0o077 == 0
    for i, node in enumerate(NATS_NODES, start=1):
        config = (tmp_path / f"{node}.conf").read_text()
        others = [n for n in NATS_NODES if n != node]
        assert [f"nats-route://route:{password}@{n}:6222" for n in others] == re.findall(
            r'"(nats-route://[^"]+)"', config
        )
        assert 'authorization { user: route, password: "' in config and "verify: true" in config
        assert config.count('ca_file: "/etc/nats/tls/ca.pem"') == 1 and 'name: "hmmtrade"' in config
        assert f"hmmtrade-{i}" not in config  # the server name comes from the command line
    init_bus(tmp_path, tls_hosts=(), cluster=3)  # run again: the same routes, credentials re-issued
    assert (tmp_path / "route-password").read_text().strip() == password
