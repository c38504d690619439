"""The `stackyard` command itself: its version, and the defaults `serve --help` shows."""

from __future__ import annotations

from typer.testing import CliRunner

from stackyard import __version__
from stackyard.cli import app
from stackyard.settings import Settings


def test_version_prints_the_installed_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"stackyard {__version__}\n"


def test_serve_help_shows_the_default_of_each_option_and_the_variable_that_overrides_it() -> None:
    result = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0
    shown = " ".join(result.stdout.split())
    for field in ("host", "port", "store_url"):
        default = Settings.model_fields[field].default
        assert f"[default: ($STACKYARD_{field.upper()} or {default})]" in shown, field
    assert "[default: ($STACKYARD_PIPELINE_PATHS or none)]" in shown
    assert "[default: 1]" in shown  # --workers
