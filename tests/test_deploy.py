"""The deployment files, checked without a Docker engine (none runs here): docker-compose.yml
against the Compose Specification's JSON schema, every variable it gives the shop one that the
settings read (and the README documents), `check --deploy` clean with its environment, its
processes the Procfile's, and the Dockerfile slim, non-root and without the test tools."""

import ast
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
SHOP_IMAGE = "clothes-in-space"
INFRASTRUCTURE = {"db", "redis", "elasticsearch"}
SECRETS = {"SECRET_KEY": "a-compose-secret-key-for-the-tests-only-" + "x" * 30,
           "POSTGRES_PASSWORD": "shop0secret"}  # fmt: skip


def settings_env_names() -> set[str]:
    """The environment variables storefront/settings.py reads (env_str, env_bool, env_list,
    env_whole)."""
    tree = ast.parse((ROOT / "storefront" / "settings.py").read_text())
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in {"env_str", "env_bool", "env_list", "env_whole"}
        and isinstance(node.args[0], ast.Constant)
    }


def compose_load(path: Path = ROOT / "docker-compose.yml") -> dict:
    return YAML(typ="safe", pure=True).load(path)


INTERPOLATION = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:-|:\?)(?P<arg>[^}]*))?\}"
)


def interpolate(value: str, env: dict[str, str]) -> str:
    """The Compose Specification's interpolation (and the shell's) of the forms these files use:
    $$, ${NAME}, ${NAME:-default} and ${NAME:?error}."""

    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name", "op", "arg")
        if env.get(name):
            return env[name]
        if op == ":?":
            raise LookupError(f"{name}: {arg}")
        return arg or ""

    return INTERPOLATION.sub(replace, value)


def shop_services(compose: dict) -> dict[str, dict]:
    return {
        name: service
        for name, service in compose["services"].items()
        if service.get("image") == SHOP_IMAGE
    }


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
        for line in joined.splitlines()
        if line.strip()
    ]


def dockerfile_env() -> dict[str, str]:
    env = {}
    for instruction, args in dockerfile_instructions():
        if instruction == "ENV":
            env |= dict(item.split("=", 1) for item in shlex.split(args))
    return env


def procfile() -> dict[str, list[str]]:
    processes = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if match := re.match(r"^([A-Za-z0-9_-]+):\s*(.+)$", line):
            processes[match[1]] = shlex.split(match[2])
    return processes


def test_compose_file_follows_the_compose_specification(tmp_path):
    # check-jsonschema ships the Compose Specification's own schema (compose-spec.json).
    checker = Path(sys.executable).parent / "check-jsonschema"
    command = [str(checker), "--builtin-schema", "vendor.compose-spec"]
    result = subprocess.run([*command, ROOT / "docker-compose.yml"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    # The same check refuses a condition that Compose does not know, even inside an anchor.
    typo = (
        (ROOT / "docker-compose.yml")
        .read_text()
        .replace("condition: service_completed_successfully", "condition: service_completed")
    )
    (tmp_path / "docker-compose.yml").write_text(typo)
    result = subprocess.run(
        [*command, tmp_path / "docker-compose.yml"], capture_output=True, text=True
    )
    assert result.returncode != 0 and "services.web.depends_on" in result.stdout


def test_compose_and_the_image_set_only_variables_the_settings_read():
    known = settings_env_names()
    assert {"DJANGO_ENV", "SECRET_KEY", "REDIS_URL"} <= known  # the parse finds them
    services = shop_services(compose_load())
    assert set(services) == {"init", "web", "worker", "beat", "drainer"}
    for name, service in services.items():
        unknown = set(service["environment"]) - known
        assert not unknown, f"{name} sets {unknown}, which storefront/settings.py never reads"
    image = set(dockerfile_env()) - known
    assert all(var.startswith(("PYTHON", "PIP_")) for var in image), image


def test_every_variable_the_settings_read_is_documented():
    readme = (ROOT / "README.md").read_text()
    undocumented = sorted(name for name in settings_env_names() if f"`{name}`" not in readme)
    assert not undocumented, f"the README's configuration table lacks {undocumented}"


def test_compose_holds_no_secret_and_refuses_to_start_without_them():
    compose = compose_load()
    for service in compose["services"].values():
        for key, value in (service.get("environment") or {}).items():
            if key in SECRETS or key == "DATABASE_URL":
                with pytest.raises(LookupError, match="set .* in .env"):
                    interpolate(str(value), {})
    assert ".env" in (ROOT / ".dockerignore").read_text().split()
    assert ".env" in (ROOT / ".gitignore").read_text().split()


def test_the_deploy_check_is_clean_with_the_composes_environment(tmp_path):
    web = shop_services(compose_load())["web"]
    composed = {k: interpolate(str(v), SECRETS) for k, v in web["environment"].items()}
    assert composed["DJANGO_ENV"] == "production"
    # Only what the image and the compose file say: none of this machine's settings.
    known = settings_env_names()
    base = {
        k: v for k, v in os.environ.items() if k not in known and k != "DJANGO_ALLOW_ASYNC_UNSAFE"
    }
    env = base | dockerfile_env() | composed

    def deploy_check(env: dict[str, str]) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    result = deploy_check(env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
    # Without production settings (as the compose file once ran): six warnings.
    former = {k: v for k, v in env.items() if k not in {"DJANGO_ENV", "SECRET_KEY"}}
    development = deploy_check(former)
    assert development.returncode != 0
    for warning in ["W004", "W008", "W009", "W012", "W016", "W018"]:
        assert f"security.{warning}" in development.stderr


def test_compose_runs_the_procfiles_processes_with_the_same_commands():
    compose = compose_load()
    services = compose["services"]
    processes = procfile()
    # The shop's four, and the Redis that `make serve` runs as compose's `redis` service.
    assert set(processes) == {"web", "worker", "beat", "drainer", "redis"}
    # Where a machine and a container differ by design: the address and the data folder.
    per_place = {"--bind", "--schedule", "--port", "--dir"}

    def normalized(argv: list[str]) -> list[str]:
        argv = [interpolate(arg, {}) for arg in argv if arg != "exec"]
        out, skip = [], False
        for arg in argv:
            if skip:
                skip = False
            elif arg in per_place:
                skip = True
            elif arg.split("=", 1)[0] not in per_place:
                out.append(arg)
        return out

    for name, argv in processes.items():
        assert name in services, f"the Procfile's {name} has no service in docker-compose.yml"
        assert normalized(services[name]["command"]) == normalized(argv), name
    long_running = set(shop_services(compose)) - {"init"}
    assert long_running == set(processes) - {"redis"}
    assert "--appendonly yes --appendfsync everysec" in " ".join(processes["redis"])
    cmd = next(args for instruction, args in dockerfile_instructions() if instruction == "CMD")
    assert normalized(ast.literal_eval(cmd)) == normalized(services["web"]["command"])


def test_compose_starts_each_service_once_what_it_needs_is_ready():
    compose = compose_load()
    services = compose["services"]
    for name in INFRASTRUCTURE | {"web", "worker"}:
        assert services[name]["healthcheck"]["test"], name
    for name, service in shop_services(compose).items():
        needs = {dep: spec["condition"] for dep, spec in service["depends_on"].items()}
        expected = dict.fromkeys(INFRASTRUCTURE, "service_healthy")
        if name != "init":
            expected["init"] = "service_completed_successfully"
        assert needs == expected, name
        assert service["init"] is True, name  # SIGTERM reaches the process, not a deaf PID 1
    assert services["init"]["restart"] == "no"
    assert "demo_setup" in " ".join(services["init"]["command"])
    # Plain http, so published on this machine's loopback only (a TLS proxy serves others).
    assert services["web"]["ports"] == ["127.0.0.1:8000:8000"]
    text = (ROOT / "docker-compose.yml").read_text() + (ROOT / "Dockerfile").read_text()
    assert "runserver" not in text


def test_dockerfile_is_slim_non_root_and_installs_no_test_tools():
    instructions = dockerfile_instructions()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = instructions[0]
    assert base[0] == "FROM"
    version = re.fullmatch(r"python:(\d+\.\d+)-slim", base[1])
    assert version and project["requires-python"] == f">={version[1]},<3.12", base
    users = [args for instruction, args in instructions if instruction == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    runs = " && ".join(args for instruction, args in instructions if instruction == "RUN")
    assert "pip install --no-cache-dir -c requirements.lock -r" in runs
    assert "[dev]" not in runs and " -e " not in runs
    assert "manage.py collectstatic --noinput" in runs
    # The requirements the image installs are the project's own, computed as the build does.
    snippet = re.search(r'python -c "(.+?)" > /tmp/requirements.txt', runs)
    listed = subprocess.run(
        [sys.executable, "-c", snippet[1]],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert listed == project["dependencies"]
    extras = project["optional-dependencies"]  # the test tools and the notebook's
    tools = {re.split(r"[=<>\[]", req)[0] for name in ("dev", "notebook") for req in extras[name]}
    assert not tools & {re.split(r"[=<>\[]", req)[0] for req in listed}
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".venv", "var", ".git", "tests", "notebooks"} <= set(ignored)
