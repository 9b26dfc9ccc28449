"""Static checks of the docker-compose stack (docker-compose.yaml, Dockerfile, .env.example).

Docker itself is not needed: the compose file is parsed with PyYAML and validated against the
compose-spec JSON schema with check-jsonschema.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yaml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
COMPOSE_DOCS = REPO_ROOT / "docs" / "docker-compose.md"

CORE_SERVICES = (
    "postgres",
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
)
CELERY_SERVICES = ("redis", "airflow-worker", "flower")
CONNECTION_VARS = {
    "AIRFLOW_CONN_WANDB_DEFAULT": "wandb",
    "AIRFLOW_CONN_AWS_DEFAULT": "aws",
    "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": "google_cloud_platform",
    "AIRFLOW_CONN_AZURE_DEFAULT": "azure",
}
# Compose interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err}, ${VAR:+x}.
# `$${...}` is an escaped dollar (left to the container's shell) and is not interpolated.
INTERPOLATION_RE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?+])?")
ENV_ASSIGNMENT_RE = re.compile(r"^\s*(#\s*)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
PLACEHOLDER_RE = re.compile(r"^<[^<>]+>$")
SECRET_FIELD_RE = re.compile(r"(password|secret|token|api_?key|private_?key|keyfile_dict|credential)", re.I)
REAL_LOOKING_SECRETS = {
    "AWS access key id": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "AWS secret access key": re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"),
    "W&B API key": re.compile(r"\b[0-9a-f]{40}\b"),
    "private key block": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b"),
    "Azure client secret": re.compile(r"\b[0-9A-Za-z_~.\-]{3}8Q~[0-9A-Za-z_~.\-]{31,34}\b"),
}


@pytest.fixture(scope="module")
def compose() -> dict:
    with COMPOSE_FILE.open() as f:
        # safe_load resolves the &anchors / *aliases and `<<` merge keys like Compose does.
        return yaml.safe_load(f)


@pytest.fixture(scope="module")
def services(compose: dict) -> dict[str, dict]:
    return compose["services"]


@pytest.fixture(scope="module")
def env_example() -> dict[str, list[tuple[bool, str]]]:
    """Variables of .env.example: name -> [(active, raw value)], `active` False for commented lines."""
    found: dict[str, list[tuple[bool, str]]] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = ENV_ASSIGNMENT_RE.match(line)
        if match:
            commented, name, value = match.groups()
            found.setdefault(name, []).append((commented is None, value))
    return found


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _command(service: dict) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else command


def _depends_on(service: dict) -> dict[str, dict]:
    depends_on = service.get("depends_on", {})
    if isinstance(depends_on, list):
        return {name: {"condition": "service_started"} for name in depends_on}
    return depends_on


def _default_of(value: str, var: str) -> str | None:
    match = re.search(r"\$\{" + re.escape(var) + r":?-([^}]*)\}", value)
    return match.group(1) if match else None


def _airflow_services(services: dict[str, dict]) -> dict[str, dict]:
    return {name: svc for name, svc in services.items() if name.startswith("airflow-") or name == "flower"}


# --- compose file -----------------------------------------------------------------------------


def test_compose_file_is_valid_against_compose_spec() -> None:
    check_jsonschema = Path(sys.executable).parent / "check-jsonschema"
    assert check_jsonschema.exists(), f"check-jsonschema not found next to {sys.executable}"
    result = subprocess.run(
        [str(check_jsonschema), "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_core_services_exist(services: dict[str, dict]) -> None:
    missing = [name for name in CORE_SERVICES if name not in services]
    assert not missing, f"missing services: {missing}"


@pytest.mark.parametrize(
    ("service", "command"),
    [
        ("airflow-apiserver", "api-server"),
        ("airflow-scheduler", "scheduler"),
        ("airflow-dag-processor", "dag-processor"),
        ("airflow-triggerer", "triggerer"),
    ],
)
def test_airflow_component_commands(services: dict[str, dict], service: str, command: str) -> None:
    assert _command(services[service]) == command
    # Core components run in the default stack, never behind a profile.
    assert "profiles" not in services[service]


def test_triggerer_has_job_healthcheck(services: dict[str, dict]) -> None:
    test = services["airflow-triggerer"]["healthcheck"]["test"]
    assert "airflow jobs check --job-type TriggererJob" in " ".join(test)


def test_every_depends_on_target_exists(services: dict[str, dict]) -> None:
    dangling = [
        (name, dep) for name, service in services.items() for dep in _depends_on(service) if dep not in services
    ]
    assert not dangling, f"depends_on points at undefined services: {dangling}"


def test_profiled_dependencies_are_optional_for_default_services(services: dict[str, dict]) -> None:
    """A default service may only depend on a profiled service with `required: false`."""
    for name, service in services.items():
        if service.get("profiles"):
            continue
        for dep, spec in _depends_on(service).items():
            if services.get(dep, {}).get("profiles"):
                assert spec.get("required") is False, f"{name} hard-depends on profiled service {dep}"


def test_healthy_conditions_have_healthchecks(services: dict[str, dict]) -> None:
    for name, service in services.items():
        for dep, spec in _depends_on(service).items():
            if spec.get("condition") == "service_healthy":
                assert "healthcheck" in services.get(dep, {}), f"{name} waits for {dep}, which has no healthcheck"


def test_airflow_services_wait_for_init_and_postgres(services: dict[str, dict]) -> None:
    for name in ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"):
        depends_on = _depends_on(services[name])
        assert depends_on["airflow-init"]["condition"] == "service_completed_successfully", name
        assert depends_on["postgres"]["condition"] == "service_healthy", name


def test_default_executor_is_local_executor(services: dict[str, dict]) -> None:
    for name, service in _airflow_services(services).items():
        executor = service["environment"]["AIRFLOW__CORE__EXECUTOR"]
        assert executor == "${AIRFLOW__CORE__EXECUTOR:-LocalExecutor}", name


def test_airflow_settings_match_e2e_setup(services: dict[str, dict]) -> None:
    env = services["airflow-scheduler"]["environment"]
    assert str(env["AIRFLOW__CORE__LOAD_EXAMPLES"]).lower() == "false"
    for var, default in (
        ("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True"),
        ("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "True"),
    ):
        assert _default_of(env[var], var) == default, var
    assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith("SimpleAuthManager")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"


def test_celery_profile_services(services: dict[str, dict]) -> None:
    for name in CELERY_SERVICES:
        assert name in services, name
        assert services[name].get("profiles") == ["celery"], name
    worker = services["airflow-worker"]
    assert "celery worker" in _command(worker)
    assert "CeleryExecutor" in _command(worker)
    assert _depends_on(worker)["redis"]["condition"] == "service_healthy"
    assert "celery flower" in _command(services["flower"])
    # Celery settings are present for every Airflow service so the executor switch is just the env var.
    for name, service in _airflow_services(services).items():
        assert re.match(r"redis://(:@)?redis:6379/", service["environment"]["AIRFLOW__CELERY__BROKER_URL"]), name


def test_only_profiled_services_are_optional(services: dict[str, dict]) -> None:
    allowed = {"celery", "wandb-local", "debug"}
    for name, service in services.items():
        assert set(service.get("profiles", [])) <= allowed, name


def test_wandb_local_profile(compose: dict, services: dict[str, dict]) -> None:
    wandb = services["wandb-local"]
    assert wandb["profiles"] == ["wandb-local"]
    assert wandb["image"].split(":")[0] == "wandb/local"
    assert any(port.endswith(":8080") for port in wandb["ports"])
    volume = next(v for v in wandb["volumes"] if v.endswith(":/vol"))
    assert volume.split(":")[0] in compose["volumes"]


def test_published_ports_bind_to_localhost_by_default(services: dict[str, dict]) -> None:
    published = {name: svc["ports"] for name, svc in services.items() if "ports" in svc}
    assert "airflow-apiserver" in published
    for name, ports in published.items():
        for port in ports:
            assert port.startswith("${HOST_BIND_ADDRESS:-127.0.0.1}:") or port.startswith("127.0.0.1:"), (
                name,
                port,
            )
    assert published["airflow-apiserver"] == ["${HOST_BIND_ADDRESS:-127.0.0.1}:${AIRFLOW_API_SERVER_PORT:-8080}:8080"]
    assert published["wandb-local"] == ["${HOST_BIND_ADDRESS:-127.0.0.1}:${WANDB_LOCAL_PORT:-8081}:8080"]


def test_image_is_built_from_dockerfile(services: dict[str, dict]) -> None:
    for name, service in _airflow_services(services).items():
        build = service["build"]
        assert build["context"] == ".", name
        assert build.get("dockerfile", "Dockerfile") == "Dockerfile", name
        assert (REPO_ROOT / build["context"] / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE


def test_example_dags_are_mounted(services: dict[str, dict]) -> None:
    for name, service in _airflow_services(services).items():
        mounts = {v.rsplit(":", 1)[1]: v.rsplit(":", 1)[0] for v in service["volumes"]}
        assert mounts["/opt/airflow/dags"] == "${AIRFLOW_PROJ_DIR:-.}/example_dags", name
        for folder in ("logs", "config", "plugins"):
            assert mounts[f"/opt/airflow/{folder}"] == "${AIRFLOW_PROJ_DIR:-.}/" + folder, name


def test_airflow_services_get_env_file(services: dict[str, dict]) -> None:
    for name, service in _airflow_services(services).items():
        env_files = service["env_file"]
        assert any(isinstance(e, dict) and e["required"] is False and ".env" in e["path"] for e in env_files), name


def test_interpolated_variables_are_defaulted_or_documented(env_example: dict) -> None:
    text = COMPOSE_FILE.read_text()
    undocumented = set()
    for match in INTERPOLATION_RE.finditer(text):
        var, operator = match.groups()
        if operator in (":-", "-"):
            continue
        if var not in env_example:
            undocumented.add(var)
    assert not undocumented, f"not defaulted in docker-compose.yaml nor documented in .env.example: {undocumented}"


def test_defaulted_variables_are_documented(env_example: dict) -> None:
    """Every knob of the compose file is listed in .env.example (commented out with its default)."""
    names = {m.group(1) for m in INTERPOLATION_RE.finditer(COMPOSE_FILE.read_text())}
    assert not names - set(env_example), names - set(env_example)


# --- Dockerfile ---------------------------------------------------------------------------------


def test_dockerfile_base_image_and_version_arg() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^ARG AIRFLOW_VERSION=3\.3\.2$", text, re.M)
    assert re.search(r"^FROM apache/airflow:\$\{AIRFLOW_VERSION\}$", text, re.M)


def test_dockerfile_installs_this_provider_from_source() -> None:
    text = DOCKERFILE.read_text()
    copied = " ".join(re.findall(r"^COPY .*$", text, re.M))
    for path in ("pyproject.toml", "uv.lock", "README.md", "airflow_wandb_launch/"):
        assert path in copied, path
        assert (REPO_ROOT / path).exists(), path
    install = re.search(r"^RUN (?:uv )?pip install(.*?)(?<!\\)$", text, re.M | re.S)
    assert install, "no pip install step"
    command = install.group(1)
    assert '"apache-airflow==${AIRFLOW_VERSION}"' in command
    assert re.search(r"(provider-src|\.)\[all\]", command) or "airflow-provider-wandb-launch[all]" in command
    # Install as the airflow user, as the official image docs require.
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert not users or users[-1] == "airflow"


def test_dockerignore_keeps_secrets_and_venv_out() -> None:
    lines = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()]
    assert "*" in lines
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert allowed == {"pyproject.toml", "uv.lock", "README.md", "airflow_wandb_launch"}


# --- .env.example -------------------------------------------------------------------------------


@pytest.mark.parametrize(("var", "conn_type"), sorted(CONNECTION_VARS.items()))
def test_env_example_defines_connection(env_example: dict, var: str, conn_type: str) -> None:
    active = [value for is_active, value in env_example.get(var, []) if is_active]
    assert len(active) == 1, f"{var} must be set exactly once (uncommented)"
    conn = json.loads(_unquote(active[0]))
    assert conn["conn_type"] == conn_type


def test_wandb_connection_format(env_example: dict) -> None:
    values = [json.loads(_unquote(v)) for _, v in env_example["AIRFLOW_CONN_WANDB_DEFAULT"]]
    default, *alternatives = values
    assert default["host"] == "https://api.wandb.ai"
    assert set(default["extra"]) == {"entity", "project"}
    # Empty API key: W&B runs offline, so quickstart_local works before any account is set up
    # (WandbHook treats a non-empty placeholder as a real key).
    assert default["password"] == ""
    assert any(PLACEHOLDER_RE.match(alt.get("password", "")) for alt in alternatives)
    # A commented example points the connection at the wandb-local profile's server.
    assert any(alt["host"] == "http://wandb-local:8080" for alt in alternatives)


def _secret_values(obj: object, key: str = "") -> list[tuple[str, str]]:
    if isinstance(obj, dict):
        return [item for k, v in obj.items() for item in _secret_values(v, k)]
    if isinstance(obj, str) and SECRET_FIELD_RE.search(key):
        return [(key, obj)]
    return []


def test_env_example_connection_secrets_are_placeholders(env_example: dict) -> None:
    for var in CONNECTION_VARS:
        for _, raw in env_example[var]:
            for key, value in _secret_values(json.loads(_unquote(raw))):
                assert value == "" or PLACEHOLDER_RE.match(value), f"{var}.{key} is not a <placeholder>"


def test_env_example_has_no_real_looking_secret() -> None:
    text = ENV_EXAMPLE.read_text()
    for label, pattern in REAL_LOOKING_SECRETS.items():
        assert not pattern.search(text), f".env.example contains something like a {label}"
    for line in text.splitlines():
        match = ENV_ASSIGNMENT_RE.match(line)
        if match and SECRET_FIELD_RE.search(match.group(2)) and not match.group(2).startswith("AIRFLOW_CONN_"):
            value = _unquote(match.group(3))
            assert value == "" or PLACEHOLDER_RE.match(value), line


def test_env_example_sets_airflow_uid(env_example: dict) -> None:
    assert [v for active, v in env_example["AIRFLOW_UID"] if active] == ["50000"]


# --- docs ----------------------------------------------------------------------------------------


def test_docs_match_compose_file(services: dict[str, dict]) -> None:
    docs = COMPOSE_DOCS.read_text()
    for command in ("cp .env.example .env", "docker compose up airflow-init", "docker compose up -d"):
        assert command in docs, command
    assert "http://localhost:8080" in docs
    assert "quickstart_local" in docs
    for name in services:
        assert f"`{name}`" in docs, f"service {name} is not documented"
    for profile in ("celery", "wandb-local"):
        assert f"--profile {profile}" in docs, profile
    for var in (*CONNECTION_VARS, "AIRFLOW__CORE__EXECUTOR", "COMPOSE_PROFILES"):
        assert var in docs, var
    for name in {m.group(1) for m in INTERPOLATION_RE.finditer(COMPOSE_FILE.read_text())}:
        assert name in docs, f"{name} is used by docker-compose.yaml but not documented"


def test_readme_compose_commands_are_the_walk_throughs() -> None:
    """The README's short compose section runs the same commands, in the same order, as docs/docker-compose.md."""
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("## Run it with Docker Compose", 1)[1].split("\n## ", 1)[0]
    commands = [line.split("#")[0].strip() for line in section.splitlines() if line.startswith(("cp ", "docker "))]
    assert commands == ["cp .env.example .env", "docker compose up airflow-init", "docker compose up -d"]
    docs = COMPOSE_DOCS.read_text()
    positions = [docs.index(command) for command in commands]
    assert positions == sorted(positions)
