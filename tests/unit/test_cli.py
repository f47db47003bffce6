"""The command line: a bad configuration stops start-up with one line, exit 2, no secret."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "TTHC_CONFIG_DIR": str(REPO / "config"), "TTHC_VAR_DIR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_bad_config_stops_start_up_naming_the_key_without_the_secret(tmp_path: Path) -> None:
    secret = "Sup3r-Secret-Do-Not-Print"
    result = run(
        "serve",
        env={"TTHC_HTTP__PORT": "not-a-port", "TTHC_ADAPTERS__PORTAL__PASSWORD": secret, "TTHC_EVIDENCE__ENCRYPTION_KEY": secret},
        tmp_path=tmp_path,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert sorted(lines) == [
        "config error: evidence.encryption_key: Value error, must be 32 bytes, base64-encoded (AES-256-GCM key) "
        "(from environment variable TTHC_EVIDENCE__ENCRYPTION_KEY)",
        "config error: http.port: Input should be a valid integer, unable to parse string as an integer "
        "(from environment variable TTHC_HTTP__PORT)",
    ]
    assert secret not in result.stdout + result.stderr


def test_production_with_demo_credentials_refuses_to_start(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "default.yaml").write_text((REPO / "config" / "default.yaml").read_text())
    (config / "production.yaml").write_text((REPO / "config" / "demo.yaml").read_text())
    result = run("serve", env={"TTHC_CONFIG_DIR": str(config), "TTHC_ENV": "production"}, tmp_path=tmp_path)
    assert result.returncode == 2
    assert "published demo credentials are refused" in result.stderr
    assert "demo-portal-password" not in result.stderr


def test_keys_generate_rotate_and_jwks(tmp_path: Path) -> None:
    env = {"TTHC_KEYS__DIRECTORY": str(tmp_path / "keys")}
    first = run("keys", "generate", env=env, tmp_path=tmp_path)
    assert first.returncode == 0 and "active key: gw-" in first.stdout
    rotated = run("keys", "rotate", env=env, tmp_path=tmp_path)
    assert rotated.returncode == 0 and "rotated:" in rotated.stdout
    jwks = run("keys", "jwks", env=env, tmp_path=tmp_path)
    assert jwks.returncode == 0 and jwks.stdout.count('"kid"') == 2 and '"d"' not in jwks.stdout


def test_command_modules_import_only_common_from_the_cli_package() -> None:
    """gateway/cli/: the package assembles the groups; a command module imports
    ``gateway.cli._common`` and nothing else of ``gateway.cli`` (no cycles)."""
    import ast

    package = REPO / "gateway" / "cli"
    modules = sorted(path for path in package.glob("*.py") if path.name != "__init__.py")
    assert {path.stem for path in modules} >= {"_common", "processes", "messages", "replay", "log"}
    for path in modules:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                assert not (isinstance(node, ast.ImportFrom) and node.level), f"{path.name}: relative import"
                continue
            for name in names:
                if name == "gateway.cli" or name.startswith("gateway.cli."):
                    assert path.stem != "_common", f"_common imports {name}"
                    assert name.startswith("gateway.cli._common"), f"{path.name} imports {name}"


def test_the_run_banner_names_the_metrics_port_and_the_ui_only_when_served() -> None:
    from gateway.cli.processes import _banner
    from gateway.config import load_settings

    demo = load_settings(REPO / "config", environ={"TTHC_ENV": "demo"})
    text = _banner(demo, "API + workers")
    assert f"http://{demo.http.metrics_host}:{demo.http.metrics_port}/metrics" in text
    assert f"{demo.http.public_url}/metrics" not in text  # metrics are off the public port
    assert ("/ui/" in text) == demo.http.swagger_ui
    quiet = load_settings(
        REPO / "config",
        environ={"TTHC_ENV": "demo", "TTHC_HTTP__SWAGGER_UI": "false", "TTHC_HTTP__METRICS_PORT": "0"},
    )
    text = _banner(quiet, "API")
    assert "/ui/" not in text and "metrics: off" in text
