"""Plugins: the manager (:mod:`.host`), the durable outbox deliverer (:mod:`.delivery`), the
capability-scoped handles plugins receive (:mod:`.handles`), the built-in defaults (:mod:`.defaults`)
and the contract's value types (:mod:`.contract`). The hooks themselves: :mod:`bidkernel.hookspecs`.

What a plugin imports::

    from bidkernel.hookspecs import hookimpl
    from bidkernel.plugins import OutboxEvent, PluginKernel, PluginRoute, RouteCall
"""

from __future__ import annotations

from bidkernel.hookspecs import hookimpl
from bidkernel.plugins.contract import (
    BlobStore,
    Caller,
    KernelConfig,
    KeyCustody,
    Notifier,
    OutboxEvent,
    PluginRoute,
    RouteCall,
    SignedCall,
    TimestampSource,
)
from bidkernel.plugins.handles import PluginKernel, PluginStorage

__all__ = [
    "BlobStore",
    "Caller",
    "KernelConfig",
    "KeyCustody",
    "Notifier",
    "OutboxEvent",
    "PluginKernel",
    "PluginRoute",
    "PluginStorage",
    "RouteCall",
    "SignedCall",
    "TimestampSource",
    "hookimpl",
]
