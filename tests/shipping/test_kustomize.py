"""The kustomize subset the Kubernetes tests render with: the hash kustomize gives a ConfigMap, patches, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.shipping.kustomize import KustomizeError, config_map_hash, merge, render


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # kustomize's own expectations (api/hasher/hasher_test.go): no data, one key, three keys in another order.
        (None, "6ct58987ht"),
        ({"one": ""}, "9g67k2htb6"),
        ({"two": 2, "one": "", "three": 3}, "7757f9kkct"),
    ],
)
def test_config_maps_get_kustomizes_hash(data: dict[str, object] | None, expected: str) -> None:
    assert config_map_hash("", data) == expected


def test_a_patch_merges_maps_removes_nulls_and_merges_named_list_items() -> None:
    base = {
        "spec": {
            "replicas": 1,
            "containers": [{"name": "a", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]}],
            "args": ["one"],
        }
    }
    patch = {
        "spec": {
            "replicas": None,
            "containers": [{"name": "a", "env": [{"name": "X", "value": None, "valueFrom": {"k": "v"}}]}],
            "args": ["two"],
        }
    }
    assert merge(base, patch, "patch") == {
        "spec": {
            "containers": [{"name": "a", "env": [{"name": "X", "valueFrom": {"k": "v"}}, {"name": "Y", "value": "2"}]}],
            "args": ["two"],
        }
    }


def write(folder: Path, name: str, *documents: object) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(yaml.safe_dump_all(documents))


def test_an_overlay_patches_and_deletes_base_resources_and_references_follow_the_hash(tmp_path: Path) -> None:
    base, overlay = tmp_path / "base", tmp_path / "overlay"
    pod = {"volumes": [{"name": "p", "configMap": {"name": "pipelines"}}], "containers": [{"name": "c"}]}
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "spec": {"template": {"spec": pod}}}
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"}}
    write(base, "resources.yaml", job, claim)
    (base / "a.yml").write_text("a: 1\n")
    write(
        base,
        "kustomization.yaml",
        {
            "kind": "Kustomization",
            "resources": ["resources.yaml"],
            "configMapGenerator": [{"name": "pipelines", "files": ["a.yml"]}],
        },
    )
    write(
        overlay,
        "delete.yaml",
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"}, "$patch": "delete"},
    )
    write(
        overlay,
        "kustomization.yaml",
        {"kind": "Kustomization", "resources": ["../base"], "patches": [{"path": "delete.yaml"}]},
    )
    rendered = render(overlay)
    suffix = config_map_hash("pipelines", {"a.yml": "a: 1\n"})
    assert [(m["kind"], m["metadata"]["name"]) for m in rendered] == [
        ("Job", "j"),
        ("ConfigMap", f"pipelines-{suffix}"),
    ]
    assert rendered[0]["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"] == f"pipelines-{suffix}"


def test_what_is_not_rendered_here_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "kustomization.yaml", {"kind": "Kustomization", "namePrefix": "x-"})
    with pytest.raises(KustomizeError, match="namePrefix"):
        render(tmp_path)
    write(tmp_path, "kustomization.yaml", {"kind": "Kustomization", "resources": ["../outside.yaml"]})
    (tmp_path.parent / "outside.yaml").write_text("kind: ConfigMap\n")
    with pytest.raises(KustomizeError, match="inside the kustomization's folder"):
        render(tmp_path)
