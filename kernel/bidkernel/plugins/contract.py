"""The value types and provider protocols of the plugin contract (docs/plugin_hooks.md).

Everything a hook receives or returns is defined here or in :mod:`bidkernel.hookspecs`: small frozen
dataclasses and ``Protocol`` classes, no kernel internals. A plugin written against these keeps
working while the kernel's insides change.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
"""A plugin's name (its entry-point name): URL path segment, CLI group and ledger namespace."""

EVENT_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
"""The last part of a plugin ledger event type ``plugin.<name>.<event>``."""


@dataclass(frozen=True)
class KernelConfig:
    """What ``bidkernel_configure`` and the provider hooks receive.

    ``data`` is the kernel's data directory (``None`` for commands that open none, e.g. ``bidkernel
    plugins``); ``settings`` are the ``BIDKERNEL_<PLUGIN>_<KEY>`` environment variables, lower-cased
    keys per plugin name (``settings["portal"]["dir"]`` from ``BIDKERNEL_PORTAL_DIR``).
    """

    version: str
    data: Path | None
    settings: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def plugin_dir(self, name: str) -> Path | None:
        """A directory reserved for plugin ``name`` under the data directory (created on demand)."""
        if self.data is None:
            return None
        d = self.data / "plugins" / name
        d.mkdir(parents=True, exist_ok=True)
        return d


@dataclass(frozen=True)
class OutboxEvent:
    """A lifecycle event delivered from the durable outbox.

    ``key`` is the idempotency key: the same event may be delivered more than once (at least once), always
    with the same ``key`` and ``id``; a plugin that acts outside the kernel remembers the keys it has
    handled. ``data`` is the JSON payload written in the transaction of the state change.
    """

    id: int
    kind: str
    key: str
    time_ms: int
    data: Mapping[str, Any]
    attempt: int = 1


@dataclass(frozen=True)
class Caller:
    """The authenticated caller of a plugin route (from the kernel's SM2 request authentication)."""

    role: str
    org: str
    fingerprint: str


@dataclass(frozen=True)
class RouteCall:
    """One request to a plugin route. ``caller`` is ``None`` only on ``public``/``optional`` routes."""

    method: str
    path: str
    params: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes
    caller: Caller | None
    kernel: Any  # bidkernel.plugins.handles.PluginKernel (Any here to keep this module free of imports)

    def json(self) -> Any:
        import orjson

        return orjson.loads(self.body) if self.body else None


RouteHandler = Callable[[RouteCall], "Any | Awaitable[Any]"]


@dataclass(frozen=True)
class PluginRoute:
    """An HTTP route a plugin adds, served at ``/plugins/<name><path>``.

    ``access``: ``signed`` (default; a valid SM2-signed request, and one of ``roles`` if given),
    ``optional`` (anyone; the caller is known when the request is signed) or ``public``. The handler
    returns a JSON-serialisable value (status 200) or ``(status, value)``; it raises
    :class:`bidkernel.problems.KernelError` to refuse with a problem+json answer.
    """

    method: str
    path: str
    handler: RouteHandler
    summary: str = ""
    access: str = "signed"
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class SignedCall:
    """The result of the audited platform signature: the DER SM2 signature, and the ledger index of the
    ``plugin.<name>.signed`` event that recorded the call before the signature was made."""

    signature: bytes
    log_index: int


@runtime_checkable
class TimestampSource(Protocol):
    """An RFC 3161 time-stamping service (GB/T 20520 profile): ``stamp(data)`` returns a DER
    ``TimeStampToken`` whose messageImprint is SM3(``data``), with the TSA's certificate embedded
    (certReq) and chaining to the platform's trust roots — receipts, the deadline-closing checkpoint
    and opening records carry these tokens and verifiers check them offline (docs/protocol.md).
    It raises on failure; it never returns a token over other data."""

    def stamp(self, data: bytes) -> bytes: ...


@runtime_checkable
class KeyCustody(Protocol):
    """The HSM seam (密码机): keys at rest and the platform signature.

    ``seal(label, secret)`` / ``unseal(label, sealed)`` keep the tenders' platform-custody opening keys
    (and remedy keys, released shares and bidder content keys) sealed at rest: the bytes ``seal`` returns
    are stored by the kernel and useless without the provider; ``unseal`` under another ``label`` must
    fail. ``unseal`` is only called by the kernel's opening once trusted time has reached the tender's
    opening time (the gate is kernel policy, not the provider's). ``name`` is recorded with each sealed
    key. ``sign`` makes SM2 signatures (GM/T 0009 default ID, DER) for audited plugin signatures and
    ``certificate_pem`` names the certificate that verifies them."""

    name: str

    def seal(self, label: str, secret: bytes) -> bytes: ...

    def unseal(self, label: str, sealed: bytes) -> bytes: ...

    def sign(self, message: bytes) -> bytes: ...

    def certificate_pem(self) -> bytes: ...


@runtime_checkable
class BlobStore(Protocol):
    """Where envelope files live, by SM3 hex name (content-addressed, immutable once stored).

    ``put(sm3_hex, path)`` stores the (already hashed and fsynced) file at ``path`` and returns only once
    the bytes are durable — the kernel issues no receipt before every ``put`` of a bid has returned and
    its bid row committed; it is idempotent (the same name may be put twice). ``open`` returns a binary
    file object over the stored bytes; ``exists`` says whether a name is stored; ``delete`` removes a
    name the kernel stored for a bid whose commit then failed (never a name a committed bid references)."""

    def put(self, sm3_hex: str, path: Path) -> None: ...

    def exists(self, sm3_hex: str) -> bool: ...

    def open(self, sm3_hex: str) -> Any: ...  # a binary file object

    def delete(self, sm3_hex: str) -> None: ...


@runtime_checkable
class Notifier(Protocol):
    """Delivers a notice (SMS, e-mail, a message bus). ``recipient`` is an organisation or address.
    Called for each ``kernel.notify`` of a plugin, off the request path (plugins notify from event hooks)."""

    def notify(self, recipient: str, subject: str, body: str) -> None: ...
