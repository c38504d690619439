"""The part of kustomize that `deploy/kubernetes/` uses, in Python, so the tests can render it without the binary.

What it does, as `kustomize build` does it; a kustomization with any other field is refused, which keeps the
manifests within this subset:

- `resources`: YAML files inside the kustomization's folder, and folders that hold a kustomization (bases);
- `configMapGenerator`: `name` and `files` (`path` or `key=path`, inside the folder). The name gets kustomize's
  content hash as a suffix, and pod templates' references to the ConfigMap (volumes, env, envFrom) follow it;
- `patches`: `path` to a strategic merge patch whose kind and name pick the resource. Maps merge, `null` removes a
  key, the lists in `MERGE_KEYS` merge their items by that key (as the Kubernetes API declares them), other lists are
  replaced, and `$patch: delete` beside the patch's kind removes the resource.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

Manifest = dict[str, Any]

KUSTOMIZATION_FIELDS = frozenset({"apiVersion", "kind", "resources", "configMapGenerator", "patches"})
# Kubernetes' patch merge keys (x-kubernetes-patch-merge-key) of the lists the manifests patch.
MERGE_KEYS = {"containers": "name", "initContainers": "name", "env": "name", "volumes": "name"}


class KustomizeError(ValueError):
    """The kustomization uses what this renderer does not implement, or is wrong as kustomize would find it."""


def render(folder: Path) -> list[Manifest]:
    """The manifests `kustomize build FOLDER` prints (in the order they are declared)."""
    manifests, _ = _build(folder.resolve())
    return manifests


def config_map_hash(name: str, data: dict[str, Any] | None) -> str:
    """kustomize's name suffix for a ConfigMap: the sha256 of Go's JSON of its kind, name and data, ten characters
    of it, with the letters that could spell words (0, 1, 3, a, e) replaced."""
    encoded = json.dumps(
        {"data": "" if data is None else data, "kind": "ConfigMap", "name": name},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    # Go's encoder escapes these for HTML; the hash is of Go's bytes.
    for char, escape in {
        "<": "\\u003c",
        ">": "\\u003e",
        "&": "\\u0026",
        "\u2028": "\\u2028",
        "\u2029": "\\u2029",
    }.items():
        encoded = encoded.replace(char, escape)
    digest = hashlib.sha256(encoded.encode()).hexdigest()[:10]
    return digest.translate(str.maketrans("013ae", "ghkmt"))


def _build(folder: Path) -> tuple[list[Manifest], dict[str, str]]:
    """The folder's manifests, and the generated ConfigMaps' names: given name -> name with the hash."""
    kustomization = _load_one(folder / "kustomization.yaml")
    if kustomization.get("kind") != "Kustomization" or set(kustomization) - KUSTOMIZATION_FIELDS:
        unknown = sorted(set(kustomization) - KUSTOMIZATION_FIELDS)
        raise KustomizeError(f"{folder}/kustomization.yaml: not a Kustomization, or uses {unknown}")
    manifests: list[Manifest] = []
    renames: dict[str, str] = {}
    for entry in kustomization.get("resources", []):
        path = (folder / entry).resolve()
        if path.is_dir():
            base, base_renames = _build(path)
            manifests += base
            renames |= base_renames
        else:
            manifests += _load_all(_inside(folder, entry))
    for generator in kustomization.get("configMapGenerator", []):
        config_map = _generate(folder, generator)
        renames[generator["name"]] = config_map["metadata"]["name"]
        manifests.append(config_map)
    _check_unique(folder, manifests)
    for patch in kustomization.get("patches", []):
        if set(patch) != {"path"}:
            raise KustomizeError(f"{folder}: only patches given by path are rendered, not {sorted(patch)}")
        manifests = _patch(manifests, _load_one(_inside(folder, patch["path"])), folder / patch["path"])
    for manifest in manifests:
        _follow_renames(manifest, renames)
    return manifests, renames


def _generate(folder: Path, generator: dict[str, Any]) -> Manifest:
    if set(generator) != {"name", "files"}:
        raise KustomizeError(f"{folder}: configMapGenerator takes name and files here, not {sorted(generator)}")
    data: dict[str, str] = {}
    for entry in generator["files"]:
        key, _, path = entry.rpartition("=")
        source = _inside(folder, path)
        data[key or source.name] = source.read_text(encoding="utf-8")
    name = generator["name"]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{name}-{config_map_hash(name, data)}"},
        "data": data,
    }


def _patch(manifests: list[Manifest], patch: Manifest, source: Path) -> list[Manifest]:
    target = (patch.get("kind"), patch.get("metadata", {}).get("name"))
    found = [manifest for manifest in manifests if _identity(manifest) == target]
    if len(found) != 1:
        raise KustomizeError(f"{source}: the patch matches {len(found)} resources named {target}, not one")
    if patch.get("$patch") == "delete":
        return [manifest for manifest in manifests if manifest is not found[0]]
    patched = merge(found[0], patch, str(source))
    return [patched if manifest is found[0] else manifest for manifest in manifests]


def merge(base: Any, patch: Any, where: str) -> Any:
    """`patch` merged into `base` as a strategic merge patch (the subset the module docstring lists)."""
    if not isinstance(base, dict) or not isinstance(patch, dict):
        return patch
    merged = dict(base)
    for key, value in patch.items():
        if key.startswith("$"):
            raise KustomizeError(f"{where}: the directive {key} is not rendered here")
        if value is None:
            merged.pop(key, None)
        elif key in MERGE_KEYS and isinstance(value, list) and isinstance(merged.get(key), list):
            merged[key] = _merge_list(merged[key], value, MERGE_KEYS[key], f"{where}: {key}")
        else:
            merged[key] = merge(merged.get(key), value, f"{where}: {key}")
    return merged


def _merge_list(base: list[Any], patch: list[Any], key: str, where: str) -> list[Any]:
    merged = list(base)
    for item in patch:
        positions = [index for index, existing in enumerate(merged) if existing.get(key) == item.get(key)]
        if positions:
            merged[positions[0]] = merge(merged[positions[0]], item, f"{where}[{item.get(key)}]")
        else:
            merged.append({name: value for name, value in item.items() if value is not None})
    return merged


def _follow_renames(manifest: Manifest, renames: dict[str, str]) -> None:
    """Point a pod template's references to generated ConfigMaps at their hashed names."""
    pod = manifest.get("spec", {}).get("template", {}).get("spec")
    if pod is None:
        return
    references = [volume.get("configMap") for volume in pod.get("volumes", [])]
    for container in pod.get("containers", []) + pod.get("initContainers", []):
        references += [source.get("configMapRef") for source in container.get("envFrom", [])]
        references += [variable.get("valueFrom", {}).get("configMapKeyRef") for variable in container.get("env", [])]
    for reference in references:
        if reference is not None and reference.get("name") in renames:
            reference["name"] = renames[reference["name"]]


def _identity(manifest: Manifest) -> tuple[str | None, str | None]:
    return manifest.get("kind"), manifest.get("metadata", {}).get("name")


def _check_unique(folder: Path, manifests: list[Manifest]) -> None:
    identities = [_identity(manifest) for manifest in manifests]
    doubles = sorted({identity for identity in identities if identities.count(identity) > 1}, key=str)
    if doubles:
        raise KustomizeError(f"{folder}: resources declared twice: {doubles}")


def _inside(folder: Path, entry: str) -> Path:
    # kustomize's default load restrictor: files come from the kustomization's own folder (bases may lie outside).
    path = (folder / entry).resolve()
    if not path.is_relative_to(folder.resolve()) or not path.is_file():
        raise KustomizeError(f"{folder}: {entry} is not a file inside the kustomization's folder")
    return path


def _load_all(path: Path) -> list[Manifest]:
    return [document for document in yaml.safe_load_all(path.read_text(encoding="utf-8")) if document is not None]


def _load_one(path: Path) -> Manifest:
    documents = _load_all(path)
    if len(documents) != 1 or not isinstance(documents[0], dict):
        raise KustomizeError(f"{path}: expected one YAML mapping")
    return documents[0]
