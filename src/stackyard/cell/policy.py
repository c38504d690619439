"""What a definition may contain: checked on the parsed YAML before Haystack imports anything, and again on each
class Haystack is about to build, nested ones included.

Haystack's own loader already refuses modules outside its allowlist. Valid YAML can still harm a server that takes it
from the network. Each rule refuses one way, names itself, and says how to allow what the operator really wants:

- `module-allowlist`, `component-denylist`: every class path, at any nesting, under an allowed module and off the
  denylist (components that fetch any URL or read any local file); again on the class actually imported;
- `secret-env-allowlist`, `secret-token`, `secret-endpoint`: secrets only from listed environment variables, never
  inline, and sent only to allowed hosts;
- `max-components`: the components of the definition and of every nested pipeline, counted together (a
  SuperComponent's, a PipelineTool's: any dict shaped like a serialized pipeline, found by shape), then every
  component Haystack builds, at any depth (an Agent's chat generator counts too), against
  `STACKYARD_MAX_COMPONENTS`;
- `max-runs-per-component`: the definition's and every nested pipeline's, from 1 to the cap (endless loops);
- `callables`: no Python code unless `STACKYARD_ALLOW_CALLABLES`. The rule is by type, in `pre_init`: a parameter
  whose annotation includes a `Callable`, or a class that takes one, given a value; or a value that is or holds a
  function (`callables.py`). The YAML side refuses the usual parameter names early, with a friendlier message;
- `unsafe`: refused when truthy in any spelling (`1`, `"yes"`, even `"false"`: Haystack tests `if unsafe:`), on a
  component or in any parameter, at any nesting;
- `template-sandbox`, `template-arithmetic`: every template string, at any nesting (`templates.py`).
"""

from __future__ import annotations

import fnmatch
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from stackyard.cell.templates import check_template, looks_like_template
from stackyard.errors import PolicyViolation
from stackyard.wire.cell_config import DefinitionRules

if TYPE_CHECKING:
    from stackyard.wire.definition import Definition

# Init parameters that take a network endpoint; a component holding a secret may only point them at allowed hosts.
URL_PARAMETERS = frozenset(
    {
        "api_base_url",
        "base_url",
        "url",
        "urls",
        "endpoint",
        "azure_endpoint",
        "openai_endpoint",
        "api_base",
        "api_url",
        "host",
        "hosts",
        "server_url",
        "base_path",
    }
)
# Init parameters whose string values Haystack resolves to Python callables (or tool objects that wrap callables):
# refused by name before anything is imported. The rule itself goes by the parameter's type, in `Policy.pre_init`.
CALLABLE_PARAMETERS = frozenset(
    {"streaming_callback", "custom_filters", "response_fn", "tools", "function", "callback", "snapshot_callback"}
)


@dataclass(frozen=True)
class Policy(DefinitionRules):
    """The rules in force (`wire.cell_config.DefinitionRules`, from `Settings`), enforced."""

    @classmethod
    def of(cls, rules: DefinitionRules) -> Policy:
        return cls(**{name: getattr(rules, name) for name in rules.__dataclass_fields__})

    # -- definitions --------------------------------------------------------------------------------------------

    def check(self, definition: Definition) -> None:
        """Raise `PolicyViolation` naming the rule and the component, or return when the definition is acceptable."""
        components: dict[str, Any] = definition.pipeline["components"]
        # Every pipeline, however deeply nested (a SuperComponent's, a PipelineTool's, any parameter shaped like
        # one), is held to the same caps as the top: its loops run, and its components are built, all the same.
        nested = [(str(name), path, inner) for name, spec in components.items() for path, inner in _pipelines(spec)]
        count = len(components) + sum(_size(inner.get("components")) for _, _, inner in nested)
        if count > self.max_components:
            raise PolicyViolation(
                f"Refused by rule 'max-components': the definition has {count} components, counting those in "
                f"nested pipelines; this server allows {self.max_components} (STACKYARD_MAX_COMPONENTS).",
                rule="max-components",
            )
        self._check_runs(definition.pipeline.get("max_runs_per_component", 100))
        for name, path, inner in nested:
            self._check_runs(inner.get("max_runs_per_component", 100), name, f"the pipeline in '{path}'")
        for name, spec in components.items():
            self._check_component(str(name), spec)

    def _check_runs(self, runs: Any, component: str | None = None, where: str = "the definition") -> None:
        if isinstance(runs, int) and not isinstance(runs, bool) and 1 <= runs <= self.max_runs_per_component:
            return
        subject = f"Component '{component}' is refused by rule" if component else "Refused by rule"
        raise PolicyViolation(
            f"{subject} 'max-runs-per-component': {where} sets max_runs_per_component to {str(runs)[:40]!r}; it "
            f"must be a whole number from 1 to {self.max_runs_per_component} (STACKYARD_MAX_RUNS_PER_COMPONENT), "
            "and Haystack's default is 100.",
            rule="max-runs-per-component",
            component=component,
        )

    def _check_component(self, name: str, spec: dict[str, Any]) -> None:
        self.check_class_path(str(spec["type"]), name)
        if spec.get("unsafe"):  # truthy, as Haystack reads it
            self._refuse(name, "unsafe", "Component-level 'unsafe' turns off Haystack's deserialization checks.")
        params = spec.get("init_parameters") or {}
        secrets = list(_secrets(params))
        for variables in secrets:
            for variable in variables:
                if variable not in self.secret_env_allowlist:
                    self._refuse(
                        name,
                        "secret-env-allowlist",
                        f"It reads environment variable '{variable}', which is not on STACKYARD_SECRET_ENV_ALLOWLIST.",
                    )
        for path, key, value in _walk(params):
            self._check_value(name, path, key, value, bool(secrets))

    def _check_value(self, name: str, path: str, key: str | None, value: Any, has_secret: bool) -> None:
        if key == "unsafe" and value:
            # Haystack tests `if unsafe:`, so 1, "yes" and even "false" (a non-empty string) all turn it on.
            self._refuse(name, "unsafe", f"'{path}' is set, which lets templates or expressions run arbitrary code.")
        if key in CALLABLE_PARAMETERS and value not in (None, [], (), {}) and not self.allow_callables:
            self._refuse(
                name,
                "callables",
                f"'{path}' names Python callables or tools; set STACKYARD_ALLOW_CALLABLES=true to allow them.",
            )
        if isinstance(value, dict) and isinstance(value.get("type"), str) and "." in value["type"]:
            self.check_class_path(value["type"], name, nested=path)
        if isinstance(value, dict) and value.get("type") == "token":
            self._refuse(name, "secret-token", "Secrets must come from environment variables, never inline tokens.")
        if isinstance(value, str) and looks_like_template(value):
            check_template(value, path, name)  # on its syntax tree: sandbox escapes and exploding arithmetic
        if has_secret and key in URL_PARAMETERS and value not in (None, "", [], ()):
            for url in value if isinstance(value, list | tuple) else [value]:
                host = _host(url)
                if host is None or not self._host_allowed(host):
                    self._refuse(
                        name,
                        "secret-endpoint",
                        f"It holds a secret and points '{path}' at host {host or '?'!r}, which is not on "
                        "STACKYARD_ALLOWED_HOSTS; the secret could be sent there.",
                    )

    def check_class_path(self, path: str, component: str, nested: str | None = None) -> None:
        """A component or nested class path must sit under an allowed module and not match a denied pattern."""
        where = f" (in '{nested}')" if nested else ""
        module = path.rsplit(".", 1)[0]
        if not any(module == allowed or module.startswith(allowed + ".") for allowed in self.allowed_modules):
            self._refuse(
                component,
                "module-allowlist",
                f"Type '{path[:200]}'{where} is outside the allowed modules ({', '.join(self.allowed_modules)}); "
                "add a module with STACKYARD_EXTRA_ALLOWED_MODULES.",
            )
        if any(fnmatch.fnmatchcase(path, pattern) for pattern in self.allowed_components):
            return
        for pattern in self.denied_components:
            if fnmatch.fnmatchcase(path, pattern):
                self._refuse(
                    component,
                    "component-denylist",
                    f"Type '{path}'{where} can reach arbitrary URLs or local files; allow it explicitly with "
                    "STACKYARD_ALLOWED_COMPONENTS if you trust every definition author.",
                )

    def pre_init(self, name: str, cls: type, init_params: dict[str, Any]) -> None:
        """Haystack's `component_pre_init` hook: checks on the class actually imported and the values it is about to
        get. Haystack calls it for every component it builds, nested ones too (an Agent's chat generator, the
        components of a SuperComponent's pipeline), each time with the name of the top-level component."""
        # Haystack is imported only where definitions are built; the settings (and so the CLI) read this module.
        from haystack.core.pipeline.base import PipelineBase

        from stackyard.cell.callables import callable_parameters
        from stackyard.cell.haystack_internals import max_runs_per_component

        self.check_class_path(f"{cls.__module__}.{cls.__qualname__}", name)
        if init_params.get("unsafe"):
            self._refuse(name, "unsafe", f"{cls.__name__}'s 'unsafe' parameter is set.")
        if not self.allow_callables:
            for parameter in callable_parameters(cls, init_params):
                self._refuse(
                    name,
                    "callables",
                    f"{cls.__name__}'s parameter '{parameter}' takes Python code (a callable, or an object that "
                    "holds one, by its type or its value); set STACKYARD_ALLOW_CALLABLES=true to allow it.",
                )
        for path, _, value in _walk(init_params):
            if isinstance(value, PipelineBase):  # a pipeline the component's own from_dict built
                where = f"the pipeline {cls.__name__} gets in '{path}'"
                self._check_runs(max_runs_per_component(value), name, where)

    def build_hook(self) -> Callable[[str, type, dict[str, Any]], None]:
        """`pre_init` for one build, counting too every component Haystack builds, at every nesting level, against
        `max_components`: the YAML check counts the components of nested pipelines, this also those held by
        other components (an Agent's chat generator, a ComponentTool's component)."""
        built = itertools.count(1)

        def hook(name: str, cls: type, init_params: dict[str, Any]) -> None:
            if next(built) > self.max_components:
                self._refuse(
                    name,
                    "max-components",
                    f"Building it would take the definition past {self.max_components} components, counting "
                    "those nested in other components (STACKYARD_MAX_COMPONENTS).",
                )
            self.pre_init(name, cls, init_params)

        return hook

    def _host_allowed(self, host: str) -> bool:
        return any(fnmatch.fnmatchcase(host, pattern.lower()) for pattern in self.allowed_hosts)

    @staticmethod
    def _refuse(component: str, rule: str, reason: str) -> None:
        raise PolicyViolation(
            f"Component '{component}' is refused by rule '{rule}': {reason}", rule=rule, component=component
        )


def _walk(value: Any, path: str = "", key: str | None = None) -> Iterator[tuple[str, str | None, Any]]:
    yield path, key, value
    if isinstance(value, dict):
        for child_key, child in value.items():
            yield from _walk(child, f"{path}.{child_key}" if path else str(child_key), str(child_key))
    elif isinstance(value, list | tuple):  # definitions may hold tuples (`!!python/tuple`, as Haystack writes them)
        for index, child in enumerate(value):
            yield from _walk(child, f"{path}[{index}]", key)


def _pipelines(spec: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """The dicts within a component's spec shaped like a serialized pipeline, found by shape, not by class name."""
    for path, _, value in _walk(spec):
        if isinstance(value, dict) and ("components" in value or "max_runs_per_component" in value):
            yield path, value


def _size(components: Any) -> int:
    return len(components) if isinstance(components, dict | list | tuple) else 0


def _secrets(params: Any) -> Iterator[list[str]]:
    for _, _, value in _walk(params):
        if isinstance(value, dict) and value.get("type") == "env_var":
            variables = value.get("env_vars") or []
            listed = variables if isinstance(variables, list | tuple) else [variables]
            yield [str(variable) for variable in listed]


def _host(url: Any) -> str | None:
    if not isinstance(url, str):
        return None
    parts = urlsplit(url if "://" in url else f"//{url}")
    return parts.hostname.lower() if parts.hostname else None
