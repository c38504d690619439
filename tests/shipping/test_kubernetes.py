"""deploy/kubernetes, checked without a cluster: rendered as kustomize would, validated against Kubernetes' own
schemas, held to its security and shutdown promises, and its apply Job run against a real server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes_validate.utils import ValidationError, validate
from typer.testing import CliRunner

from stackyard.cli import app
from stackyard.client import Client
from stackyard.definitions.discovery import discover
from stackyard.settings import Settings
from stackyard.tokens import create_token
from tests.conftest import REPO
from tests.process.server import running
from tests.shipping.kustomize import Manifest, render
from tests.shipping.server_contract import CLIENT_VARIABLES, graceful_shutdown_seconds, server_variables, unknown

KUBERNETES = REPO / "deploy/kubernetes"
FOLDERS = {"base": KUBERNETES / "base", "postgres": KUBERNETES / "overlays/postgres"}
KUBERNETES_VERSION = "1.30"  # the oldest release this targets: preStop's sleep action is on by default from it
IMAGE_USER = 10001
# What a Secret would hold, for settings that read one: a real token line, a PostgreSQL URL.
STAND_INS = {
    ("stackyard-tokens", "tokens"): create_token("gitops", "admin")[1],
    ("stackyard-store", "url"): "postgresql://stackyard:password@postgres:5432/stackyard",
    ("stackyard-apply-token", "token"): "stand-in",
}
SECRET_LOOKING = re.compile(r"sha256\$|://[^/\s@]+:[^/\s@]+@|\bsk-[A-Za-z0-9]{8,}")


@pytest.fixture(scope="module", params=sorted(FOLDERS))
def manifests(request: pytest.FixtureRequest) -> list[Manifest]:
    return render(FOLDERS[request.param])


def find(manifests: list[Manifest], kind: str) -> Manifest:
    (found,) = [manifest for manifest in manifests if manifest["kind"] == kind]
    return found


def pods(manifests: list[Manifest]) -> Iterator[tuple[str, dict[str, Any]]]:
    for manifest in manifests:
        if "template" in manifest.get("spec", {}):
            yield manifest["metadata"]["name"], manifest["spec"]["template"]["spec"]


def server(manifests: list[Manifest]) -> dict[str, Any]:
    (container,) = find(manifests, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def environment(container: dict[str, Any]) -> dict[str, str]:
    """The container's variables as the pod would see them, with stand-ins for what Secrets and the pod supply."""
    values = {}
    for variable in container.get("env", []):
        source = variable.get("valueFrom", {})
        if "secretKeyRef" in source:
            values[variable["name"]] = STAND_INS[source["secretKeyRef"]["name"], source["secretKeyRef"]["key"]]
        elif "fieldRef" in source:
            values[variable["name"]] = "stackyard-5d8f9c7b4-x2x7q"
        else:
            values[variable["name"]] = variable["value"]
    return values


def test_every_manifest_is_valid_kubernetes(manifests: list[Manifest]) -> None:
    problems = []
    for manifest in manifests:
        try:
            validate(manifest, KUBERNETES_VERSION, strict=True)
        except ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            problems.append(f"{manifest['kind']}/{manifest['metadata']['name']}: {path}: {error.message}")
    assert problems == []


def test_every_pod_runs_as_the_image_user_without_privileges(manifests: list[Manifest]) -> None:
    for name, pod in pods(manifests):
        context = pod["securityContext"]
        assert (context["runAsNonRoot"], context["runAsUser"]) == (True, IMAGE_USER), name
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        for container in pod["containers"]:
            own = container["securityContext"]
            assert own["readOnlyRootFilesystem"] is True, name
            assert own["allowPrivilegeEscalation"] is False, name
            assert own["capabilities"] == {"drop": ["ALL"]}, name


def test_no_pod_gets_service_link_variables(manifests: list[Manifest]) -> None:
    # The Service "stackyard" would hand each pod STACKYARD_PORT=tcp://10.0.0.1:8000, which the server cannot start
    # with (an integer setting), and STACKYARD_SERVICE_HOST and the like.
    services = [m["metadata"]["name"] for m in manifests if m["kind"] == "Service"]
    assert any(f"{name.upper().replace('-', '_')}_PORT" in server_variables() for name in services)
    assert all(pod["enableServiceLinks"] is False for _, pod in pods(manifests))


def test_the_server_is_probed_on_readyz_and_healthz_at_its_port(manifests: list[Manifest]) -> None:
    container = server(manifests)
    probes = {kind: container[f"{kind}Probe"]["httpGet"] for kind in ("readiness", "liveness", "startup")}
    assert {kind: probe["path"] for kind, probe in probes.items()} == {
        "readiness": "/readyz",
        "liveness": "/healthz",
        "startup": "/healthz",
    }
    (port,) = container["ports"]
    assert all(probe["port"] == port["name"] for probe in probes.values())
    assert str(port["containerPort"]) == environment(container)["STACKYARD_PORT"]


def test_a_replica_that_loses_the_store_leaves_the_service_before_changes_stop_waiting_for_it(
    manifests: list[Manifest],
) -> None:
    # README, "Many workers and many replicas": period x failure threshold, plus 2 s, below the replica timeout.
    container = server(manifests)
    probe = container["readinessProbe"]
    timeout = float(
        environment(container).get("STACKYARD_REPLICA_TIMEOUT", Settings.model_fields["replica_timeout"].default)
    )
    assert probe["periodSeconds"] * probe["failureThreshold"] + probe["timeoutSeconds"] + 2 < timeout


def test_termination_waits_for_the_endpoint_removal_and_the_requests_in_flight(manifests: list[Manifest]) -> None:
    pod = find(manifests, "Deployment")["spec"]["template"]["spec"]
    drain = server(manifests)["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert 0 < drain < 15
    assert pod["terminationGracePeriodSeconds"] >= drain + graceful_shutdown_seconds() + 5


def test_the_server_writes_only_to_its_volumes(manifests: list[Manifest]) -> None:
    pod = find(manifests, "Deployment")["spec"]["template"]["spec"]
    container = server(manifests)
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert set(mounts.values()) <= set(volumes)
    assert "emptyDir" in volumes[mounts["/tmp"]]  # scratch folders, the fork server's socket, metrics of --workers
    store = environment(container)["STACKYARD_STORE_URL"]
    if store.startswith("sqlite:///"):
        folder = str(Path(store.removeprefix("sqlite:///")).parent)  # sqlite:////data/x.db: /data
        assert "persistentVolumeClaim" in volumes[mounts[folder]]
        claim = volumes[mounts[folder]]["persistentVolumeClaim"]["claimName"]
        assert claim in [m["metadata"]["name"] for m in manifests if m["kind"] == "PersistentVolumeClaim"]


def test_several_replicas_only_on_postgresql(manifests: list[Manifest]) -> None:
    deployment = find(manifests, "Deployment")["spec"]
    store = environment(server(manifests))["STACKYARD_STORE_URL"]
    if store.startswith("sqlite"):
        assert deployment["replicas"] == 1
        assert deployment["strategy"] == {"type": "Recreate"}
        assert not [m for m in manifests if m["kind"] in ("HorizontalPodAutoscaler", "PodDisruptionBudget")]
        return
    assert store.startswith("postgresql://")
    assert "replicas" not in deployment  # the autoscaler's to set
    assert find(manifests, "HorizontalPodAutoscaler")["spec"]["minReplicas"] >= 2
    assert find(manifests, "PodDisruptionBudget")["spec"]["minAvailable"] == 1
    assert deployment["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert not [m for m in manifests if m["kind"] == "PersistentVolumeClaim"]


def test_the_server_sets_only_real_settings_and_each_parses(
    manifests: list[Manifest], monkeypatch: pytest.MonkeyPatch
) -> None:
    variables = environment(server(manifests))
    assert unknown(variables, server_variables()) == []
    for variable, value in variables.items():
        monkeypatch.setenv(variable, value)
    settings = Settings()
    assert (settings.host, settings.port, len(settings.tokens)) == ("0.0.0.0", 8000, 1)
    assert settings.run_workers <= float(server(manifests)["resources"]["limits"]["cpu"])


def test_the_apply_job_sets_only_the_clients_variables(manifests: list[Manifest]) -> None:
    job = find(manifests, "Job")["spec"]["template"]["spec"]
    (container,) = job["containers"]
    assert unknown(environment(container), CLIENT_VARIABLES) == []


def test_no_manifest_holds_a_secret(manifests: list[Manifest]) -> None:
    assert not [m for m in manifests if m["kind"] == "Secret"]
    for name, pod in pods(manifests):
        for container in pod["containers"]:
            for variable in container.get("env", []):
                if variable["name"] in ("STACKYARD_TOKENS", "STACKYARD_TOKEN"):
                    assert "secretKeyRef" in variable["valueFrom"], name
                if variable["name"] == "STACKYARD_STORE_URL" and "value" in variable:
                    assert variable["value"].startswith("sqlite:"), name  # a PostgreSQL URL holds a password
    assert SECRET_LOOKING.search(repr(manifests)) is None


def test_the_secrets_the_manifests_read_are_the_ones_the_guide_creates(manifests: list[Manifest]) -> None:
    guide = (REPO / "docs/kubernetes.md").read_text(encoding="utf-8")
    created = {
        (found["name"], found["key"])
        for found in re.finditer(
            r"kubectl create secret generic (?P<name>[\w-]+)[^\n]*?--from-\w+=(?P<key>[\w-]+)=", guide
        )
    }
    read = set()
    for _, pod in pods(manifests):
        for container in pod["containers"]:
            for variable in container.get("env", []):
                reference = variable.get("valueFrom", {}).get("secretKeyRef")
                if reference is not None:
                    read.add((reference["name"], reference["key"]))
            for source in container.get("envFrom", []):
                assert f"kubectl create secret generic {source['secretRef']['name']}" in guide
    assert read <= created


def test_the_pipelines_reach_the_apply_job_and_not_the_servers(manifests: list[Manifest]) -> None:
    (config_map,) = [m for m in manifests if m["kind"] == "ConfigMap"]
    name = config_map["metadata"]["name"]
    assert re.fullmatch(r"stackyard-pipelines-[a-z0-9]{10}", name)
    job = find(manifests, "Job")["spec"]["template"]["spec"]
    assert [volume["configMap"]["name"] for volume in job["volumes"]] == [name]
    # A server pod mounting it would be restarted by every change to the pipelines, which Stackyard exists to avoid.
    deployment = find(manifests, "Deployment")["spec"]["template"]["spec"]
    assert not [volume for volume in deployment["volumes"] if "configMap" in volume]


def mounted_config_map(data: dict[str, str], folder: Path) -> Path:
    """The folder as the kubelet lays out a ConfigMap volume: the files in a timestamped folder, `..data` pointing
    at it, and each key a link through `..data`."""
    revision = folder / "..2026_11_29_12_00_00.000000001"
    revision.mkdir(parents=True)
    for key, text in data.items():
        (revision / key).write_text(text, encoding="utf-8")
    (folder / "..data").symlink_to(revision.name)
    for key in data:
        (folder / key).symlink_to(f"..data/{key}")
    return folder


def test_the_mounted_pipelines_folder_defines_one_pipeline_per_key(tmp_path: Path) -> None:
    (config_map,) = [m for m in render(FOLDERS["base"]) if m["kind"] == "ConfigMap"]
    folder = mounted_config_map(config_map["data"], tmp_path / "pipelines")
    assert sorted(file.path.name for file in discover([folder])) == sorted(config_map["data"])


@pytest.mark.process
def test_the_apply_job_makes_a_server_run_as_deployed_serve_the_pipelines(tmp_path: Path) -> None:
    manifests = render(FOLDERS["base"])
    token, line = create_token("gitops", "admin")
    variables = environment(server(manifests)) | {
        "STACKYARD_TOKENS": line,
        "STACKYARD_STORE_URL": f"sqlite:///{tmp_path}/yard.db",
        "STACKYARD_HOST": "127.0.0.1",  # this machine's loopback, where the pod listens on every address
    }
    (config_map,) = [m for m in manifests if m["kind"] == "ConfigMap"]
    folder = mounted_config_map(config_map["data"], tmp_path / "pipelines")
    (job,) = find(manifests, "Job")["spec"]["template"]["spec"]["containers"]
    with running(tmp_path, env=variables) as process:
        args = [folder.as_posix() if arg == "/pipelines" else arg for arg in job["args"]]
        args[args.index("--server") + 1] = process.url
        assert job["command"] == ["stackyard"]
        result = CliRunner().invoke(app, args, env={"STACKYARD_TOKEN": token})
        assert result.exit_code == 0, result.output
        assert result.stdout.split()[:2] == ["created", "hello"]
        with Client(process.url, token=token) as yard:
            assert yard.run("hello", {"name": "Ada"}).result == {"hello": {"prompt": "Hello from Kubernetes, Ada!"}}
