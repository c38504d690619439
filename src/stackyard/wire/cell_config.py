"""What a cell needs to know of the server's settings, as plain data (`serving.cell_pool.cell_config` makes it)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

# Variables any process may need and none of which is a secret: the search path, the locale, the time zone.
BASIC = frozenset({"PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TERM", "NO_COLOR", "PYTHONHASHSEED", "PYTHONIOENCODING"})
BASIC_PREFIXES = ("LC_",)
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
class DefinitionRules:
    """The definition policy in force (`cell.policy.Policy` enforces it)."""

    allowed_modules: tuple[str, ...] = ("haystack", "haystack_integrations")
    denied_components: tuple[str, ...] = DEFAULT_DENIED_COMPONENTS
    allowed_components: tuple[str, ...] = ()
    secret_env_allowlist: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()
    max_components: int = 100
    max_runs_per_component: int = 100
    allow_callables: bool = False


@dataclass(frozen=True)
class CellConfig:
    max_yaml_bytes: int
    rules: DefinitionRules
    extra_allowed_modules: tuple[str, ...]
    memory_bytes: int | None  # RLIMIT_AS of the cell; None: no limit
    cpu_seconds: float | None  # CPU time one job may use; None: no limit
    # The environment component code sees (`cell_environment`): never the whole of the server's.
    environment: dict[str, str]
    allowed_hosts: tuple[str, ...] = ()  # what component code may connect to
    readable: tuple[str, ...] = ()  # folders component code may read (besides its scratch folder and the code's)
    writable: tuple[str, ...] = ()  # folders it may write to besides its scratch folder
    scratch_root: str | None = None  # where each cell makes its scratch folder; None: no containment
    input_dirs: tuple[str, ...] = ()  # folders whose files run inputs may name by path (STACKYARD_READABLE_DIRS)
    threads: int = 64  # threads for sync components and jobs, per cell
    compute_threads: int = 1  # torch / OpenMP intra-op threads per cell
    max_result_bytes: int = 100_000_000  # the largest answer a job may send back
    max_input_chars: int | None = None  # the longest string a run may send, unless its definition says
    max_frame_bytes: int = 256 * 1024 * 1024
    labels: dict[str, str] = field(default_factory=dict)  # how the cell names itself in logs


def cell_environment(environ: Mapping[str, str], secrets: Iterable[str], passed: Iterable[str] = ()) -> dict[str, str]:
    """The environment component code sees: the allowed secrets, the variables the operator passes on, the basics.
    Telemetry stays off whatever the server's environment says. The cell replaces its whole environment with
    this before any component is built (`cell.life`)."""
    named = {*secrets, *passed}
    kept = {
        name: value
        for name, value in environ.items()
        if name in named or name in BASIC or name.startswith(BASIC_PREFIXES)
    }
    kept["HAYSTACK_TELEMETRY_ENABLED"] = "False"
    return kept
