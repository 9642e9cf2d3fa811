"""deploy/ agrees with the code: the compose file, the Kubernetes manifests and the Dockerfile.

Docker and Kubernetes cannot run on the dev machines, so these files are kept correct by
reading them. Every component in `services.registry` must be deployed; ports must be the
defaults of its settings class; commands must parse with the real `zhihui` CLI; health
checks and probes must hit the component's own port; peers must be reached by service name
(checked by loading the settings classes with the deployed environment); secrets must never
be written down; there is one indexer only; the image runs as a non-root user.

Components deployed ahead of their code (not yet in the registry, or without a CLI command)
are checked for consistency within deploy/ and skip, explicitly, only the comparisons with
code that does not exist yet.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shlex
import subprocess
import sys
import threading
import tomllib
from collections.abc import Callable
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError
from sqlalchemy import MetaData

from services.cli.main import build_parser
from services.gateway.indexer.runner import IndexerSettings
from services.kernel.library import declared_libraries
from services.kernel.library import library_named
from services.kernel.library import peers_of
from services.kernel.settings import DEFAULT_INTERNAL_TOKEN
from services.kernel.settings import Environment
from services.kernel.settings import PlatformSettings
from services.registry import COMPONENTS
from services.registry import SERVICES
from services.registry import ServiceSpec

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE_FILE = DEPLOY / "compose.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
K8S_DIR = DEPLOY / "k8s"

# What deploy/ runs and on which port. Ports are compared with each settings class's default
# for the components the registry has; a component added to the registry must be added here.
SERVED_PORTS = {
    "gateway": 8000,
    "institutions": 8101,
    "experts": 8102,
    "outcomes": 8103,
    "events": 8105,
    "datasets": 8104,
}
INDEXER = "indexer"
PORTS = {**SERVED_PORTS, INDEXER: 8010}
MIGRATE = "migrate"
INFRASTRUCTURE = {"postgres", "elasticsearch"}
# Stateless: scaled by a HorizontalPodAutoscaler. The indexer is not: one per feed.
STATELESS = set(SERVED_PORTS)
SECRET_KEYS = {"ZHIHUI_INTERNAL_TOKEN", "ZHIHUI_DATABASE_URL"}
# Deployed configuration that no settings class reads yet.
NOT_READ_YET: set[str] = set()
# Stands in for the secrets when the deployed environment is loaded into the settings classes.
FAKE_SECRETS = {
    "ZHIHUI_INTERNAL_TOKEN": "deploy-test-token-0123456789abcdef",
    "ZHIHUI_POSTGRES_PASSWORD": "deploy-test-password",
}
SOURCES = ("compose", "k8s")

# The indexer has no database of its own (its cursors live in the gateway's), so it is not a
# registry component; its settings class is what the deployment must agree with.
INDEXER_SPEC = ServiceSpec(
    name="indexer",
    label="索引",
    settings=IndexerSettings,
    metadata=MetaData(),
    app_factory="services.cli.indexer:cmd_indexer",
)
REGISTRY = {spec.name: spec for spec in (*COMPONENTS, INDEXER_SPEC)}


def registered(name: str) -> ServiceSpec:
    """The registry's spec for `name`: every deployed component must exist in the code."""
    assert name in REGISTRY, f"deploy/ runs {name!r}, which services.registry does not know"
    return REGISTRY[name]


def env_prefix(spec: ServiceSpec) -> str:
    return str(spec.settings.model_config.get("env_prefix", ""))  # type: ignore[attr-defined]


def settings_fields(spec: ServiceSpec) -> dict[str, Any]:
    return dict(spec.settings.model_fields)  # type: ignore[attr-defined]


def peer_fields(spec: ServiceSpec) -> dict[str, str]:
    """The peers a library's service reaches (`ServiceSettings.peer_url`), by the variable
    suffix that points it at each (`institutions_url` → `institutions`)."""
    if spec.name not in {library.name for library in declared_libraries()}:
        return {}
    return {f"{peer}_url": peer for peer in peers_of(library_named(spec.name))}


def expected_command(name: str) -> list[str]:
    if name == INDEXER:
        return ["zhihui", "indexer"]
    if name == MIGRATE:
        return ["zhihui", "migrate"]
    return ["zhihui", "serve", name, "--host", "0.0.0.0"]


def as_argv(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def cli_commands() -> set[str]:
    parser = build_parser()
    for action in parser._actions:  # argparse keeps subcommands on a private action
        if action.choices and isinstance(action.choices, dict):
            return set(action.choices)
    raise AssertionError("the zhihui CLI has no subcommands")


def assert_parses_with_cli(argv: list[str], name: str) -> None:
    """The command is one the real `zhihui` CLI accepts."""
    assert argv[0] == "zhihui", argv
    assert argv[1] in cli_commands(), f"`zhihui {argv[1]}` does not exist"
    if argv[1] == "serve":
        registered(name)
    args = build_parser().parse_args(argv[1:])
    if argv[1] == "serve":
        assert args.service == name
        assert args.host == "0.0.0.0", "bind all interfaces inside a container"
        assert args.port is None, "the port comes from the settings (ZHIHUI_<NAME>_PORT)"


# --- loading ----------------------------------------------------------------------------------


@cache
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


def compose_services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def compose_app_services() -> dict[str, dict[str, Any]]:
    """The services built from deploy/Dockerfile (everything but the infrastructure)."""
    return {name: svc for name, svc in compose_services().items() if "build" in svc}


def compose_environment(name: str) -> dict[str, str]:
    env = compose_services()[name].get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


_INTERPOLATION = re.compile(r"\$\{(?P<var>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(value: str, given: dict[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?error}` with `given` as the shell."""

    def substitute(match: re.Match[str]) -> str:
        var, op, arg = match["var"], match["op"], match["arg"]
        if given.get(var):
            return given[var]
        if op in (":-", "-"):
            return arg
        raise AssertionError(f"${{{var}}} has no default and the test gives no value for it")

    return _INTERPOLATION.sub(substitute, value).replace("$$", "$")


@cache
def k8s_objects() -> tuple[dict[str, Any], ...]:
    objects = []
    for path in sorted(K8S_DIR.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                doc["__file__"] = path.name
                objects.append(doc)
    return tuple(objects)


def k8s_of_kind(kind: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for obj in k8s_objects():
        if obj.get("kind") == kind:
            name = obj["metadata"]["name"]
            assert name not in found, f"two {kind}s named {name}"
            found[name] = obj
    return found


def k8s_one(kind: str) -> dict[str, Any]:
    objects = k8s_of_kind(kind)
    assert len(objects) == 1, f"expected one {kind}, found {sorted(objects)}"
    return next(iter(objects.values()))


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def only_container(workload: dict[str, Any]) -> dict[str, Any]:
    containers = pod_spec(workload)["containers"]
    assert len(containers) == 1, f"{workload['metadata']['name']}: one container per pod"
    return containers[0]


def resolve_port(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    for item in container.get("ports", []):
        if item.get("name") == port:
            return int(item["containerPort"])
    raise AssertionError(f"container {container['name']} has no port named {port!r}")


def workloads() -> list[dict[str, Any]]:
    return [*k8s_of_kind("Deployment").values(), *k8s_of_kind("Job").values()]


def k8s_environment(name: str) -> dict[str, str]:
    """What a component's pod sees: its envFrom ConfigMaps and Secrets, then its own env."""
    container = only_container(k8s_of_kind("Deployment")[name])
    configmaps, secrets = k8s_of_kind("ConfigMap"), k8s_of_kind("Secret")
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(configmaps[source["configMapRef"]["name"]].get("data", {}))
        if "secretRef" in source:
            env.update(secrets[source["secretRef"]["name"]].get("stringData", {}))
    for item in container.get("env", []):
        env[item["name"]] = str(item.get("value", ""))
    return {k: str(v) for k, v in env.items()}


def environment(source: str, name: str) -> dict[str, str]:
    """A component's environment with the secrets stood in for (as compose or k8s runs it)."""
    if source == "compose":
        raw = compose_environment(name)
        return {k: interpolate(v, FAKE_SECRETS) for k, v in raw.items()}
    env = k8s_environment(name)
    env["ZHIHUI_INTERNAL_TOKEN"] = FAKE_SECRETS["ZHIHUI_INTERNAL_TOKEN"]
    return env


@pytest.fixture
def deployed_env(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, str]], None]:
    """Replace this process's ZHIHUI_* variables with a component's deployed environment."""

    def apply(env: dict[str, str]) -> None:
        for key in list(os.environ):
            if key.startswith("ZHIHUI_"):
                monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)

    return apply


@cache
def dockerfile_instructions() -> tuple[tuple[str, str], ...]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = pending + stripped
        pending = ""
        keyword, _, args = full.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    assert not pending, "the Dockerfile ends inside a continuation line"
    return tuple(instructions)


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """Instructions per stage; each stage starts with its FROM (ARGs resolved)."""
    args: dict[str, str] = {}
    stages: list[list[tuple[str, str]]] = []
    for keyword, value in dockerfile_instructions():
        if keyword == "ARG" and not stages and "=" in value:
            name, default = value.split("=", 1)
            args[name] = default
        if keyword == "FROM":
            value = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m[1], m[0]), value)
            stages.append([])
        if stages:
            stages[-1].append((keyword, value))
    assert stages, "the Dockerfile has no FROM"
    return stages


def dockerfile_uid() -> int:
    users = [value for keyword, value in dockerfile_stages()[-1] if keyword == "USER"]
    assert users, "the final stage of deploy/Dockerfile sets no USER: the image would run as root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit(), f"USER {users[-1]}: use a numeric UID so runAsNonRoot can verify it"
    return int(uid)


# --- the registry is deployed, on its ports ---------------------------------------------------


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_registered_component_is_deployed(name: str) -> None:
    assert name in PORTS, f"{name} is in services.registry but not in tests/deploy's port table"
    assert name in compose_app_services(), f"{name} is missing from deploy/compose.yaml"
    assert name in k8s_of_kind("Deployment"), f"{name} has no Deployment in deploy/k8s/"
    assert name in k8s_of_kind("Service"), f"{name} has no Service in deploy/k8s/"


@pytest.mark.parametrize("name", sorted(PORTS))
def test_deployed_port_is_the_settings_default(name: str) -> None:
    spec = registered(name)
    default = settings_fields(spec)["port"].default
    assert default == PORTS[name], (
        f"{spec.settings.__name__}.port defaults to {default} but deploy/ uses {PORTS[name]}"  # type: ignore[attr-defined]
    )


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("name", sorted(PORTS))
def test_deployed_environment_sets_port_and_url(source: str, name: str) -> None:
    env = environment(source, name)
    prefix = f"ZHIHUI_{name.upper()}_"
    assert env.get(f"{prefix}PORT") == str(PORTS[name])
    if name in SERVED_PORTS and name != "gateway":
        assert env.get(f"{prefix}URL") == f"http://{name}:{PORTS[name]}"
    if name == INDEXER:
        # `zhihui indexer` has no --host flag: its readiness endpoint must bind all interfaces.
        assert env.get(f"{prefix}HOST") == "0.0.0.0"


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("name", sorted(PORTS))
def test_settings_loaded_from_the_deployed_environment(
    source: str, name: str, deployed_env: Callable[[dict[str, str]], None]
) -> None:
    """The settings classes read the deployed variables: right port, peers by service name."""
    spec = registered(name)
    deployed_env(environment(source, name))
    settings = spec.settings()
    assert settings.port == PORTS[name]
    for field, peer in peer_fields(spec).items():
        assert peer in PORTS, f"{name}.{field} names {peer!r}, which deploy/ does not run"
        assert settings.peer_url(peer) == f"http://{peer}:{PORTS[peer]}", (
            f"{source}: {env_prefix(spec)}{field.upper()} must point {name} at its peer {peer}"
        )
    if name in ("gateway", INDEXER):
        # The gateway (and the indexer) reach every service at its settings' base_url.
        for service in SERVICES:
            assert service.settings().base_url == f"http://{service.name}:{PORTS[service.name]}"
    platform = PlatformSettings()
    assert platform.environment != Environment.LOCAL
    assert platform.database_url and platform.database_url.startswith("postgresql://")


@pytest.mark.parametrize("source", SOURCES)
def test_every_deployed_variable_is_read_by_some_settings(source: str) -> None:
    """A misspelt or stale variable is silently ignored by pydantic-settings; catch it here."""
    known = {f"ZHIHUI_{field.upper()}" for field in PlatformSettings.model_fields} | NOT_READ_YET
    undeployed_prefixes = [f"ZHIHUI_{name.upper()}_" for name in PORTS if name not in REGISTRY]
    for spec in REGISTRY.values():
        known |= {f"{env_prefix(spec)}{field.upper()}" for field in settings_fields(spec)}
        known |= {f"{env_prefix(spec)}{field.upper()}" for field in peer_fields(spec)}
    for name in PORTS:
        for var in environment(source, name):
            if var in known or any(var.startswith(p) for p in undeployed_prefixes):
                continue
            raise AssertionError(f"{source} sets {var} for {name}, but no settings class reads it")


# --- compose ----------------------------------------------------------------------------------


def test_compose_runs_every_component_and_nothing_else() -> None:
    assert set(compose_app_services()) == {*PORTS, MIGRATE}
    assert set(compose_services()) == {*PORTS, MIGRATE, *INFRASTRUCTURE}


def test_compose_builds_deploy_dockerfile_from_the_repository_root() -> None:
    for name, service in compose_app_services().items():
        build = service["build"]
        context = (COMPOSE_FILE.parent / build["context"]).resolve()
        assert context == ROOT, f"{name}: build context {context}"
        assert (context / build["dockerfile"]).resolve() == DOCKERFILE


@pytest.mark.parametrize("name", sorted({*PORTS, MIGRATE}))
def test_compose_command(name: str) -> None:
    argv = as_argv(compose_app_services()[name]["command"])
    assert argv == expected_command(name)
    assert_parses_with_cli(argv, name)


@pytest.mark.parametrize("name", sorted(PORTS))
def test_compose_healthcheck_hits_own_readyz(name: str) -> None:
    check = compose_app_services()[name].get("healthcheck")
    assert check and not check.get("disable"), f"{name} has no healthcheck"
    test = check["test"]
    assert isinstance(test, list) and test[:3] == ["CMD", "python", "-c"], test
    urls = re.findall(r"https?://[^'\"\s]+", test[3])
    assert urls == [f"http://127.0.0.1:{PORTS[name]}/readyz"]


@pytest.fixture(scope="module")
def readyz_server() -> Iterator[str]:
    """A local server answering /up with 200 and /down with 503."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/up" else 503)
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("name", sorted(PORTS))
def test_compose_healthcheck_fails_when_not_ready(name: str, readyz_server: str) -> None:
    """Run the healthcheck's own Python: healthy on 200, unhealthy on 503."""
    code = compose_app_services()[name]["healthcheck"]["test"][3]
    own = f"http://127.0.0.1:{PORTS[name]}/readyz"
    for path, healthy in (("/up", True), ("/down", False)):
        probe = code.replace(own, readyz_server + path)
        result = subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=30)
        assert (result.returncode == 0) is healthy, (path, result.stderr.decode()[-500:])


def test_compose_infrastructure() -> None:
    services = compose_services()
    assert services["postgres"]["image"] == "postgres:16"
    image = services["elasticsearch"]["image"]
    assert image.startswith("docker.elastic.co/elasticsearch/elasticsearch:")
    es_env = services["elasticsearch"]["environment"]
    assert es_env["discovery.type"] == "single-node"
    assert str(es_env["xpack.security.enabled"]).lower() == "false"
    assert "-Xmx" in es_env["ES_JAVA_OPTS"]
    # The Python client's major must match the server's (pyproject pins the client).
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    client = next(d for d in pyproject["project"]["dependencies"] if d.startswith("elasticsearch"))
    client_major = re.search(r">=\s*(\d+)", client)
    assert client_major, client
    assert image.rsplit(":", 1)[1].split(".")[0] == client_major[1]
    for name in INFRASTRUCTURE:
        check = services[name].get("healthcheck")
        assert check and not check.get("disable"), f"{name} has no healthcheck"
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert "_cluster/health" in " ".join(services["elasticsearch"]["healthcheck"]["test"])


def test_compose_start_order() -> None:
    services = compose_services()

    def conditions(name: str) -> dict[str, str]:
        depends = services[name].get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions, not a list"
        return {dep: spec.get("condition") for dep, spec in depends.items()}

    assert conditions(MIGRATE) == {"postgres": "service_healthy"}
    assert services[MIGRATE].get("restart") in (None, "no"), "migrate is a one-shot"
    for name in PORTS:
        assert conditions(name).get(MIGRATE) == "service_completed_successfully", name
        for dep, condition in conditions(name).items():
            assert condition in ("service_healthy", "service_completed_successfully"), (name, dep)
            if condition == "service_healthy":
                assert services[dep].get("healthcheck"), f"{name} waits on {dep}'s healthcheck"
    domain = set(SERVED_PORTS) - {"gateway"}
    for name in ("gateway", INDEXER):
        healthy = {d for d, c in conditions(name).items() if c == "service_healthy"}
        assert healthy >= domain | {"elasticsearch"}, name


def test_compose_publishes_only_the_gateway() -> None:
    published = {name for name, svc in compose_services().items() if svc.get("ports")}
    assert published == {"gateway"}
    for port in compose_services()["gateway"]["ports"]:
        target = port["target"] if isinstance(port, dict) else str(port).rsplit(":", 1)[-1]
        assert int(target) == PORTS["gateway"]
    for name, service in compose_services().items():
        assert service.get("network_mode") != "host", name


def test_compose_runs_one_indexer() -> None:
    indexer = compose_services()[INDEXER]
    assert indexer.get("deploy", {}).get("replicas", 1) == 1
    assert indexer.get("scale", 1) == 1


def test_compose_secrets_are_not_hard_coded() -> None:
    required = re.compile(r"^\$\{(\w+):\?[^}]+\}$")
    for name in compose_app_services():
        env = compose_environment(name)
        token = required.match(env["ZHIHUI_INTERNAL_TOKEN"])
        assert token and token[1] == "ZHIHUI_INTERNAL_TOKEN", (name, env["ZHIHUI_INTERNAL_TOKEN"])
        userinfo = re.match(r"^postgresql://([^:@/]+):([^@]+)@", env["ZHIHUI_DATABASE_URL"])
        assert userinfo, f"{name}: ZHIHUI_DATABASE_URL must carry an interpolated password"
        password = required.match(userinfo[2])
        assert password, f"{name}: the database password must be ${{VAR:?…}}, not {userinfo[2]}"
        postgres_password = compose_environment("postgres")["POSTGRES_PASSWORD"]
        postgres_var = required.match(postgres_password)
        assert postgres_var and postgres_var[1] == password[1], "one password for both ends"
        for var, value in env.items():
            if re.search(r"TOKEN|PASSWORD|SECRET|API_KEY", var):
                assert required.match(value), f"{name}: {var} is hard-coded"
    assert DEFAULT_INTERNAL_TOKEN not in COMPOSE_FILE.read_text(encoding="utf-8")


def test_compose_environment_is_not_local() -> None:
    for name in compose_app_services():
        value = interpolate(compose_environment(name)["ZHIHUI_ENVIRONMENT"], {})
        assert Environment(value) != Environment.LOCAL, "outside local, default secrets refused"


# --- compose and Kubernetes say the same --------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PORTS))
def test_compose_and_k8s_set_the_same_variables(name: str) -> None:
    compose_env, k8s_env = compose_environment(name), k8s_environment(name)
    assert set(compose_env) == set(k8s_env)
    for var in compose_env:
        if var.endswith(("_PORT", "_HOST", "_POOL_SIZE")) or (
            var.endswith("_URL") and var not in SECRET_KEYS | NOT_READ_YET
        ):
            assert compose_env[var] == k8s_env[var], var


# --- Kubernetes ---------------------------------------------------------------------------------


def test_k8s_objects_live_in_the_namespace() -> None:
    namespace = k8s_one("Namespace")["metadata"]["name"]
    for obj in k8s_objects():
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == namespace, obj["__file__"]


def test_k8s_has_a_deployment_and_service_per_component_and_nothing_else() -> None:
    assert set(k8s_of_kind("Deployment")) == set(PORTS)
    assert set(k8s_of_kind("Service")) == set(PORTS)


@pytest.mark.parametrize("name", sorted(PORTS))
def test_k8s_service_routes_to_its_deployment(name: str) -> None:
    deployments = k8s_of_kind("Deployment")
    deployment, service = deployments[name], k8s_of_kind("Service")[name]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    selector = service["spec"]["selector"]
    assert selector.items() <= labels.items()
    for other, workload in deployments.items():
        other_labels = workload["spec"]["template"]["metadata"]["labels"]
        if other != name:
            assert not selector.items() <= other_labels.items(), f"{name} also selects {other}"
    container = only_container(deployment)
    [port] = service["spec"]["ports"]
    assert port["port"] == PORTS[name]
    assert resolve_port(container, port.get("targetPort", port["port"])) == PORTS[name]


@pytest.mark.parametrize("name", sorted(PORTS))
def test_k8s_probes_hit_the_component_port(name: str) -> None:
    container = only_container(k8s_of_kind("Deployment")[name])
    assert [p["containerPort"] for p in container["ports"]] == [PORTS[name]]
    expected_paths = {"readinessProbe": "/readyz", "livenessProbe": "/healthz"}
    for probe_name, path in expected_paths.items():
        probe = container.get(probe_name)
        assert probe, f"{name} has no {probe_name}"
        assert probe["httpGet"]["path"] == path
        assert resolve_port(container, probe["httpGet"]["port"]) == PORTS[name]
    if "startupProbe" in container:
        assert resolve_port(container, container["startupProbe"]["httpGet"]["port"]) == PORTS[name]


@pytest.mark.parametrize("name", sorted(PORTS))
def test_k8s_command(name: str) -> None:
    argv = as_argv(only_container(k8s_of_kind("Deployment")[name])["command"])
    assert argv == expected_command(name)
    assert_parses_with_cli(argv, name)


def test_k8s_migration_job() -> None:
    job = k8s_one("Job")
    argv = as_argv(only_container(job)["command"])
    assert argv == expected_command(MIGRATE)
    assert_parses_with_cli(argv, MIGRATE)
    assert pod_spec(job)["restartPolicy"] in ("Never", "OnFailure")


def test_k8s_pods_are_non_root_limited_and_share_one_image() -> None:
    uid = dockerfile_uid()
    images = set()
    configmaps, secrets = set(k8s_of_kind("ConfigMap")), set(k8s_of_kind("Secret"))
    for workload in workloads():
        name = workload["metadata"]["name"]
        pod = pod_spec(workload)
        container = only_container(workload)
        pod_security = pod.get("securityContext", {})
        container_security = container.get("securityContext", {})
        merged = {**pod_security, **container_security}
        assert merged.get("runAsNonRoot") is True, f"{name}: runAsNonRoot"
        assert merged.get("runAsUser", uid) == uid, f"{name}: runAsUser is not the image's USER"
        assert container_security.get("allowPrivilegeEscalation") is False, name
        for kind in ("requests", "limits"):
            assert set(container.get("resources", {}).get(kind, {})) >= {"cpu", "memory"}, (
                f"{name}: resources.{kind} needs cpu and memory"
            )
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                assert source["configMapRef"]["name"] in configmaps, name
            if "secretRef" in source:
                assert source["secretRef"]["name"] in secrets, name
        images.add(container["image"])
    assert len(images) == 1, f"every component runs the one image: {images}"


def test_k8s_autoscales_the_stateless_components_only() -> None:
    deployments = k8s_of_kind("Deployment")
    targets = {}
    for hpa in k8s_of_kind("HorizontalPodAutoscaler").values():
        ref = hpa["spec"]["scaleTargetRef"]
        assert ref["kind"] == "Deployment" and ref["name"] in deployments, ref
        assert 1 <= hpa["spec"].get("minReplicas", 1) <= hpa["spec"]["maxReplicas"]
        targets[ref["name"]] = hpa
    assert set(targets) == STATELESS
    for name in STATELESS:
        assert "replicas" not in deployments[name]["spec"], (
            f"{name}: the HPA owns replicas; re-applying the Deployment must not reset them"
        )


def test_k8s_runs_one_indexer() -> None:
    indexer = k8s_of_kind("Deployment")[INDEXER]
    assert indexer["spec"]["replicas"] == 1
    assert indexer["spec"]["strategy"]["type"] == "Recreate", "never two indexers at once"
    hpa_targets = {
        hpa["spec"]["scaleTargetRef"]["name"]
        for hpa in k8s_of_kind("HorizontalPodAutoscaler").values()
    }
    assert INDEXER not in hpa_targets


def test_k8s_secrets_only_in_the_secret() -> None:
    secret = k8s_one("Secret")
    assert set(secret.get("stringData", {})) == SECRET_KEYS
    assert not secret.get("data"), "the template carries placeholders, not encoded values"
    for configmap in k8s_of_kind("ConfigMap").values():
        leaked = SECRET_KEYS & set(configmap.get("data", {}))
        assert not leaked, f"{configmap['metadata']['name']} holds secrets: {leaked}"
        for var in configmap.get("data", {}):
            assert not re.search(r"TOKEN|PASSWORD|SECRET|API_KEY", var), var
    for workload in workloads():
        for item in only_container(workload).get("env", []):
            assert item["name"] not in SECRET_KEYS or "valueFrom" in item, item["name"]
    for path in K8S_DIR.glob("*.yaml"):
        assert DEFAULT_INTERNAL_TOKEN not in path.read_text(encoding="utf-8"), path.name


def test_k8s_secret_template_placeholder_is_refused() -> None:
    """Applied by mistake, the template's token stops every component from starting."""
    token = k8s_one("Secret")["stringData"]["ZHIHUI_INTERNAL_TOKEN"]
    with pytest.raises(ValidationError):
        PlatformSettings(environment=Environment.PRODUCTION, internal_token=token)


def test_k8s_environment_is_not_local() -> None:
    value = k8s_one("ConfigMap")["data"]["ZHIHUI_ENVIRONMENT"]
    assert Environment(value) != Environment.LOCAL


# --- Dockerfile and build context ---------------------------------------------------------------


def test_dockerfile_final_stage_runs_as_a_non_root_user() -> None:
    assert dockerfile_uid() != 0


def test_dockerfile_base_image_matches_requires_python() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    minimum = re.search(r">=\s*(\d+)\.(\d+)", pyproject["project"]["requires-python"])
    assert minimum, pyproject["project"]["requires-python"]
    for stage in dockerfile_stages():
        image = stage[0][1].split()[0]
        version = re.fullmatch(r"python:(\d+)\.(\d+)-slim", image)
        assert version, f"FROM {image}: expected python:3.X-slim"
        assert (int(version[1]), int(version[2])) >= (int(minimum[1]), int(minimum[2]))


def test_dockerfile_installs_the_project_with_its_migrations() -> None:
    stages = dockerfile_stages()
    install_stage = None
    for index, stage in enumerate(stages):
        copied: set[str] = set()
        for keyword, value in stage:
            if keyword == "COPY" and "--from" not in value:
                copied |= {Path(src).as_posix().rstrip("/") for src in value.split()[:-1]}
            if keyword == "RUN" and re.search(r"\bpip install\b(?:\s+-\S+)*\s+\.(?:\s|$)", value):
                assert {"pyproject.toml", "services", "migrations"} <= copied, copied
                install_stage = index
    assert install_stage is not None, "no `pip install .` in deploy/Dockerfile"
    final = stages[-1]
    if install_stage != len(stages) - 1:
        name = stages[install_stage][0][1].split()[-1]
        assert any(k == "COPY" and f"--from={name}" in v for k, v in final), (
            "the final stage must copy what the install stage installed"
        )


def test_dockerfile_default_command_is_the_gateway() -> None:
    final = dockerfile_stages()[-1]
    [cmd] = [value for keyword, value in final if keyword == "CMD"]
    assert json.loads(cmd) == expected_command("gateway"), "CMD in exec form, the gateway"
    assert not [value for keyword, value in final if keyword == "ENTRYPOINT"]
    exposed = {value for keyword, value in final if keyword == "EXPOSE"}
    assert exposed == {str(PORTS["gateway"])}


def _dockerignore_regex(pattern: str) -> re.Pattern[str]:
    """Docker's .dockerignore matching: rooted at the context, `**` spans directories."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            body = pattern[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    # A pattern that matches a directory excludes everything inside it.
    return re.compile("".join(out) + "(?:/.*)?$")


def dockerignored(path: str) -> bool:
    excluded = False
    for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        if _dockerignore_regex(pattern).match(path):
            excluded = not negate
    return excluded


def test_dockerignore_keeps_local_state_out_and_the_sources_in() -> None:
    assert DOCKERIGNORE.is_file(), "the build context is the repository root"
    for path in (
        ".venv/bin/python",
        ".local/data/institutions.sqlite",
        ".git/config",
        ".env",
        "deploy/.env",
        "services/__pycache__/registry.cpython-311.pyc",
        ".pytest_cache/v/cache/nodeids",
        ".ruff_cache/CACHEDIR.TAG",
    ):
        assert dockerignored(path), f"{path} would be sent to the Docker daemon"
    needed = ["pyproject.toml", "README.md"]
    for folder in ("services", "migrations"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                needed.append(path.relative_to(ROOT).as_posix())
    assert len(needed) > 10
    excluded = [path for path in needed if dockerignored(path)]
    assert not excluded, f".dockerignore drops files the image needs: {excluded[:10]}"


# --- the README ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PORTS))
def test_readme_lists_each_component_with_its_port(name: str) -> None:
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    rows = [line for line in readme.splitlines() if line.startswith(f"| `{name}` |")]
    assert rows, f"deploy/README.md has no row for {name}"
    assert str(PORTS[name]) in rows[0]
