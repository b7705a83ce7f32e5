"""The Caddy config rendered from proxy/Caddyfile.j2 is valid and exposes nothing internal."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from pacer_devstack.render import caddy_binary, render_caddyfile


def test_rendered_caddyfile_validates(tmp_path: Path) -> None:
    config = tmp_path / "Caddyfile"
    config.write_text(
        render_caddyfile(
            http_port=18080, core_api_upstream="127.0.0.1:18001", coach_upstream="127.0.0.1:18002"
        )
    )
    result = subprocess.run(
        [str(caddy_binary()), "validate", "--config", str(config), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "XDG_DATA_HOME": str(tmp_path),
            "XDG_CONFIG_HOME": str(tmp_path),
            "PATH": "/usr/bin:/bin",
        },
    )
    assert result.returncode == 0, result.stderr
    assert "Valid configuration" in result.stdout + result.stderr


def test_rendered_caddyfile_binds_loopback_and_routes_only_the_api() -> None:
    text = render_caddyfile(
        http_port=18080, core_api_upstream="127.0.0.1:18001", coach_upstream="127.0.0.1:18002"
    )
    assert "default_bind 127.0.0.1" in text
    assert "admin off" in text
    # The only upstreams are the coach's and core-api's API ports: no metrics port.
    assert re.findall(r"reverse_proxy (\S+)", text) == ["127.0.0.1:18002", "127.0.0.1:18001"]
