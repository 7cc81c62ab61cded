"""docker-compose.yml: valid under the compose specification, the shape docs/DEPLOY.md describes, and an
environment sevflow itself accepts (the API's own start-up refusals are run against it).

No Docker engine is needed: the file is validated with check-jsonschema's vendored compose schema and
read as YAML.
"""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from sevflow.alerts.auth import GRAFANA_SECRET_ENV, default_token_env, load_credentials, open_sources
from sevflow.alerts.models import AlertSource
from sevflow.config.loader import load_config, parse_config
from sevflow.config.schema import SevflowConfig
from sevflow.errors import SevflowError
from sevflow.settings import Settings
from starter.api import make_server
from tests.deploy import support
from tests.deploy.support import (
    COMPOSE,
    DEPLOY_DOC,
    ROOT,
    SECRET_NAME,
    MissingVariable,
    code_spans,
    interpolate,
    is_interpolation,
    load_compose,
    markdown_table,
    required_variables,
    tool,
    without_messages,
)

SEVFLOW_SERVICES = ("worker", "api")
SERVICES_TABLE = ("service", "image", "command", "replicas", "published ports", "starts after")
SETTINGS_TABLE = ("variable", "default", "in docker-compose.yml")
CONDITIONS = {"healthy": "service_healthy", "done": "service_completed_successfully"}
# The Temporal client environment configuration (worker/temporal.py): what the processes may be given.
TEMPORAL_VARIABLES = re.compile(
    r"TEMPORAL_(ADDRESS|NAMESPACE|API_KEY|TLS|TLS_[A-Z_]+|CONFIG_FILE|PROFILE|GRPC_META_[A-Z0-9_]+)"
)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = compose["services"]
    return result


@pytest.fixture(scope="module")
def doc() -> str:
    return DEPLOY_DOC.read_text()


def env_of(service: dict[str, Any]) -> dict[str, str | None]:
    env = service.get("environment") or {}
    assert isinstance(env, dict), "environment is written as a mapping in docker-compose.yml"
    return {str(k): (None if v is None else str(v)) for k, v in env.items()}


def published(service: dict[str, Any]) -> dict[int, str]:
    """{container port: the whole short-syntax entry} of a service's `ports`."""
    result = {}
    for entry in service.get("ports", []):
        assert isinstance(entry, str), "ports are written in the short syntax"
        result[int(entry.rsplit(":", 1)[1])] = entry
    return result


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    check = tool("check-jsonschema", "it comes with the dev extra (`make test` installs it)")
    return subprocess.run(
        [check, "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# ---------------------------------------------------------------------------- the specification


def test_compose_file_validates_against_the_compose_spec() -> None:
    result = validate(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_validator_rejects_what_compose_would(tmp_path: Path) -> None:
    """The check is not vacuous: a misspelt key and an unknown depends_on condition both fail it."""
    text = COMPOSE.read_text()
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(text.replace("condition: service_healthy", "condition: when_ready", 1))
    result = validate(broken)
    assert result.returncode != 0 and "depends_on" in result.stdout, result.stdout
    broken.write_text(text.replace("    healthcheck:", "    healthchek:", 1))
    result = validate(broken)
    assert result.returncode != 0 and "healthchek" in result.stdout, result.stdout


# ---------------------------------------------------------------- what docs/DEPLOY.md says runs


def test_services_are_the_ones_docs_deploy_lists(services: dict[str, Any], doc: str) -> None:
    rows = markdown_table(doc, *SERVICES_TABLE)
    documented = {code_spans(row["service"])[0]: row for row in rows}
    assert set(documented) == set(services), "the services table of docs/DEPLOY.md and docker-compose.yml"
    for name, row in documented.items():
        service = services[name]
        assert code_spans(row["image"])[0] == service["image"], f"{name}: image"
        command = code_spans(row["command"])
        if not command:
            assert "command" not in service and "entrypoint" not in service, f"{name}: command"
        elif command[0] == "/bin/sh -c":
            assert service["entrypoint"] == ["/bin/sh", "-c"], f"{name}: entrypoint"
            assert len(service["command"]) == 1, f"{name}: one script"
        else:
            assert service["command"] == command[0].split(), f"{name}: command"
        replicas = service.get("deploy", {}).get("replicas", 1)
        assert int(row["replicas"]) == replicas, f"{name}: replicas"
        assert set(code_spans(row["published ports"])) == set(service.get("ports", [])), f"{name}: ports"
        waits: dict[str, str] = {}
        for item in filter(None, (part.strip() for part in row["starts after"].split(","))):
            target, _, state = item.rpartition(" ")
            waits[target] = CONDITIONS[state]
        depends = {k: v["condition"] for k, v in service.get("depends_on", {}).items()}
        assert waits == depends, f"{name}: starts after"


def test_two_workers_and_the_api_on_8080(services: dict[str, Any]) -> None:
    worker, api = services["worker"], services["api"]
    assert worker["command"] == ["worker"] and worker["deploy"]["replicas"] == 2
    assert "ports" not in worker, "workers serve no HTTP"
    assert worker["healthcheck"] == {"disable": True}, "the image's API health check cannot pass on a worker"
    assert api["command"] == ["api"]
    env = env_of(api)
    assert env["SEVFLOW_HTTP_HOST"] == "0.0.0.0"
    port = int(env["SEVFLOW_HTTP_PORT"] or 0)
    assert port == 8080 and published(api)[port] == "8080:8080"
    probe = " ".join(api["healthcheck"]["test"])
    assert f"127.0.0.1:{port}/healthz" in probe


def test_images_are_pinned(services: dict[str, Any]) -> None:
    for name, service in services.items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: {image} has no tag"
        assert tag != "latest" and re.fullmatch(r"\d+(\.\d+)+(-[a-z0-9]+)?", tag), f"{name}: {image}"


def test_sevflow_image_is_built_here_at_the_package_version(services: dict[str, Any]) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for name in SEVFLOW_SERVICES:
        service = services[name]
        assert service["image"] == f"sevflow:{version}", name
        assert service["build"] == {"context": ".", "dockerfile": "Dockerfile"}, name


def test_every_dependency_waits_for_a_condition(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for target, spec in service.get("depends_on", {}).items():
            assert target in services, f"{name} depends on a service that does not exist: {target}"
            condition = spec["condition"]
            assert condition in CONDITIONS.values(), f"{name} -> {target}: {condition}"
            dependency = services[target]
            if condition == "service_healthy":
                check = dependency.get("healthcheck", {})
                assert check.get("test") and not check.get("disable"), f"{target} has no health check"
            else:  # a one-shot job: it must end, and retry a few times rather than forever
                assert str(dependency.get("restart", "no")).startswith("on-failure"), target
    for name in SEVFLOW_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["temporal-namespace"]["condition"] == "service_completed_successfully", name


# ------------------------------------------------------------------------------------- wiring


def test_temporal_persists_to_the_compose_postgres(services: dict[str, Any]) -> None:
    postgres = env_of(services["postgres"])
    temporal = env_of(services["temporal"])
    assert temporal["DB"] == "postgres12"
    assert temporal["POSTGRES_SEEDS"] == "postgres" and temporal["DB_PORT"] == "5432"
    assert temporal["POSTGRES_USER"] == postgres["POSTGRES_USER"]
    password = without_messages(postgres["POSTGRES_PASSWORD"] or "")
    assert without_messages(temporal["POSTGRES_PWD"] or "") == password
    script = services["temporal-schema"]["command"][0]
    assert "--plugin postgres12 --ep postgres -p 5432 -u postgres" in script
    for database in ("temporal", "temporal_visibility"):
        assert f'--db {database} update-schema -d "$$schema/' in script, database
    volumes = services["postgres"]["volumes"]
    assert "postgres-data:/var/lib/postgresql/data" in volumes, "PostgreSQL keeps its data in a named volume"


def test_the_sevflow_services_are_wired_to_postgres_and_temporal(services: dict[str, Any]) -> None:
    postgres = env_of(services["postgres"])
    namespace = env_of(services["temporal-namespace"])["NAMESPACE"]
    for name in SEVFLOW_SERVICES:
        env = env_of(services[name])
        url = urlsplit(interpolate(env["SEVFLOW_DATABASE_URL"] or "", {"POSTGRES_PASSWORD": "pw"}))
        assert url.scheme == "postgresql" and url.hostname == "postgres" and url.port == 5432, name
        assert url.username == postgres["POSTGRES_USER"] and url.path == f"/{postgres['POSTGRES_DB']}", name
        host, _, port = (env["TEMPORAL_ADDRESS"] or "").partition(":")
        assert host in services and int(port) in published(services[host]), name
        assert env["TEMPORAL_NAMESPACE"] == namespace, f"{name}: not the registered namespace"
        assert env["SEVFLOW_TASK_QUEUE"] == "sevflow", name
    assert env_of(services["temporal-ui"])["TEMPORAL_DEFAULT_NAMESPACE"] == namespace


def test_sevflow_yaml_is_mounted_where_sevflow_config_points(services: dict[str, Any]) -> None:
    for name in SEVFLOW_SERVICES:
        target = env_of(services[name])["SEVFLOW_CONFIG"]
        mounts = [v for v in services[name]["volumes"] if isinstance(v, dict) and v["target"] == target]
        assert len(mounts) == 1, f"{name}: nothing mounted at SEVFLOW_CONFIG={target}"
        mount = mounts[0]
        assert mount["type"] == "bind" and mount["read_only"] is True, name
        assert (COMPOSE.parent / mount["source"]).resolve() == ROOT / "sevflow.yaml", name
    assert (ROOT / "sevflow.yaml").is_file()


def test_slack_and_jira_settings_are_passed_through(services: dict[str, Any]) -> None:
    names = [f"SEVFLOW_{f.upper()}" for f in Settings.model_fields if f.startswith(("slack_", "jira_"))]
    assert len(names) >= 8
    for service in SEVFLOW_SERVICES:
        env = env_of(services[service])
        for variable in names:
            assert variable in env, f"{service} is not given {variable}"
            assert env[variable] is None, f"{service}: {variable} must pass through (no value, no default)"


def test_env_names_are_ones_sevflow_reads(services: dict[str, Any]) -> None:
    """A misspelt variable would be silently ignored; every one given must be read by something."""
    config = shipped_config_with_paging()
    known = {f"SEVFLOW_{field.upper()}" for field in Settings.model_fields}
    known |= {default_token_env(source) for source in AlertSource} | {GRAFANA_SECRET_ENV}
    known |= named_variables(config)
    for name in SEVFLOW_SERVICES:
        for variable in env_of(services[name]):
            if variable.startswith("TEMPORAL_"):
                assert TEMPORAL_VARIABLES.fullmatch(variable), f"{name}: {variable} is no Temporal setting"
            else:
                assert variable in known, f"{name}: nothing in sevflow reads {variable}"


def test_no_secret_has_a_value_in_the_file(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for variable, value in env_of(service).items():
            if SECRET_NAME.search(variable):
                assert value is None or is_interpolation(value), f"{name}: {variable} has a literal value"
        if name in SEVFLOW_SERVICES:
            url = env_of(service)["SEVFLOW_DATABASE_URL"] or ""
            password = urlsplit(interpolate(url, {"POSTGRES_PASSWORD": "from-env"})).password
            assert password == "from-env", f"{name}: the database password is not the variable's"


# ------------------------------------------------------------------------------ the settings table


def test_every_setting_is_in_the_settings_table(doc: str) -> None:
    documented = {v for row in markdown_table(doc, *SETTINGS_TABLE) for v in code_spans(row["variable"])}
    names = [f"SEVFLOW_{field.upper()}" for field in Settings.model_fields]
    missing = [name for name in names if name not in documented]
    assert not missing, f"add a row to the settings table of docs/DEPLOY.md for {', '.join(missing)}"


def test_settings_table_says_what_compose_gives(services: dict[str, Any], doc: str) -> None:
    envs = {name: env_of(services[name]) for name in SEVFLOW_SERVICES}
    documented: set[str] = set()
    for row in markdown_table(doc, *SETTINGS_TABLE):
        variables = [v for v in code_spans(row["variable"]) if "*" not in v]
        documented.update(variables)
        cell = row["in docker-compose.yml"]
        scope = re.search(r"\((worker|api)\)", cell)
        given_to = [scope.group(1)] if scope else list(SEVFLOW_SERVICES)
        for variable in variables:
            for service, env in envs.items():
                where = f"{variable} in {service} (docs/DEPLOY.md says {cell!r})"
                if cell in ("—", "-", "") or service not in given_to:
                    assert variable not in env, where
                elif cell.startswith("required"):
                    assert env.get(variable) and required_variables(env[variable] or "") == [variable], where
                elif cell.startswith("passed through"):
                    assert variable in env and env[variable] is None, where
                else:
                    assert without_messages(env.get(variable) or "") == code_spans(cell)[0], where
    for service, env in envs.items():
        undocumented = set(env) - documented
        assert not undocumented, f"{service}: document {', '.join(sorted(undocumented))} in docs/DEPLOY.md"


# ------------------------------------------------------------------- sevflow's own start-up checks


PAGING_EXAMPLE = """# paging:
#   webhook:
#     url: https://pager-gateway.example.com/v1/page
#     secret_env: SEVFLOW_PAGING_WEBHOOK_SECRET
#     timeout: 10s
"""


def shipped_config_with_paging() -> SevflowConfig:
    """The shipped sevflow.yaml with its page gateway switched on, as an operator does in production
    (it ships commented so that `make run` starts without the gateway's secret)."""
    text = (ROOT / "sevflow.yaml").read_text()
    assert PAGING_EXAMPLE in text, "sevflow.yaml no longer carries the paging.webhook example"
    on = "\n".join(line.removeprefix("# ") for line in PAGING_EXAMPLE.splitlines()) + "\n"
    return parse_config(text.replace(PAGING_EXAMPLE, on))


def named_variables(model: Any) -> set[str]:
    """Every environment variable a loaded sevflow.yaml names (`token_env`, `secret_env`, ...)."""
    found: set[str] = set()
    if isinstance(model, BaseModel):
        for field in type(model).model_fields:
            value = getattr(model, field)
            if field.endswith("_env") and isinstance(value, str):
                found.add(value)
            else:
                found |= named_variables(value)
    elif isinstance(model, dict):
        for value in model.values():
            found |= named_variables(value)
    elif isinstance(model, list | tuple):
        for value in model:
            found |= named_variables(value)
    return found


def test_variables_named_in_sevflow_yaml_reach_both_processes(services: dict[str, Any]) -> None:
    """The shipped sevflow.yaml names variables (the paging webhook's secret): a process not given one
    would refuse to start when the operator sets it."""
    named = named_variables(shipped_config_with_paging())
    assert "SEVFLOW_PAGING_WEBHOOK_SECRET" in named
    for name in SEVFLOW_SERVICES:
        missing = named - set(env_of(services[name]))
        assert not missing, f"{name} is not given {', '.join(sorted(missing))}"


def test_compose_refuses_to_start_without_the_required_secrets(services: dict[str, Any]) -> None:
    api = env_of(services["api"])
    with pytest.raises(MissingVariable, match="SEVFLOW_API_TOKEN"):
        interpolate(api["SEVFLOW_API_TOKEN"] or "", {})
    with pytest.raises(MissingVariable, match="POSTGRES_PASSWORD"):
        interpolate(api["SEVFLOW_DATABASE_URL"] or "", {"POSTGRES_PASSWORD": ""})


def test_the_api_would_listen_with_this_environment(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The api service's environment, with every required variable set to a dummy, passes the checks that
    make `sevflow api` refuse to bind beyond loopback (an API or an alert source without a token)."""
    declared = env_of(services["api"])
    shell = {var: f"dummy-{var.lower()}" for v in declared.values() if v for var in required_variables(v)}
    env = {k: interpolate(v, shell) for k, v in declared.items() if v is not None}
    for variable in list(os.environ):
        if variable.startswith(("SEVFLOW_", "TEMPORAL_")):
            monkeypatch.delenv(variable)
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    settings = Settings()
    assert settings.api_token is not None and settings.http_host == "0.0.0.0"
    mount = next(v for v in services["api"]["volumes"] if v["target"] == env["SEVFLOW_CONFIG"])
    config = load_config(COMPOSE.parent / mount["source"])
    app = FastAPI()
    app.state.open_alert_sources = [s.value for s in open_sources(load_credentials(config, env))]
    assert app.state.open_alert_sources == []
    server = make_server(app, settings)  # raises SevflowError when it would refuse
    assert server.config.host == "0.0.0.0" and server.config.port in published(services["api"])
    # and the same environment without the API token is refused
    monkeypatch.delenv("SEVFLOW_API_TOKEN")
    with pytest.raises(SevflowError, match="SEVFLOW_API_TOKEN"):
        make_server(app, Settings())


def test_a_missing_linter_fails_under_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """CI=true turns a missing check-jsonschema or hadolint into a failure, never a silent skip."""
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(support, "IN_CI", True)
    with pytest.raises(pytest.fail.Exception, match="no-such-linter is missing"):
        support.tool("no-such-linter", "install it")
    monkeypatch.setattr(support, "IN_CI", False)
    with pytest.raises(pytest.skip.Exception, match="no-such-linter is missing"):
        support.tool("no-such-linter", "install it")
