"""What component code may reach from a cell, enforced where the harm would happen.

The definition policy (`cell/policy.py`) reads the YAML, but harm happens at run time, through defaults,
nesting and the values components pass to each other: a generator left without `api_key` reads Haystack's default
variable and sends it wherever `api_base_url` points; an `OutputAdapter` can turn a run input into a path that a
converter then opens. So every cell enforces these rules at the point of action, whichever parameter, default or
nesting produced it:

- **Secrets by environment** (`wire.cell_config.cell_environment`): a cell's environment holds the variables on
  STACKYARD_SECRET_ENV_ALLOWLIST and STACKYARD_WORKER_ENVIRONMENT and the few any process needs (`BASIC`), nothing
  else of the server's: no token, no key that is not allowed.
- **Egress by connection**: Python's audit hooks (PEP 578) report every name resolution, socket connection and
  datagram sent. A host name must match STACKYARD_ALLOWED_HOSTS before it is even resolved (a lookup can carry
  data too); an address is allowed if it matches a pattern literally or a name on the list resolved to it.
  Proxies and redirects are connections like any other. Unix sockets are refused. With no allowed hosts, component
  code reaches no host at all.
- **Files by opening**: reading only under STACKYARD_READABLE_DIRS, the folders Python and the installed packages
  live in, the certificates and time zones the standard library reads, and the cell's scratch folder; writing,
  removing, renaming only in the scratch folder (and STACKYARD_WRITABLE_DIRS). Paths are resolved first (symbolic
  links, `..`), so the rule is about the file that would really be opened. `/proc` is not readable: it holds the
  environment the server was started with.
- **No new programs**: subprocess, exec, spawn and fork are refused, since a new program would not carry the hooks.

What this does not hold against: Python code written by an attacker could reach native code that makes system
calls the hooks never see (ctypes, a C extension). Definitions bring no Python code: Haystack imports only
allow-listed modules, callables are refused by the policy, and templates render in Jinja's sandbox after their
syntax tree was checked. Audit hooks cannot be removed once added.

Each refusal raises `Refused` (a `PermissionError`, which libraries treat as the failure it is). A library may wrap
it in its own error ("Connection error."): the cell finds it in the error's chain of causes and names the rule
in the answer (`cell/life.py`).
"""

from __future__ import annotations

import fnmatch
import ipaddress
import mimetypes
import os
import socket
import ssl
import sys
import sysconfig
import threading
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

__all__ = ["Guard", "Refused", "Rules", "code_folders", "install", "rules_for"]

# Files every process may read: the nothing and randomness devices.
DEVICES = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random")
# Certificates live here on the usual distributions, behind the links `ssl`'s default paths name.
CERTIFICATES = ("/etc/ssl", "/etc/pki", "/usr/share/ca-certificates", "/usr/lib/ssl")
# Packages whose folders are readable whatever the settings: the server's own code and the engine's.
CODE_PACKAGES = ("stackyard", "haystack", "haystack_integrations")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


class Refused(PermissionError):
    """Component code tried something the cell's rules forbid; `rule` names which."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


@dataclass(frozen=True)
class Rules:
    """What one cell's component code may reach."""

    allowed_hosts: tuple[str, ...]
    readable: tuple[str, ...]  # folders, resolved
    writable: tuple[str, ...]  # folders, resolved (the scratch folder first)


def code_folders(modules: Iterable[str] = ()) -> list[str]:
    """Where Python, the installed packages, Stackyard, Haystack and `modules` (the extra allowed ones) live."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    paths.update(value for value in sysconfig.get_paths().values() if value)
    for name in (*CODE_PACKAGES, *modules):
        try:
            spec = find_spec(name.split(".")[0])
        except (ImportError, ValueError):
            continue
        if spec is not None:
            paths.update(spec.submodule_search_locations or ())
            if spec.origin and spec.has_location:
                paths.add(os.path.dirname(spec.origin))
    return sorted(paths)


def system_files() -> list[str]:
    """What the standard library reads on its own: certificates, time zones, MIME types."""
    verify = ssl.get_default_verify_paths()
    found: list[str] = [
        *DEVICES,
        *CERTIFICATES,
        *map(str, zoneinfo.TZPATH),
        "/etc/localtime",
        *(str(path) for path in mimetypes.knownfiles),
    ]
    found += [path for path in (verify.cafile, verify.capath, verify.openssl_cafile, verify.openssl_capath) if path]
    return found


def rules_for(
    scratch: str, *, allowed_hosts: Iterable[str], readable: Iterable[str | Path], writable: Iterable[str | Path]
) -> Rules:
    """The rules of a cell whose scratch folder is `scratch`."""
    writable_folders = [scratch, *(str(path) for path in writable)]
    readable_folders = [*(str(path) for path in readable), *system_files()]
    return Rules(
        allowed_hosts=tuple(pattern.lower().rstrip(".") for pattern in allowed_hosts),
        readable=_resolved(readable_folders),
        writable=_resolved(writable_folders),
    )


def install(rules: Rules) -> Guard:
    """Enforce `rules` in this process from now on (for good: audit hooks cannot be removed)."""
    guard = Guard(rules)
    sys.addaudithook(guard)
    return guard


class Guard:
    """The audit hook: one dictionary lookup per event, and a check for the few events that can do harm."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self._readable = tuple(folder.rstrip("/") + "/" for folder in (*rules.readable, *rules.writable))
        self._writable = (*(folder.rstrip("/") + "/" for folder in rules.writable), "/dev/null/")
        self._addresses: set[str] = set()  # what allowed names resolved to
        self._local = threading.local()  # set while the guard resolves a name itself
        self._handlers: dict[str, Callable[[tuple[Any, ...]], None]] = {
            "open": self._open,
            "os.listdir": self._listing,
            "os.scandir": self._listing,
            "os.remove": self._changes_first,
            "os.rmdir": self._changes_first,
            "os.mkdir": self._changes_first,
            "os.chmod": self._changes_first,
            "os.chown": self._changes_first,
            "os.truncate": self._changes_first,
            "os.utime": self._changes_first,
            "os.rename": self._changes_both,
            "os.link": self._changes_both,
            "os.symlink": self._changes_both,
            "socket.getaddrinfo": self._resolve,
            "socket.gethostbyname": self._resolve,
            "socket.gethostbyname_ex": self._resolve,
            "socket.gethostbyaddr": self._resolve,
            "socket.connect": self._connect,
            "socket.sendto": self._send,
            "socket.sendmsg": self._send,
            "subprocess.Popen": self._program,
            "os.system": self._program,
            "os.exec": self._program,
            "os.posix_spawn": self._program,
            "os.spawn": self._program,
            "os.fork": self._program,
            "os.forkpty": self._program,
        }

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        handler = self._handlers.get(event)
        if handler is not None:
            handler(args)

    # -- files ------------------------------------------------------------------------------------------------

    def _open(self, args: tuple[Any, ...]) -> None:
        path, mode, flags = args
        writes = any(letter in mode for letter in "wax+") if isinstance(mode, str) else bool(flags & _WRITE_FLAGS)
        if writes:
            self._write(path)
        else:
            self._read(path)

    def _changes_first(self, args: tuple[Any, ...]) -> None:
        self._write(args[0])

    def _changes_both(self, args: tuple[Any, ...]) -> None:
        self._write(args[0])
        self._write(args[1])

    def _listing(self, args: tuple[Any, ...]) -> None:
        self._read(args[0] if args and args[0] is not None else ".")

    def _read(self, path: object) -> None:
        self._within(
            path,
            self._readable,
            "reading '{}' was refused: it is outside the folders component code may read (STACKYARD_READABLE_DIRS)",
        )

    def _write(self, path: object) -> None:
        self._within(
            path,
            self._writable,
            "writing '{}' was refused: component code writes only in its scratch folder (and STACKYARD_WRITABLE_DIRS)",
        )

    def _within(self, path: object, folders: tuple[str, ...], refusal: str) -> None:
        resolved = _path(path)
        if resolved is not None and not (resolved + "/").startswith(folders):
            self._refuse("files", refusal.format(resolved))

    # -- network ----------------------------------------------------------------------------------------------

    def _resolve(self, args: tuple[Any, ...]) -> None:
        host = _text(args[0])
        if host is None or getattr(self._local, "resolving", False):
            return  # no host (the local side of a bind), or the guard's own lookup
        if not self._allowed_name(host):
            self._refuse_host(host)
        if _is_address(host):
            return
        # Learn what the name resolves to, so a connection to one of its addresses is known to be allowed.
        self._local.resolving = True
        try:
            for *_, address in socket.getaddrinfo(host, None):
                self._addresses.add(str(address[0]))
        except OSError:
            pass  # the caller's own lookup fails the same way, with its own error
        finally:
            self._local.resolving = False

    def _connect(self, args: tuple[Any, ...]) -> None:
        sock, address = args[0], args[1]
        family = getattr(sock, "family", None)
        if family not in (socket.AF_INET, socket.AF_INET6):
            self._refuse("egress", f"a connection to {address!r} was refused: only internet hosts can be reached")
        host = _text(address[0]) if isinstance(address, tuple) and address else None
        if host is None or not (self._allowed_name(host) or host.split("%", maxsplit=1)[0] in self._addresses):
            self._refuse_host(host or repr(address))

    def _send(self, args: tuple[Any, ...]) -> None:
        if len(args) > 1 and args[1] is not None:  # no address: a connected socket, checked when it connected
            self._connect(args)

    def _allowed_name(self, host: str) -> bool:
        name = host.lower().rstrip(".").strip("[]")
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.rules.allowed_hosts)

    def _refuse_host(self, host: str) -> None:
        self._refuse(
            "egress", f"a connection to '{host}' was refused: it is not on STACKYARD_ALLOWED_HOSTS of this server"
        )

    # -- programs ---------------------------------------------------------------------------------------------

    def _program(self, args: tuple[Any, ...]) -> None:
        self._refuse("programs", "starting a program was refused: component code runs in its cell only")

    @staticmethod
    def _refuse(rule: str, message: str) -> None:
        raise Refused(rule, message)


def _resolved(folders: Iterable[str]) -> tuple[str, ...]:
    # Never the root itself: a Python installed with prefix `/` must not make every file readable.
    real = (os.path.realpath(folder) for folder in folders if folder)
    return tuple(dict.fromkeys(folder for folder in real if folder != "/"))


def _path(value: object) -> str | None:
    """The real path `value` names, or None for an open file descriptor."""
    if isinstance(value, int):
        return None
    try:
        return os.path.realpath(os.fsdecode(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "?"


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    return value if isinstance(value, str) else None


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", maxsplit=1)[0].strip("[]"))
    except ValueError:
        return False
    return True
