"""THE plugin contract: every hook a bidkernel plugin may implement (pluggy; prefix ``bidkernel_``;
entry-point group ``bidkernel``). docs/plugin_hooks.md documents each one (a test keeps them in step).

Four kinds of hook:

* configuration — :func:`bidkernel_configure` (historic: a plugin registered late still receives it);
* lifecycle events — delivered from the durable outbox *after* the state change committed, at least once,
  with an idempotency key, retried with exponential backoff and dead-lettered where operators see and
  replay them. They never run on the request path: a plugin that raises, hangs or is slow cannot lose,
  delay or reject a bid. Per plugin, events arrive in outbox (commit) order; a later event waits while
  an earlier one is being retried, until that one is delivered or dead-lettered;
* providers (``firstresult``) — the kernel's own defaults are built-in plugins registered ``trylast``,
  so any installed plugin returning a provider replaces them;
* extensions — HTTP routes under ``/plugins/<name>/`` behind the kernel's authentication, ``bidkernel
  <name> ...`` commands, and ledger event types ``plugin.<name>.<event>`` for the transparency log.

Event hooks and route handlers may be plain functions or return awaitables (``async def``); awaitables
run on the kernel's event loop (uvloop), plain functions in a worker thread. Each call has a timeout.
Plugins receive a :class:`~bidkernel.plugins.handles.PluginKernel` — a capability-scoped handle — never
the kernel's internals.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from bidkernel.plugins.contract import (
        BlobStore,
        KernelConfig,
        KeyCustody,
        Notifier,
        OutboxEvent,
        PluginRoute,
        TimestampSource,
    )
    from bidkernel.plugins.handles import PluginKernel

PROJECT = "bidkernel"
ENTRY_POINT_GROUP = "bidkernel"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

# Outbox event kind -> the hook that receives it (the order of this table is the lifecycle order).
EVENT_HOOKS: Mapping[str, str] = {
    "tender.published": "bidkernel_tender_published",
    "tender.amended": "bidkernel_tender_amended",
    "bid.received": "bidkernel_bid_received",
    "bid.replaced": "bidkernel_bid_replaced",
    "bid.withdrawn": "bidkernel_bid_withdrawn",
    "deadline.sealed": "bidkernel_deadline_sealed",
    "opening.opened": "bidkernel_bids_opened",
    "opening.bid_failed": "bidkernel_bid_failed_to_open",
}


# ------------------------------------------------------------------------------------- configuration
@hookspec(historic=True)
def bidkernel_configure(config: KernelConfig) -> None:
    """Called once when the kernel (server or command) starts, before any other hook of the plugin."""


# ------------------------------------------------------------------------------- lifecycle events
@hookspec
def bidkernel_tender_published(event: OutboxEvent, kernel: PluginKernel) -> Awaitable[None] | None:
    """A tender was published (公告): ``event.data`` holds its public fields."""


@hookspec
def bidkernel_tender_amended(event: OutboxEvent, kernel: PluginKernel) -> Awaitable[None] | None:
    """A published tender was amended (更正); the deadline may have moved."""


@hookspec
def bidkernel_bid_received(event: OutboxEvent, kernel: PluginKernel) -> Awaitable[None] | None:
    """A bid was received and receipted (its row, ledger leaf and this event committed together)."""


@hookspec
def bidkernel_bid_replaced(event: OutboxEvent, kernel: PluginKernel) -> Awaitable[None] | None:
    """A bidder submitted a new version; ``event.data["replaces"]`` names the version it supersedes."""


@hookspec
def bidkernel_bid_withdrawn(event: OutboxEvent, kernel: PluginKernel) -> Awaitable[None] | None:
    """A bidder withdrew its bid (撤回) before the deadline."""


@hookspec
def bidkernel_deadline_sealed(event: OutboxEvent, kernel: PluginKernel) -> Awaitable[None] | None:
    """The deadline passed and the tender was sealed: ``event.data`` is the closing record."""


@hookspec
def bidkernel_bids_opened(event: OutboxEvent, kernel: PluginKernel) -> Awaitable[None] | None:
    """The bids of a tender were opened: the signed opening record is in the ledger."""


@hookspec
def bidkernel_bid_failed_to_open(event: OutboxEvent, kernel: PluginKernel) -> Awaitable[None] | None:
    """One bid could not be opened; ``event.data`` carries the structured cause and its attribution."""


# ------------------------------------------------------------------------------------- providers
@hookspec(firstresult=True)
def bidkernel_timestamp_source(config: KernelConfig) -> TimestampSource | None:
    """The RFC 3161 time-stamping service that stamps receipts, the deadline-closing checkpoint, opening
    records and plugin time stamps (default: the kernel's embedded TSA)."""


@hookspec(firstresult=True)
def bidkernel_key_custody(config: KernelConfig) -> KeyCustody | None:
    """The HSM seam: seals/unseals the platform-custody opening keys at rest (unsealed only after the
    kernel's trusted-time gate) and makes audited plugin signatures (default: master key + key file)."""


@hookspec(firstresult=True)
def bidkernel_blob_store(config: KernelConfig) -> BlobStore | None:
    """Where envelope files are stored at intake (durable before the receipt) and read back at the
    opening (content-addressed by SM3; default: ``DATA/blobs``)."""


@hookspec(firstresult=True)
def bidkernel_notifier(config: KernelConfig) -> Notifier | None:
    """How the notices plugins send (``kernel.notify``) reach people (SMS, e-mail, a message bus)."""


# ------------------------------------------------------------------------------------- extensions
@hookspec
def bidkernel_routes() -> Sequence[PluginRoute]:
    """HTTP routes of this plugin, served under ``/plugins/<name>/``."""
    return ()


@hookspec
def bidkernel_cli_commands() -> Sequence[Any]:
    """``click`` commands, mounted as ``bidkernel <name> <command>``."""
    return ()


@hookspec
def bidkernel_ledger_event_types() -> Sequence[str]:
    """Event names this plugin logs, each becoming the ledger kind ``plugin.<name>.<event>``."""
    return ()


EVENT_HOOK_NAMES = tuple(EVENT_HOOKS.values())
PROVIDER_HOOK_NAMES = ("bidkernel_timestamp_source", "bidkernel_key_custody", "bidkernel_blob_store",
                       "bidkernel_notifier")  # fmt: skip
