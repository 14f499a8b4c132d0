"""docker-compose.yml and the service Dockerfiles agree with the Compose spec and with the services.

No Docker engine runs where the tests do, so the files are checked statically: the compose file
against the Compose JSON Schema; every variable it sets against what the service's Settings class
reads; the ports in compose, in the environment and in each Dockerfile against each other; no
literal secrets. Each check is a small function returning what is wrong, so the negative tests
below prove on broken copies that the very same functions catch mistakes.
"""

from __future__ import annotations

import copy
import importlib
import itertools
import json
import os
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import jsonschema
import pytest
import yaml
from jsonschema.validators import validator_for
from pydantic_settings import BaseSettings

from tests.dockerfiles import parse_dockerfile

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
SCHEMA_FILE = ROOT / "tests" / "schemas" / "compose-spec.json"  # vendored: see its README

# Compose service name -> the module holding its Settings class.
SETTINGS_MODULES = {"membership": "membership.settings", "gateway": "gateway.settings"}
DOCKERFILES = {name: ROOT / "services" / name / "Dockerfile" for name in SETTINGS_MODULES}

SECRET_MARKERS = ("PASSWORD", "SECRET", "KEY")
_SUBSTITUTION = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?[-?+][^}]*)?\}")
_INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


# ---- the checks ------------------------------------------------------------------------------


def settings_class(service: str) -> type[BaseSettings]:
    cls: type[BaseSettings] = importlib.import_module(SETTINGS_MODULES[service]).Settings
    return cls


def schema_errors(compose: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """What the Compose JSON Schema rejects, using the draft the schema names ($schema)."""
    declared = str(schema.get("$schema", ""))
    # The compose spec names draft 7 over https; jsonschema knows the canonical http URI.
    cls = validator_for({"$schema": declared.replace("https://", "http://", 1)}, default=None)
    cls = cls or validator_for(schema, default=jsonschema.Draft7Validator)
    cls.check_schema(schema)
    errors = cls(schema).iter_errors(compose)
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors]


def interpolate(value: str) -> str:
    """The value compose would use with no variables set: `${VAR:-default}` gives the default."""

    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        if match["op"] in ("-", ":-"):
            return match["arg"]
        return ""  # unset: plain ${VAR} and $VAR are empty, ${VAR:+alt} too, ${VAR:?err} needs it

    return _INTERPOLATION.sub(replace, value)


def raw_environment(service: dict[str, Any]) -> dict[str, Any]:
    """A service's `environment` as written, in either the map or the list form."""
    env = service.get("environment") or {}
    if isinstance(env, dict):
        return dict(env)
    pairs = (item.split("=", 1) if "=" in item else (item, None) for item in env)
    return dict(pairs)


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as its process would see it (with no variables set in the shell)."""
    resolved: dict[str, str] = {}
    for name, value in raw_environment(service).items():
        if value is None:
            continue  # passed through from the shell, unset here
        if isinstance(value, bool):
            value = str(value).lower()
        resolved[name] = interpolate(str(value))
    return resolved


def settings_env_names(cls: type[BaseSettings]) -> set[str]:
    """The variables a pydantic-settings class reads: prefix + field name, or a field's alias."""
    prefix = cls.model_config.get("env_prefix", "")
    names = set()
    for field_name, field in cls.model_fields.items():
        alias = field.validation_alias if isinstance(field.validation_alias, str) else field.alias
        names.add((alias or f"{prefix}{field_name}").upper())
    return names


def unknown_variables(env: dict[str, Any], cls: type[BaseSettings]) -> list[str]:
    """Variables set for a service that its Settings class does not read (case-insensitively)."""
    known = settings_env_names(cls)
    return sorted(name for name in env if name.upper() not in known)


def literal_secrets(compose: dict[str, Any]) -> list[str]:
    """Secret-looking variables (and build args) whose value is written out instead of substituted."""
    found = []
    for service_name, service in (compose.get("services") or {}).items():
        build = service.get("build")
        args = raw_environment({"environment": build.get("args")}) if isinstance(build, dict) else {}
        for name, value in {**raw_environment(service), **args}.items():
            if not any(marker in name.upper() for marker in SECRET_MARKERS) or value is None:
                continue
            if name.upper().endswith("_FILE"):  # the path of a secret file in a volume, not a secret
                continue
            if not (isinstance(value, str) and _SUBSTITUTION.fullmatch(value)):
                found.append(f"{service_name}: {name}")
    return found


def container_ports(service: dict[str, Any]) -> set[int]:
    """The container-side ports a service publishes (`ports`) or exposes (`expose`)."""
    ports = set()
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            ports.add(int(entry["target"]))
        else:
            ports.add(int(str(entry).split("/")[0].rsplit(":", 1)[-1]))
    for entry in service.get("expose") or []:
        ports.add(int(str(entry).split("/")[0]))
    return ports


def env_port(service_name: str, compose: dict[str, Any]) -> int | None:
    cls = settings_class(service_name)
    prefix = str(cls.model_config.get("env_prefix", "")).upper()
    env = {k.upper(): v for k, v in environment(compose["services"][service_name]).items()}
    port = env.get(f"{prefix}PORT")
    return int(port) if port is not None else None


def port_problems(service_name: str, compose: dict[str, Any]) -> list[str]:
    """The port the environment sets must be the one compose publishes or exposes."""
    port = env_port(service_name, compose)
    if port is None:
        return [f"{service_name}: no port set in its environment"]
    mismatched = container_ports(compose["services"][service_name]) - {port}
    return [
        f"{service_name}: compose names container port {p}, the service listens on {port}" for p in mismatched
    ]


def upstream_problems(compose: dict[str, Any]) -> list[str]:
    """A URL pointing at another compose service must use the port that service listens on."""
    problems = []
    services = compose["services"]
    for service_name in SETTINGS_MODULES:
        for name, value in environment(services[service_name]).items():
            url = urlsplit(value)
            if url.scheme not in ("http", "https") or url.hostname not in SETTINGS_MODULES:
                continue
            expected = env_port(url.hostname, compose)
            if url.port != expected:
                problems.append(f"{service_name}: {name}={value} but {url.hostname} listens on {expected}")
    return problems


def command_port(args: str) -> int | None:
    """The `--port` a CMD passes, in exec (JSON) or shell form."""
    argv = json.loads(args) if args.startswith("[") else shlex.split(args)
    for flag, value in itertools.pairwise(argv):
        if flag == "--port":
            return int(value)
    return None


def dockerfile_problems(text: str, port: int | None) -> list[str]:
    """Multi-stage, non-root, a health check on /health/ready, and one port everywhere."""
    instructions = parse_dockerfile(text)
    problems = []
    stage_starts = [i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    if len(stage_starts) < 2:
        problems.append(f"{len(stage_starts)} FROM stage(s); a build and a runtime stage are expected")
    final = instructions[stage_starts[-1] :] if stage_starts else instructions
    by_keyword: dict[str, list[str]] = {}
    for keyword, args in final:
        by_keyword.setdefault(keyword, []).append(args)

    users = by_keyword.get("USER", [])
    if not users:
        problems.append("the runtime stage sets no USER, so it runs as root")
    elif users[-1].split(":")[0] in ("root", "0"):
        problems.append(f"the runtime stage runs as USER {users[-1]}")

    exposed = {int(p.split("/")[0]) for args in by_keyword.get("EXPOSE", []) for p in args.split()}
    if exposed != {port}:
        problems.append(f"EXPOSE {sorted(exposed)} but the service listens on {port}")

    healthchecks = by_keyword.get("HEALTHCHECK", [])
    if not healthchecks or healthchecks[-1].upper() == "NONE":
        problems.append("no HEALTHCHECK in the runtime stage")
    else:
        target = re.search(r"https?://[^/:'\"\s]+:(\d+)(/[^'\"\s]*)", healthchecks[-1])
        if not target or int(target[1]) != port or target[2] != "/health/ready":
            problems.append(f"HEALTHCHECK does not call /health/ready on port {port}")

    commands = by_keyword.get("CMD", []) + by_keyword.get("ENTRYPOINT", [])
    if port not in {command_port(args) for args in commands}:
        problems.append(f"neither CMD nor ENTRYPOINT passes --port {port}")
    return problems


STATEFUL = ("postgres", "membership")


def stateful_without_volume(compose: dict[str, Any], stateful: tuple[str, ...]) -> list[str]:
    """Stateful services whose data would die with their container."""
    services = compose.get("services") or {}
    named = set(compose.get("volumes") or {})
    found = []
    for name in stateful:
        mounts = [str(v).split(":")[0] for v in services.get(name, {}).get("volumes") or []]
        if not any(mount in named for mount in mounts):
            found.append(f"{name}: no named data volume")
    return found


def gateway_key_problems(compose: dict[str, Any], cli: click.Group) -> list[str]:
    """The gateway's key comes from an init service running a real CLI command, through one path."""
    services = compose.get("services") or {}
    named = [(n, s) for n, s in services.items() if "ensure-gateway" in (s.get("command") or [])]
    if not named:
        return ["no service runs `membership api-keys ensure-gateway`"]
    init_name, init = named[0]
    argv = [str(a) for a in init["command"]]
    problems = []
    group = cli.commands.get(argv[1]) if len(argv) > 2 else None
    if argv[0] != "membership" or not isinstance(group, click.Group) or argv[2] not in group.commands:
        problems.append(f"{' '.join(argv)}: no such membership command")
    gateway = services.get("gateway", {})
    condition = (gateway.get("depends_on") or {}).get(init_name, {}).get("condition")
    if condition != "service_completed_successfully":
        problems.append(f"the gateway does not wait for {init_name} to complete successfully")
    written = argv[argv.index("--write") + 1] if "--write" in argv else ""
    read = environment(gateway).get("GATEWAY_MEMBERSHIP_API_KEY_FILE", "")
    if not written or written != read:
        problems.append(f"{init_name} writes {written!r}, the gateway reads {read!r}")
    mounts = [{str(v).split(":")[0] for v in s.get("volumes") or []} for s in (init, gateway)]
    if not mounts[0] & mounts[1]:
        problems.append(f"{init_name} and the gateway share no volume")
    return problems


def story_origin_problems(compose: dict[str, Any]) -> list[str]:
    """Production must not fall back to the built-in samples unnoticed."""
    gateway = (compose.get("services") or {}).get("gateway", {})
    if not environment(gateway).get("GATEWAY_STORY_ORIGIN"):
        return ["GATEWAY_STORY_ORIGIN is not set: production would serve the built-in samples"]
    return []


SCALABLE = ("gateway", "membership")
NGINX_TEMPLATE = ROOT / "deploy" / "nginx" / "tollgate.conf"
BALANCER_TEMPLATE = ROOT / "deploy" / "nginx" / "tollgate-membership.conf"
NGINX_TEMPLATES_DIR = "/etc/nginx/templates/"
_PLACEHOLDER = re.compile(r"\$\{(TOLLGATE_[A-Z_]+)\}")


def published_problems(compose: dict[str, Any], front: str = "nginx") -> list[str]:
    """Only the front publishes a host port; the services behind it can be scaled (`--scale`)."""
    problems = []
    for name, service in (compose.get("services") or {}).items():
        if name != front and service.get("ports"):
            problems.append(f"{name}: publishes {service['ports']}; only {front} may")
    for name in SCALABLE:
        if "container_name" in compose["services"].get(name, {}):
            problems.append(f"{name}: a container_name stops `--scale {name}=N`")
    if not compose["services"].get(front, {}).get("ports"):
        problems.append(f"{front}: publishes no port")
    return problems


def redis_problems(compose: dict[str, Any]) -> list[str]:
    """Both services share the compose Redis, and wait for it to be healthy."""
    services = compose.get("services") or {}
    if "redis" not in services:
        return ["no redis service"]
    problems = []
    for name in SETTINGS_MODULES:
        variable = f"{name.upper()}_REDIS_URL"
        url = urlsplit(environment(services[name]).get(variable, ""))
        if (
            url.scheme != "redis"
            or url.hostname != "redis"
            or url.port not in container_ports(services["redis"])
        ):
            problems.append(f"{name}: {variable} does not name the redis service's port")
        condition = (services[name].get("depends_on") or {}).get("redis", {}).get("condition")
        if condition != "service_healthy":
            problems.append(f"{name} does not wait for redis to be healthy")
    return problems


def template_problems(name: str, service: dict[str, Any], template: Path) -> list[str]:
    """An nginx service mounts a shipped template where its image renders templates, and sets a
    value for each of its placeholders."""
    problems = []
    mounts = [str(v).split(":") for v in service.get("volumes") or []]
    shipped = [m for m in mounts if (ROOT / m[0]).resolve() == template.resolve()]
    if not template.is_file():
        problems.append(f"{template.relative_to(ROOT)} does not exist")
    if not shipped:
        problems.append(f"{name} does not mount {template.relative_to(ROOT)}")
    elif not (shipped[0][1].startswith(NGINX_TEMPLATES_DIR) and shipped[0][1].endswith(".conf.template")):
        problems.append(f"{name} mounts the template at {shipped[0][1]}, which its image does not render")
    env = environment(service)
    wanted = set(_PLACEHOLDER.findall(template.read_text())) if template.is_file() else set()
    if missing := sorted(wanted - set(env)):
        problems.append(f"{name} sets no value for {', '.join(missing)}")
    return problems


def listen_problems(name: str, service: dict[str, Any], variable: str) -> list[str]:
    listen = environment(service).get(variable, "").split()[:1]
    if not listen or int(listen[0].rsplit(":", 1)[-1]) not in container_ports(service):
        return [f"{name} listens on {listen} but publishes or exposes {sorted(container_ports(service))}"]
    return []


def upstream_line_problems(
    name: str, env: dict[str, str], variable: str, resolver: str, target: str
) -> list[str]:
    """The upstream's server lines name `target` (service:port); `resolve` comes with a resolver."""
    problems = []
    if f"server {target} " not in env.get(variable, "") + " ":
        problems.append(f"{name}'s upstream does not name {target}")
    if "resolve" in env.get(variable, "") and "resolver" not in env.get(resolver, ""):
        problems.append(f"{name}: `resolve` needs a resolver (Docker's: 127.0.0.11)")
    return problems


def nginx_problems(compose: dict[str, Any], template: Path) -> list[str]:
    """nginx mounts the shipped template where its image renders templates, with every value set,
    listening on the port it publishes, in front of the gateway's port."""
    services = compose.get("services") or {}
    nginx = services.get("nginx")
    if nginx is None:
        return ["no nginx service"]
    problems = template_problems("nginx", nginx, template) + listen_problems(
        "nginx", nginx, "TOLLGATE_LISTEN"
    )
    target = f"gateway:{env_port('gateway', compose)}"
    problems += upstream_line_problems(
        "nginx", environment(nginx), "TOLLGATE_GATEWAYS", "TOLLGATE_RESOLVER", target
    )
    condition = (nginx.get("depends_on") or {}).get("gateway", {}).get("condition")
    if condition != "service_healthy":
        problems.append("nginx does not wait for the gateway to be healthy")
    return problems


def balancer_problems(compose: dict[str, Any], template: Path, name: str = "membership-lb") -> list[str]:
    """The gateways reach membership through the internal nginx (the shipped membership template),
    which names membership's port, waits for it, and is started before the gateways."""
    services = compose.get("services") or {}
    balancer = services.get(name)
    if balancer is None:
        return [f"no {name} service"]
    problems = template_problems(name, balancer, template)
    problems += listen_problems(name, balancer, "TOLLGATE_MEMBERSHIP_LISTEN")
    env = environment(balancer)
    target = f"membership:{env_port('membership', compose)}"
    problems += upstream_line_problems(
        name, env, "TOLLGATE_MEMBERSHIPS", "TOLLGATE_MEMBERSHIP_RESOLVER", target
    )
    if (balancer.get("depends_on") or {}).get("membership", {}).get("condition") != "service_healthy":
        problems.append(f"{name} does not wait for membership to be healthy")
    gateway = services.get("gateway", {})
    listen = env.get("TOLLGATE_MEMBERSHIP_LISTEN", "").split()[:1]
    expected = f"http://{name}:{listen[0].rsplit(':', 1)[-1] if listen else '?'}"
    if environment(gateway).get("GATEWAY_MEMBERSHIP_URL") != expected:
        problems.append(f"the gateway does not reach membership through {expected}")
    if name not in (gateway.get("depends_on") or {}):
        problems.append(f"the gateway does not start after {name}")
    return problems


def membership_cli() -> click.Group:
    from membership import cli

    return click.Group("membership", commands={"api-keys": cli.api_keys_group})


# ---- the real files --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return loaded


@pytest.fixture(scope="module")
def compose_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_FILE.read_text())
    return schema


def test_compose_file_matches_the_compose_spec(
    compose: dict[str, Any], compose_schema: dict[str, Any]
) -> None:
    assert schema_errors(compose, compose_schema) == []


def test_compose_runs_postgres_redis_membership_gateway_and_nginx(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) >= {"postgres", "redis", "membership", "gateway", "nginx"}
    assert services["membership"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["gateway"]["depends_on"]["membership"]["condition"] == "service_healthy"
    for name in SETTINGS_MODULES:
        assert services[name]["build"] == {"context": ".", "dockerfile": f"services/{name}/Dockerfile"}


@pytest.mark.parametrize("service_name", sorted(SETTINGS_MODULES))
def test_every_variable_is_one_the_service_reads(compose: dict[str, Any], service_name: str) -> None:
    env = raw_environment(compose["services"][service_name])
    assert env, f"{service_name} sets no environment"
    assert unknown_variables(env, settings_class(service_name)) == []


@pytest.mark.parametrize("service_name", sorted(SETTINGS_MODULES))
def test_settings_accept_the_compose_environment(
    compose: dict[str, Any], service_name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cls = settings_class(service_name)
    prefix = str(cls.model_config.get("env_prefix", "")).upper()
    for name in list(os.environ):
        if name.upper().startswith(prefix):
            monkeypatch.delenv(name)
    env = environment(compose["services"][service_name])
    for name, value in env.items():
        if name.endswith("_FILE"):  # a file inside the container (a mounted volume): a stand-in here
            value = str(tmp_path / Path(value).name)
            Path(value).write_text("stand-in\n")
        monkeypatch.setenv(name, value)
    settings: Any = cls()
    assert settings.port == env_port(service_name, compose)
    assert settings.host == env[f"{prefix}HOST"]


@pytest.mark.parametrize("service_name", sorted(SETTINGS_MODULES))
def test_ports_agree_across_compose_environment_and_dockerfile(
    compose: dict[str, Any], service_name: str
) -> None:
    assert port_problems(service_name, compose) == []
    port = env_port(service_name, compose)
    assert dockerfile_problems(DOCKERFILES[service_name].read_text(), port) == []


def test_only_nginx_is_published_and_the_services_behind_it_scale(compose: dict[str, Any]) -> None:
    assert compose["services"]["nginx"]["ports"] == ["8000:8000"]
    assert published_problems(compose) == []
    assert upstream_problems(compose) == []


def test_both_services_share_redis(compose: dict[str, Any]) -> None:
    assert redis_problems(compose) == []


def test_nginx_runs_the_shipped_config_in_front_of_the_gateways(compose: dict[str, Any]) -> None:
    assert nginx_problems(compose, NGINX_TEMPLATE) == []


def test_the_gateways_reach_every_membership_replica_through_the_internal_nginx(
    compose: dict[str, Any],
) -> None:
    assert balancer_problems(compose, BALANCER_TEMPLATE) == []
    assert "ports" not in compose["services"]["membership-lb"]  # internal: never published


LB_ENV = ("membership-lb", "environment")


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("membership-lb", "volumes"), ["./deploy/nginx/tollgate.conf:/etc/nginx/templates/x.conf.template"]),
        ((*LB_ENV, "TOLLGATE_MEMBERSHIPS"), None),
        ((*LB_ENV, "TOLLGATE_MEMBERSHIP_LISTEN"), "9081"),
        ((*LB_ENV, "TOLLGATE_MEMBERSHIPS"), "server membership:9001 resolve;"),
        ((*LB_ENV, "TOLLGATE_MEMBERSHIP_RESOLVER"), "#"),
        (("gateway", "environment", "GATEWAY_MEMBERSHIP_URL"), "http://membership:8001"),
        (("gateway", "depends_on", "membership-lb"), None),
    ],
)
def test_a_broken_membership_balancer_is_reported(
    compose: dict[str, Any], path: tuple[str, ...], value: Any
) -> None:
    broken = copy.deepcopy(compose)
    parent = broken["services"]
    for key in path[:-1]:
        parent = parent[key]
    if value is None:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    assert balancer_problems(broken, BALANCER_TEMPLATE) != []


@pytest.mark.parametrize("breakage", ["port", "container_name"])
def test_a_service_that_cannot_scale_is_reported(compose: dict[str, Any], breakage: str) -> None:
    broken = copy.deepcopy(compose)
    if breakage == "port":
        broken["services"]["gateway"]["ports"] = ["8000:8000"]
    else:
        broken["services"]["membership"]["container_name"] = "membership"
    assert len(published_problems(broken)) == 1


@pytest.mark.parametrize("breakage", ["url", "depends_on", "no_redis"])
def test_a_missing_redis_is_reported(compose: dict[str, Any], breakage: str) -> None:
    broken = copy.deepcopy(compose)
    services = broken["services"]
    if breakage == "url":
        services["gateway"]["environment"]["GATEWAY_REDIS_URL"] = "redis://localhost:6379/0"
    elif breakage == "depends_on":
        del services["membership"]["depends_on"]["redis"]
    else:
        del services["redis"]
    assert len(redis_problems(broken)) >= 1


@pytest.mark.parametrize("breakage", ["mount", "target", "value", "listen", "upstream", "resolver"])
def test_a_broken_nginx_service_is_reported(compose: dict[str, Any], breakage: str) -> None:
    broken = copy.deepcopy(compose)
    nginx = broken["services"]["nginx"]
    env = nginx["environment"]
    if breakage == "mount":
        nginx["volumes"] = ["./some/other.conf:/etc/nginx/templates/tollgate.conf.template:ro"]
    elif breakage == "target":
        nginx["volumes"] = ["./deploy/nginx/tollgate.conf:/etc/nginx/conf.d/tollgate.conf:ro"]
    elif breakage == "value":
        del env["TOLLGATE_CACHE_PATH"]
    elif breakage == "listen":
        env["TOLLGATE_LISTEN"] = "8080"
    elif breakage == "upstream":
        env["TOLLGATE_GATEWAYS"] = "server gateway:9000 resolve;"
    else:
        env["TOLLGATE_RESOLVER"] = "#"
    assert len(nginx_problems(broken, NGINX_TEMPLATE)) == 1


def test_no_literal_secrets(compose: dict[str, Any]) -> None:
    assert literal_secrets(compose) == []


# ---- the checks bite -------------------------------------------------------------------------


def test_a_misspelled_variable_is_reported(compose: dict[str, Any]) -> None:
    broken = copy.deepcopy(compose)
    env = broken["services"]["membership"]["environment"]
    env["MEMBERSHIP_DATABSE_URL"] = env.pop("MEMBERSHIP_DATABASE_URL")
    reported = unknown_variables(
        raw_environment(broken["services"]["membership"]), settings_class("membership")
    )
    assert reported == ["MEMBERSHIP_DATABSE_URL"]


def test_a_variable_of_the_other_service_is_reported(compose: dict[str, Any]) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["gateway"]["environment"]["MEMBERSHIP_PORT"] = "8001"
    reported = unknown_variables(raw_environment(broken["services"]["gateway"]), settings_class("gateway"))
    assert reported == ["MEMBERSHIP_PORT"]


@pytest.mark.parametrize(
    ("name", "value"),
    [("MEMBERSHIP_SMTP_PASSWORD", "hunter2"), ("STRIPE_SECRET_KEY", "sk_test_123"), ("API_KEY", 12345)],
)
def test_a_literal_secret_is_reported(compose: dict[str, Any], name: str, value: Any) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["membership"]["environment"][name] = value
    assert literal_secrets(broken) == [f"membership: {name}"]


def test_a_port_mismatch_is_reported(compose: dict[str, Any]) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["gateway"]["ports"] = ["8000:8080"]
    broken["services"]["membership"]["environment"]["MEMBERSHIP_PORT"] = "9001"
    assert port_problems("gateway", broken) == [
        "gateway: compose names container port 8080, the service listens on 8000"
    ]
    assert balancer_problems(broken, BALANCER_TEMPLATE) == [
        "membership-lb's upstream does not name membership:9001"
    ]
    broken["services"]["gateway"]["environment"]["GATEWAY_MEMBERSHIP_URL"] = "http://membership:8001"
    assert upstream_problems(broken) == [
        "gateway: GATEWAY_MEMBERSHIP_URL=http://membership:8001 but membership listens on 9001"
    ]
    dockerfile = DOCKERFILES["membership"].read_text()
    assert "EXPOSE [8001] but the service listens on 9001" in dockerfile_problems(dockerfile, 9001)


def test_a_single_stage_root_dockerfile_without_healthcheck_is_reported() -> None:
    dockerfile = "FROM python:3.11-slim\nUSER root\nEXPOSE 8000\nCMD gateway run --port 8000\n"
    assert dockerfile_problems(dockerfile, 8000) == [
        "1 FROM stage(s); a build and a runtime stage are expected",
        "the runtime stage runs as USER root",
        "no HEALTHCHECK in the runtime stage",
    ]


def test_a_schema_violation_is_reported(compose: dict[str, Any], compose_schema: dict[str, Any]) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["nginx"]["prots"] = broken["services"]["nginx"].pop("ports")
    assert any("prots" in error for error in schema_errors(broken, compose_schema))


def test_interpolation_uses_defaults_only() -> None:
    assert interpolate("a${X:-b}c${Y}d$$e${Z:?set Z}") == "abcd$e"
    assert interpolate("postgresql://u:${PW:-pw}@db/x") == "postgresql://u:pw@db/x"


def test_every_stateful_service_has_a_volume(compose: dict[str, Any]) -> None:
    assert stateful_without_volume(compose, STATEFUL) == []


def test_a_stateful_service_without_a_volume_is_reported(compose: dict[str, Any]) -> None:
    broken = copy.deepcopy(compose)
    del broken["services"]["membership"]["volumes"]
    assert stateful_without_volume(broken, STATEFUL) == ["membership: no named data volume"]


def test_the_gateway_gets_its_key_with_no_manual_step(compose: dict[str, Any]) -> None:
    assert gateway_key_problems(compose, membership_cli()) == []


@pytest.mark.parametrize("breakage", ["command", "depends_on", "path", "volume", "no_init"])
def test_a_broken_key_handover_is_reported(compose: dict[str, Any], breakage: str) -> None:
    broken = copy.deepcopy(compose)
    services = broken["services"]
    if breakage == "command":
        services["gateway-key"]["command"][1] = "api-key"
    elif breakage == "depends_on":
        del services["gateway"]["depends_on"]["gateway-key"]
    elif breakage == "path":
        services["gateway"]["environment"]["GATEWAY_MEMBERSHIP_API_KEY_FILE"] = "/keys/other"
    elif breakage == "volume":
        services["gateway"]["volumes"] = []
    else:
        del services["gateway-key"]
    assert len(gateway_key_problems(broken, membership_cli())) == 1


def test_the_story_origin_is_named(compose: dict[str, Any]) -> None:
    assert story_origin_problems(compose) == []


def test_a_missing_story_origin_is_reported(compose: dict[str, Any]) -> None:
    broken = copy.deepcopy(compose)
    del broken["services"]["gateway"]["environment"]["GATEWAY_STORY_ORIGIN"]
    assert story_origin_problems(broken) != []
