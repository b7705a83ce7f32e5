"""``python -m pacer_devstack``: the dev stack behind ``make run``.

run            prepare data, keys and configs, then exec supervisord in the foreground
wait-ready     (run by supervisord) print the ready line once every health check passes
render-caddy   render proxy/Caddyfile.j2 for --target dev or prod to a file
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
from pathlib import Path

from pacer_common.settings import DEFAULT_MAX_REQUEST_BODY_BYTES
from pacer_devstack import postgres, valkey
from pacer_devstack.config import DEV_SIGNUP_LIMITS, StackConfig, StackConfigError
from pacer_devstack.keys import ensure_jwt_keys
from pacer_devstack.proxy import (
    ProxyValues,
    ProxyValuesError,
    dev_values,
    prod_values,
    services_body_limit,
)
from pacer_devstack.proxy import render_caddyfile as render_proxy_config
from pacer_devstack.ready import wait_until_ready
from pacer_devstack.render import render_supervisord_conf


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _service_environment(config: StackConfig) -> dict[str, str]:
    """What the services read, unless the caller's environment already says otherwise."""
    private_key, public_key = ensure_jwt_keys(config.keys_dir)
    origins = f"http://127.0.0.1:{config.http_port},http://localhost:{config.http_port}"
    return {
        "ENVIRONMENT": "development",
        "DATABASE_URL": postgres.database_url(config.postgres_port),
        "REDIS_URL": valkey.redis_url(config.redis_port),
        "JWT_PRIVATE_KEY_FILE": str(private_key),
        "JWT_PUBLIC_KEY_FILE": str(public_key),
        "ALLOWED_ORIGINS": origins,
        **DEV_SIGNUP_LIMITS,
        **_llm_environment(config),
    }


def _llm_environment(config: StackConfig) -> dict[str, str]:
    """With no API key configured, both SDKs talk to the LLM simulator."""
    if os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("OPENAI_API_KEY"):
        return {}
    simulator = f"http://127.0.0.1:{config.llm_sim_port}"
    return {
        "ANTHROPIC_BASE_URL": simulator,
        "OPENAI_BASE_URL": f"{simulator}/v1",
        "ANTHROPIC_API_KEY": "simulator",
        "OPENAI_API_KEY": "simulator",
    }


def run() -> None:
    try:
        config = StackConfig.from_env()
    except StackConfigError as error:
        sys.exit(f"make run: {error}")
    busy = [f"{port} ({name})" for name, port in config.ports().items() if _port_in_use(port)]
    if busy:
        sys.exit(
            f"make run: port(s) in use: {', '.join(busy)}. Is another stack running? "
            "Set the *_PORT variables to run a second one."
        )
    for folder in (config.run_dir, config.log_dir, config.redis_dir):
        folder.mkdir(parents=True, exist_ok=True)
    if postgres.ensure_cluster(config.postgres_dir):
        print(f"created Postgres cluster in {config.postgres_dir}", flush=True)
    env = _service_environment(config)
    for name, value in env.items():
        os.environ.setdefault(name, value)
    # Ports are set explicitly so that every process agrees on them.
    os.environ.update({name: str(port) for name, port in config.ports().items()})
    os.environ["PACER_DATA_DIR"] = str(config.data_dir)
    caddyfile = config.run_dir / "Caddyfile"
    try:
        proxy_values = dev_values(
            http_port=config.http_port,
            core_api=[f"127.0.0.1:{config.core_api_port}"],
            coach=[f"127.0.0.1:{config.coach_port}"],
            # A file spares supervisord relaying every access-log line.
            access_log=config.log_dir / "caddy-access.log",
            # The services read the same variable from this environment.
            max_body_bytes=services_body_limit(os.environ),
        )
    except ProxyValuesError as error:
        sys.exit(f"make run: {error}")
    caddyfile.write_text(render_proxy_config(proxy_values))
    supervisord_conf = config.run_dir / "supervisord.conf"
    supervisord_conf.write_text(render_supervisord_conf(config, caddyfile))
    supervisord = shutil.which("supervisord", path=str(Path(sys.executable).parent))
    if supervisord is None:
        sys.exit("make run: supervisord is not installed in this environment")
    print(f"starting the Pacer stack (data in {config.data_dir})", flush=True)
    # exec: supervisord takes this pid, so `make`'s SIGTERM reaches it directly.
    os.execv(supervisord, [supervisord, "--nodaemon", "--configuration", str(supervisord_conf)])


def migrate() -> None:
    from pacer_core_api.migrate import main as migrate_main

    config = StackConfig.from_env()
    for name, value in _service_environment(config).items():
        os.environ.setdefault(name, value)
    migrate_main()


def wait_ready() -> None:
    config = StackConfig.from_env()
    timeout_s = float(os.environ.get("PACER_READY_TIMEOUT_SECONDS", "120"))
    failing = wait_until_ready(config, timeout_s)
    if failing:
        print(
            f"pacer NOT ready after {timeout_s:g} s; failing: {', '.join(failing)}. "
            f"Logs: {config.log_dir}",
            flush=True,
        )
        sys.exit(1)
    print(f"pacer ready: {config.proxy_url}", flush=True)


def render_caddy(args: argparse.Namespace) -> None:
    values: ProxyValues
    try:
        if args.target == "dev":
            values = dev_values(
                http_port=args.http_port,
                core_api=args.core_api or ["127.0.0.1:8001"],
                coach=args.coach or ["127.0.0.1:8002"],
                access_log=args.access_log,
                max_body_bytes=args.max_body_bytes,
            )
        else:
            if not args.domain or not args.acme_email:
                sys.exit("render-caddy --target prod needs --domain and --acme-email")
            values = prod_values(
                domain=args.domain,
                acme_email=args.acme_email,
                discovery=args.discovery,
                compose_project=args.compose_project,
                core_api_replicas=args.core_api_replicas,
                coach_replicas=args.coach_replicas,
                max_body_bytes=args.max_body_bytes,
            )
    except ProxyValuesError as error:
        sys.exit(f"render-caddy: {error}")
    args.out.write_text(render_proxy_config(values))


def _render_caddy_arguments(render: argparse.ArgumentParser) -> None:
    render.add_argument("--target", choices=("dev", "prod"), default="dev")
    render.add_argument("--out", type=Path, required=True)
    render.add_argument(
        "--max-body-bytes",
        type=int,
        default=services_body_limit(os.environ),
        help="the services' MAX_REQUEST_BODY_BYTES (default: that variable, else "
        f"{DEFAULT_MAX_REQUEST_BODY_BYTES}); bigger bodies get 413 at the proxy",
    )
    dev = render.add_argument_group("dev (plain HTTP on loopback)")
    dev.add_argument("--http-port", type=int, default=8080)
    dev.add_argument(
        "--core-api", action="append", metavar="HOST:PORT", help="repeat for each replica"
    )
    dev.add_argument(
        "--coach", action="append", metavar="HOST:PORT", help="repeat for each replica"
    )
    dev.add_argument("--access-log", type=Path, help="file for the access log (default stdout)")
    prod = render.add_argument_group("prod (docker compose, automatic HTTPS)")
    prod.add_argument("--domain", help="the public name; Caddy gets its certificate")
    prod.add_argument("--acme-email", help="the ACME account's email (expiry warnings)")
    prod.add_argument(
        "--discovery",
        choices=("replicas", "dns"),
        default="replicas",
        help="replicas: each container by name, actively health-checked (default); "
        "dns: every address of the service name, follows any --scale, no active checks",
    )
    prod.add_argument("--compose-project", default="pacer")
    prod.add_argument("--core-api-replicas", type=int, default=2)
    prod.add_argument("--coach-replicas", type=int, default=2)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="pacer_devstack",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run")
    commands.add_parser("wait-ready")
    commands.add_parser("migrate")
    _render_caddy_arguments(commands.add_parser("render-caddy"))
    args = parser.parse_args()
    if args.command == "run":
        run()
    elif args.command == "wait-ready":
        wait_ready()
    elif args.command == "migrate":
        migrate()
    else:
        render_caddy(args)


if __name__ == "__main__":
    main()
