"""Starting the server: what is checked before any worker starts, and the one line a failed start prints.

A start fails on settings, token lines, start-up files or the store. Each failure is a `StartupError` whose message
is one line naming the variable or file and what is wrong; `stackyard serve` prints it and exits with status 2,
with one worker or many, and never with a traceback.
"""

from __future__ import annotations

from pydantic import ValidationError
from pydantic_settings import SettingsError

from stackyard.definitions.discovery import DiscoveryError, discover
from stackyard.errors import StackyardError
from stackyard.settings import Settings
from stackyard.store import DefinitionStore, open_store
from stackyard.tokens import InvalidTokenLine, parse_token_line

EXIT_STARTUP_FAILED = 2
_QUOTING = "quote token lines in single quotes: inside double quotes the shell expands each $"


class StartupError(Exception):
    """The server cannot start. The message is one line: the variable or file, and what is wrong with it."""


def load_settings() -> Settings:
    """The settings from `STACKYARD_*` variables, or a `StartupError` naming each variable that is wrong."""
    try:
        return Settings()
    except ValidationError as error:
        raise StartupError("; ".join(_describe(item) for item in error.errors(include_url=False))) from None
    except SettingsError as error:
        raise StartupError(f"{error}; check the STACKYARD_* variables.") from None


def _describe(item: object) -> str:
    details = item if isinstance(item, dict) else {}
    location = details.get("loc") or ("settings",)
    field = str(location[0])
    info = Settings.model_fields.get(field)
    alias = info.validation_alias if info is not None else None
    variable = alias if isinstance(alias, str) else f"STACKYARD_{field.upper()}" if info is not None else field
    # The value itself is not repeated: it may be a URL with a password in it.
    return f"{variable}: {details.get('msg', 'invalid value')}"


def check(settings: Settings) -> None:
    """What can be checked before a worker starts: token lines, start-up files' names, and that the store opens."""
    _check_token_lines("STACKYARD_TOKENS", settings.tokens)
    if settings.tokens_file is not None:
        try:
            text = settings.tokens_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise StartupError(f"STACKYARD_TOKENS_FILE: cannot read {settings.tokens_file}: {error}") from None
        lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
        _check_token_lines(f"STACKYARD_TOKENS_FILE ({settings.tokens_file})", lines)
    try:
        discover(settings.start_up_files())
    except DiscoveryError as error:
        raise StartupError(str(error)) from None
    opened_store(settings).close()


def _check_token_lines(source: str, lines: list[str]) -> None:
    for number, line in enumerate(lines, start=1):
        try:
            parse_token_line(line)
        except InvalidTokenLine as error:
            hint = f" ({_QUOTING})" if source == "STACKYARD_TOKENS" else ""
            raise StartupError(f"{source}, token line {number}: {error}{hint}") from None


def opened_store(settings: Settings) -> DefinitionStore:
    """The store `STACKYARD_STORE_URL` names, open; a `StartupError` saying why when it cannot be opened."""
    try:
        store = open_store(
            settings.store_url, keep_revisions=settings.keep_revisions, max_pipelines=settings.max_pipelines
        )
        store.open()
    except StackyardError as error:  # already says what to check
        raise StartupError(f"STACKYARD_STORE_URL: {error.detail}") from None
    except Exception as error:  # any reason at all: the server cannot start without its store
        raise StartupError(f"STACKYARD_STORE_URL: the store cannot be opened: {error}") from None
    return store


def run(settings: Settings, workers: int) -> int:
    """Serve until stopped, with `workers` processes; the exit status: 0, or 2 when a worker could not start.

    `uvicorn.run` would end a failed start with status 3 for one worker and 0 for several: its supervisor stops every
    worker when one fails to start, then returns as after a clean shutdown. So the supervisor is run here, and asked.
    """
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(
        "stackyard.api.app:create_app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=30,
    )
    try:
        if workers == 1:
            uvicorn.Server(config).run()
            return 0
        supervisor = Multiprocess(config, sockets=[config.bind_socket()])
        supervisor.run()
    except SystemExit as exit:
        # uvicorn ends a start that failed (the app, its lifespan, the socket) with sys.exit(STARTUP_FAILURE), after
        # logging why in one line.
        if exit.code != STARTUP_FAILURE:
            raise
        return EXIT_STARTUP_FAILED
    except KeyboardInterrupt:  # Ctrl+C once the server stopped gracefully, as `uvicorn.run` takes it
        return 0
    failed = any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes)
    return EXIT_STARTUP_FAILED if failed else 0
