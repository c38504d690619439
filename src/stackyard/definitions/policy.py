"""What a definition may contain, checked on the parsed YAML before Haystack imports or builds anything.

Haystack's own loader already refuses modules outside its allowlist. Valid YAML can still harm a server that takes it
from the network: an environment secret sent to a host of the submitter's choosing, components that fetch any URL
or read any local file, templates that escape their sandbox or explode (`templates.py`), callables named by string,
endless loops. Each rule here refuses one of those, names itself, and says how to allow what the operator really
wants.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from stackyard.definitions.templates import check_template, looks_like_template
from stackyard.errors import PolicyViolation

if TYPE_CHECKING:  # the settings (and so the CLI) read this module; parsing definitions needs Haystack
    from stackyard.definitions.parsing import Definition

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
# Init parameters whose string values Haystack resolves to Python callables (or tool objects that wrap callables).
CALLABLE_PARAMETERS = frozenset(
    {"streaming_callback", "custom_filters", "response_fn", "tools", "function", "callback", "snapshot_callback"}
)
# Components that reach arbitrary URLs, or read local files named in data, refused unless explicitly allowed.
DEFAULT_DENIED_COMPONENTS = (
    "haystack.components.fetchers.*",
    "haystack.components.connectors.*",
    "haystack.components.converters.image.document_to_image.*",
    "haystack.components.embedders.image.*",
    "haystack.components.extractors.image.*",
    "haystack_integrations.components.fetchers.*",
    "haystack_integrations.components.connectors.*",
)


@dataclass(frozen=True)
class Policy:
    """The rules in force, from `Settings`."""

    allowed_modules: tuple[str, ...] = ("haystack", "haystack_integrations")
    denied_components: tuple[str, ...] = DEFAULT_DENIED_COMPONENTS
    allowed_components: tuple[str, ...] = ()
    secret_env_allowlist: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()
    max_components: int = 100
    max_runs_per_component: int = 100
    allow_callables: bool = False

    # -- definitions --------------------------------------------------------------------------------------------

    def check(self, definition: Definition) -> None:
        """Raise `PolicyViolation` naming the rule and the component, or return when the definition is acceptable."""
        components: dict[str, Any] = definition.pipeline["components"]
        if len(components) > self.max_components:
            raise PolicyViolation(
                f"Refused by rule 'max-components': the definition has {len(components)} components; "
                f"this server allows {self.max_components} (STACKYARD_MAX_COMPONENTS).",
                rule="max-components",
            )
        runs = definition.pipeline.get("max_runs_per_component", 100)
        if not isinstance(runs, int) or isinstance(runs, bool) or not 1 <= runs <= self.max_runs_per_component:
            raise PolicyViolation(
                "Refused by rule 'max-runs-per-component': max_runs_per_component must be a whole number from 1 to "
                f"{self.max_runs_per_component} (STACKYARD_MAX_RUNS_PER_COMPONENT).",
                rule="max-runs-per-component",
            )
        for name, spec in components.items():
            self._check_component(str(name), spec)

    def _check_component(self, name: str, spec: dict[str, Any]) -> None:
        self.check_class_path(str(spec["type"]), name)
        if spec.get("unsafe") is True:
            self._refuse(name, "unsafe", "Component-level 'unsafe: true' turns off Haystack's deserialization checks.")
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
        if key == "unsafe" and value is True:
            self._refuse(name, "unsafe", f"'{path}: true' lets templates or expressions run arbitrary code.")
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
        """Haystack's `component_pre_init` hook: the same class check on the class actually imported."""
        self.check_class_path(f"{cls.__module__}.{cls.__qualname__}", name)

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
