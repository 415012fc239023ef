"""The plugin manager: built-in defaults, entry-point loading with allow/deny lists, one typed wrapper
per hook (so the rest of the kernel never calls ``pm.hook`` with loose keyword arguments).

Environment:

* ``BIDKERNEL_PLUGINS_ALLOW`` — comma-separated entry-point names; when set, only these are loaded
  (``none`` loads none);
* ``BIDKERNEL_PLUGINS_DENY`` — comma-separated names never loaded (wins over ALLOW);
* ``BIDKERNEL_<PLUGIN>_<KEY>`` — settings handed to plugins in :class:`KernelConfig`.

A plugin that fails to import or to register (a hook the contract does not know, a bad signature, an
invalid name) is not loaded; the error is kept and shown by ``bidkernel plugins`` and the server log.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pluggy

from bidkernel import __version__, hookspecs
from bidkernel.plugins.contract import (
    EVENT_NAME_RE,
    NAME_RE,
    BlobStore,
    KernelConfig,
    KeyCustody,
    Notifier,
    PluginRoute,
    TimestampSource,
)

if TYPE_CHECKING:
    from bidkernel.platform import Platform
    from bidkernel.plugins.handles import PluginKernel

log = logging.getLogger("bidkernel.plugins")

BUILTIN = "kernel"
_RESERVED = frozenset({BUILTIN, "plugins", "outbox", "admin", "signed"})


class PluginError(Exception):
    """A plugin cannot be loaded or breaks the contract (the message names the plugin)."""


@dataclass(frozen=True)
class PluginInfo:
    """One loaded plugin as ``bidkernel plugins`` lists it."""

    name: str
    distribution: str
    version: str
    hooks: tuple[str, ...]
    builtin: bool = False


@dataclass
class LoadFailure:
    name: str
    error: str


@dataclass
class _Meta:
    distribution: str = ""
    version: str = ""
    builtin: bool = False


def _csv(value: str | None) -> set[str] | None:
    if value is None or not value.strip():
        return None
    return {x.strip() for x in value.split(",") if x.strip()}


def settings_from_env(env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for k, v in env.items():
        if not k.startswith("BIDKERNEL_") or k.startswith("BIDKERNEL_PLUGINS_"):
            continue
        rest = k[len("BIDKERNEL_") :].lower()
        name, sep, key = rest.partition("_")
        if sep and key:
            out.setdefault(name, {})[key] = v
    return out


class _Manager(pluggy.PluginManager):
    """Like pytest's: any ``bidkernel_*`` function is a hook implementation, marked or not, so a typo in
    a hook name is an error at registration instead of a hook that silently never runs."""

    def parse_hookimpl_opts(self, plugin: object, name: str) -> Any:
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is None and name.startswith("bidkernel_") and callable(getattr(plugin, name, None)):
            return {}
        return opts


class PluginHost:
    """Owns the pluggy manager. Build it with :func:`load_plugins` (entry points) or register plugin
    objects directly (tests, the conformance suite)."""

    def __init__(self, *, data: Path | None = None, env: Mapping[str, str] | None = None) -> None:
        self.pm = _Manager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        env = dict(os.environ if env is None else env)
        self.config = KernelConfig(__version__, data, settings_from_env(env))
        self.failures: list[LoadFailure] = []
        self._meta: dict[str, _Meta] = {}
        self._configured = False
        self.platform: Platform | None = None
        self._handles: dict[str, PluginKernel] = {}
        self._event_types: dict[str, tuple[str, ...]] = {}
        from bidkernel.plugins.defaults import KernelDefaults

        self.defaults = KernelDefaults()
        self.pm.register(self.defaults, name=BUILTIN)
        self._meta[BUILTIN] = _Meta("bidkernel", __version__, True)

    # --- registration ---------------------------------------------------------------------------
    def register(self, plugin: object, name: str, *, distribution: str = "", version: str = "") -> None:
        """Register ``plugin`` (a module or object with ``bidkernel_*`` functions) under ``name``."""
        if not NAME_RE.match(name) or name in _RESERVED:
            raise PluginError(f"plugin name {name!r} is reserved or not [a-z][a-z0-9_]{{0,31}}")
        if self.pm.has_plugin(name):
            raise PluginError(f"a plugin named {name!r} is already registered")
        try:
            self.pm.register(plugin, name=name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            raise PluginError(f"plugin {name!r} breaks the contract: {exc}") from None
        unknown = [
            impl.function.__name__
            for caller in self.pm.hook.__dict__.values()
            if isinstance(caller, pluggy.HookCaller) and not caller.has_spec()
            for impl in caller.get_hookimpls()
            if impl.plugin is plugin
        ]
        if unknown:
            self.pm.unregister(plugin)
            raise PluginError(f"plugin {name!r} implements hooks the contract does not have: {', '.join(unknown)}")
        try:
            types = tuple(self._declared_event_types(name, plugin))
        except PluginError:
            self.pm.unregister(plugin)
            raise
        self._event_types[name] = types
        self._meta[name] = _Meta(distribution, version)

    def _declared_event_types(self, name: str, plugin: object) -> Iterable[str]:
        fn = getattr(plugin, "bidkernel_ledger_event_types", None)
        if fn is None:
            return ()
        types = list(fn())
        for t in types:
            if not isinstance(t, str) or not EVENT_NAME_RE.match(t) or t == "signed":
                raise PluginError(f"plugin {name!r}: ledger event type {t!r} is not [a-z][a-z0-9_]{{0,47}}")
        return types

    def load_entry_points(self, env: Mapping[str, str] | None = None) -> None:
        """Load the ``bidkernel`` entry points, honouring ``BIDKERNEL_PLUGINS_ALLOW`` / ``_DENY``."""
        env = os.environ if env is None else env
        allow, deny = _csv(env.get("BIDKERNEL_PLUGINS_ALLOW")), _csv(env.get("BIDKERNEL_PLUGINS_DENY")) or set()
        for ep in sorted(metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP), key=lambda e: e.name):
            if ep.name in deny or (allow is not None and ep.name not in allow):
                continue
            if self.pm.has_plugin(ep.name):
                continue
            dist = ep.dist
            try:
                plugin = ep.load()
                self.register(
                    plugin,
                    ep.name,
                    distribution=dist.name if dist is not None else "",
                    version=dist.version if dist is not None else "",
                )
            except Exception as exc:
                msg = f"{type(exc).__name__}: {exc}"
                log.error("plugin %s not loaded: %s", ep.name, msg)
                self.failures.append(LoadFailure(ep.name, msg))

    def names(self) -> list[str]:
        """Registered plugin names, the built-in first."""
        return [n for n, _ in sorted(self.pm.list_name_plugin(), key=lambda x: (x[0] != BUILTIN, x[0]))]

    def plugin(self, name: str) -> object:
        p = self.pm.get_plugin(name)
        if p is None:
            raise KeyError(name)
        return p

    def info(self) -> list[PluginInfo]:
        out = []
        for name in self.names():
            plugin = self.pm.get_plugin(name)
            hooks = tuple(sorted(c.name for c in self.pm.get_hookcallers(plugin) or ()))
            m = self._meta.get(name, _Meta())
            out.append(PluginInfo(name, m.distribution, m.version, hooks, m.builtin))
        return out

    # --- typed wrappers (one per hook family) ---------------------------------------------------
    def configure(self) -> None:
        """``bidkernel_configure`` (historic: plugins registered later receive it on registration)."""
        if not self._configured:
            self._configured = True
            self.pm.hook.bidkernel_configure.call_historic(kwargs={"config": self.config})

    def attach(self, platform: Platform) -> None:
        """Give the built-in defaults the platform they stand for, then configure."""
        self.platform = platform
        self.defaults.platform = platform
        self.configure()
        self.install_providers(platform)

    def install_providers(self, platform: Platform) -> None:
        """Put a plugin's timestamp source, key custody and blob store on the kernel's own paths (intake,
        closing, opening: :mod:`bidkernel.providers`). When the built-in ``kernel`` plugin answers, the
        platform keeps its embedded defaults (and their batched fast paths)."""
        from bidkernel.plugins import defaults

        ts = self.timestamp_source()
        if ts is not None and not isinstance(ts, defaults.EmbeddedTimestamps):
            platform.timestamps = ts
        kc = self.key_custody()
        if kc is not None and not isinstance(kc, defaults.PlatformKeyCustody):
            self._check_platform_key(platform, kc)
            platform.key_custody = kc
            # receipts, opening records (providers.platform_sign) and checkpoints are signed by the device
            if platform.note_signer is not None:
                from bidkernel import providers

                platform.note_signer.delegate(lambda msg: providers.platform_sign(platform, msg))
        bs = self.blob_store()
        if bs is not None and not isinstance(bs, defaults.LocalBlobStore):
            platform.blob_store = bs

    @staticmethod
    def _check_platform_key(platform: Platform, kc: KeyCustody) -> None:
        """A custody provider signs as the platform: it must hold the platform certificate's key, or every
        receipt, checkpoint and opening record it signs would be unverifiable against the published
        certificate (and the log's earlier checkpoints against the new key)."""
        from bidkernel.crypto.x509 import Certificate

        try:
            theirs = Certificate.from_pem(bytes(kc.certificate_pem())).public_key
        except Exception as exc:
            raise PluginError(f"bidkernel_key_custody: certificate_pem() failed ({type(exc).__name__})") from None
        if bytes(theirs) != bytes(platform.pki.platform.certificate.public_key):
            raise PluginError(
                "bidkernel_key_custody: the provider's certificate is not the platform certificate; import the "
                "platform key into the device (or publish its certificate as the platform's) before using it"
            )

    def timestamp_source(self) -> TimestampSource | None:
        return cast("TimestampSource | None", self._provider("bidkernel_timestamp_source", TimestampSource))

    def key_custody(self) -> KeyCustody | None:
        return cast("KeyCustody | None", self._provider("bidkernel_key_custody", KeyCustody))

    def blob_store(self) -> BlobStore | None:
        return cast("BlobStore | None", self._provider("bidkernel_blob_store", BlobStore))

    def notifier(self) -> Notifier | None:
        return cast("Notifier | None", self._provider("bidkernel_notifier", Notifier))

    def _provider(self, hook: str, proto: Any) -> Any:
        """The first answer of a provider hook; an answer that does not implement the protocol is an error
        (a misconfigured HSM plugin must not silently fall back to the file key)."""
        r = getattr(self.pm.hook, hook)(config=self.config)
        if r is None:
            return None
        if not isinstance(r, proto):
            raise PluginError(f"{hook} returned {type(r).__name__}, which does not implement {proto.__name__}")
        return r

    def provider_names(self) -> dict[str, str]:
        """Which plugin answers each provider hook (for ``bidkernel plugins``)."""
        out = {}
        for hook in hookspecs.PROVIDER_HOOK_NAMES:
            caller: pluggy.HookCaller = getattr(self.pm.hook, hook)
            for impl in reversed(caller.get_hookimpls()):  # pluggy calls the last registered first
                if impl.function(config=self.config) is not None:
                    out[hook] = self.pm.get_name(impl.plugin) or "?"
                    break
        return out

    def event_impls(self, hook: str) -> list[tuple[str, Callable[..., Any]]]:
        """``(plugin name, function)`` of every implementation of an event hook, in call order."""
        caller: pluggy.HookCaller = getattr(self.pm.hook, hook)
        return [(self.pm.get_name(i.plugin) or "?", i.function) for i in reversed(caller.get_hookimpls())]

    def routes(self) -> list[tuple[str, PluginRoute]]:
        """``(plugin name, route)`` of every plugin route; a bad route is a :class:`PluginError`."""
        out: list[tuple[str, PluginRoute]] = []
        for i in reversed(self.pm.hook.bidkernel_routes.get_hookimpls()):
            name = self.pm.get_name(i.plugin) or "?"
            declared = cast(Sequence[Any], i.function() or ())
            for r in declared:
                if not isinstance(r, PluginRoute):
                    raise PluginError(f"plugin {name!r}: bidkernel_routes must return PluginRoute objects")
                if not r.path.startswith("/") or ".." in r.path or r.method.upper() not in ("GET", "POST", "PUT",
                                                                                            "DELETE"):  # fmt: skip
                    raise PluginError(f"plugin {name!r}: route {r.method} {r.path!r} is not a relative path")
                if r.access not in ("public", "optional", "signed"):
                    raise PluginError(f"plugin {name!r}: route access must be public, optional or signed")
                out.append((name, r))
        return out

    def cli_commands(self) -> list[tuple[str, Sequence[Any]]]:
        """``(plugin name, click commands)`` per plugin that adds commands."""
        out: list[tuple[str, Sequence[Any]]] = []
        for i in reversed(self.pm.hook.bidkernel_cli_commands.get_hookimpls()):
            cmds = cast(Sequence[Any], i.function() or ())
            out.append((self.pm.get_name(i.plugin) or "?", list(cmds)))
        return out

    def event_types(self, name: str) -> tuple[str, ...]:
        return self._event_types.get(name, ())

    def handle(self, name: str) -> PluginKernel:
        """The capability-scoped handle of plugin ``name`` (needs :meth:`attach`)."""
        from bidkernel.plugins.handles import PluginKernel

        if self.platform is None:
            raise PluginError("the plugin host is not attached to a platform")
        h = self._handles.get(name)
        if h is None:
            h = PluginKernel(
                self.platform,
                name,
                event_types=self.event_types(name),
                custody=self.key_custody,
                timestamps=self.timestamp_source,
                notifier=self.notifier,
            )
            self._handles[name] = h
        return h


def load_plugins(*, data: Path | None = None, env: Mapping[str, str] | None = None) -> PluginHost:
    """A host with the built-in defaults and every allowed entry-point plugin."""
    host = PluginHost(data=data, env=env)
    host.load_entry_points(env)
    return host


@contextlib.contextmanager
def open_plugin_kernel(name: str, data: str | Path, plugin: object | None = None) -> Iterator[PluginKernel]:
    """The handle of plugin ``name`` over the kernel data directory ``data`` — for a plugin's own
    ``bidkernel <name> ...`` commands. With ``plugin`` (the plugin's module or object) that object is
    registered under ``name``; without, the installed entry point must be loaded (else refused)."""
    from bidkernel.platform import Platform

    if not (Path(data) / "kernel.sqlite").is_file():
        raise PluginError(f"{data} is not a kernel data directory (no kernel.sqlite)")
    if plugin is not None:
        host = PluginHost(data=Path(data))
        host.register(plugin, name)
    else:
        host = load_plugins(data=Path(data))
    if not host.pm.has_plugin(name) or name == BUILTIN:
        raise PluginError(f"plugin {name!r} is not loaded (installed, allowed by BIDKERNEL_PLUGINS_ALLOW/_DENY?)")
    platform = Platform.open(data)
    try:
        host.attach(platform)
        yield host.handle(name)
    finally:
        platform.close()


__all__ = ["LoadFailure", "PluginError", "PluginHost", "PluginInfo", "load_plugins", "open_plugin_kernel",
           "settings_from_env"]  # fmt: skip
