"""Capability-scoped handles: what a plugin may touch, instead of the kernel's internals.

A :class:`PluginKernel` is made for one plugin name. It offers public tender data, the plugin's own
storage namespace, ledger events in the plugin's own namespace (declared types only), the platform
signature only through an audited call (the call is a ledger event before the signature exists),
notices through the notifier provider, and bid plaintext only after the opening: the trusted clock
must have reached the tender's opening time *and* the opening recipe must have set its state to
``opened`` (DESIGN §4: "nothing of a bid's plaintext before the opening"; 电子招标投标办法 Art. 34/35:
bids are decrypted at the opening, not before). The handle keeps its platform reference private; a
plugin is in-process Python and could reach around it, but nothing the contract gives it leads there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from bidkernel.crypto.sm3 import sm3
from bidkernel.ledger.events import Event
from bidkernel.problems import KernelError

if TYPE_CHECKING:
    from bidkernel.platform import Platform
    from bidkernel.plugins.contract import KeyCustody, Notifier, SignedCall, TimestampSource

_PUBLIC_FIELDS = ("id", "title", "lots", "agency_org", "deadline_ms", "opening_ms", "custody", "amendments")
_MAX_KEY = 256
_MAX_VALUE = 1 << 20


class PluginStorage:
    """The plugin's own key-value namespace (a store table keyed by plugin name; values are bytes).
    Each call is one transaction; keys are at most 256 characters, values at most 1 MiB."""

    def __init__(self, platform: Platform, name: str) -> None:
        self._p = platform
        self._name = name

    def _check(self, key: str) -> None:
        if not isinstance(key, str) or not 0 < len(key) <= _MAX_KEY:
            raise KernelError("bad-request", f"storage keys are 1-{_MAX_KEY} characters")

    def get(self, key: str) -> bytes | None:
        self._check(key)
        with self._p.store.reader() as r:
            return r.plugin_kv_get(self._name, key)

    def put(self, key: str, value: bytes) -> None:
        self._check(key)
        if not isinstance(value, bytes) or len(value) > _MAX_VALUE:
            raise KernelError("bad-request", f"storage values are bytes of at most {_MAX_VALUE} bytes")
        with self._p.store.transaction() as tx:
            tx.plugin_kv_put(self._name, key, value)

    def delete(self, key: str) -> None:
        self._check(key)
        with self._p.store.transaction() as tx:
            tx.plugin_kv_delete(self._name, key)

    def keys(self, prefix: str = "") -> list[str]:
        with self._p.store.reader() as r:
            return r.plugin_kv_keys(self._name, prefix)

    def __repr__(self) -> str:
        return f"PluginStorage({self._name!r})"


class PluginKernel:
    """The kernel as one plugin sees it (see the module docstring)."""

    def __init__(
        self,
        platform: Platform,
        name: str,
        *,
        event_types: Sequence[str] = (),
        custody: Callable[[], KeyCustody | None] = lambda: None,
        timestamps: Callable[[], TimestampSource | None] = lambda: None,
        notifier: Callable[[], Notifier | None] = lambda: None,
    ) -> None:
        self._p = platform
        self.name = name
        self.storage = PluginStorage(platform, name)
        self._event_types = frozenset(event_types)
        self._custody = custody
        self._timestamps = timestamps
        self._notifier = notifier

    def __repr__(self) -> str:
        return f"PluginKernel({self.name!r})"

    # --- time and public data -------------------------------------------------------------------
    def now_ms(self) -> int:
        """The kernel's trusted time (ms since the Unix epoch); raises when it cannot be trusted."""
        return self._p.now_ms()

    def tender(self, tender_id: str) -> dict[str, Any]:
        """A published tender's public fields (``state`` as the trusted clock sees it). Drafts are not
        visible: ``not-found``."""
        from bidkernel.tenders import check_id, effective_state, load_doc

        check_id(tender_id, "tender")
        with self._p.store.reader() as r:
            row = r.tender_get(tender_id)
        if row is None:
            raise KernelError("not-found", "no such tender")
        doc = load_doc(row)
        if doc["state"] == "draft":
            raise KernelError("not-found", "no such tender")
        out = {k: doc[k] for k in _PUBLIC_FIELDS if k in doc}
        out["state"] = effective_state(doc, self._p.now_ms())
        return out

    def tenders(self) -> list[dict[str, Any]]:
        """Every published tender's public fields."""
        with self._p.store.reader() as r:
            ids = [t.id for t in r.tenders_list() if t.state != "draft"]
        return [self.tender(i) for i in ids]

    # --- transparency log -----------------------------------------------------------------------
    def log_event(self, event: str, data: dict[str, Any]) -> int:
        """Append ``plugin.<name>.<event>`` with ``data`` (canonical JSON) to the ledger; returns its
        index. Only event types the plugin declared in ``bidkernel_ledger_event_types`` are accepted."""
        if event not in self._event_types:
            raise KernelError("bad-request", f"plugin {self.name} did not declare the ledger event {event!r}")
        return self._p.log.append(Event(f"plugin.{self.name}.{event}", self._p.now_ms(), data))

    # --- audited signature, time stamps, notices ------------------------------------------------
    def sign(self, purpose: str, message: bytes) -> SignedCall:
        """Sign ``message`` with the platform key (SM2, GM/T 0009 default ID, DER). The call is first
        logged as ``plugin.<name>.signed`` {purpose, message_sm3}; no signature without that record."""
        from bidkernel.plugins.contract import SignedCall

        custody = self._custody()
        if custody is None:
            raise KernelError("unavailable", "no key custody provider is configured")
        if not isinstance(purpose, str) or not 0 < len(purpose) <= 200:
            raise KernelError("bad-request", "purpose: 1-200 characters")
        digest = sm3(message).hex()
        index = self._p.log.append(
            Event(f"plugin.{self.name}.signed", self._p.now_ms(), {"purpose": purpose, "message_sm3": digest})
        )
        from bidkernel import providers

        # the installed custody signs (verified under the platform certificate); the file key otherwise
        return SignedCall(providers.platform_sign(self._p, message), index)

    def timestamp(self, data: bytes) -> bytes:
        """An RFC 3161 token over ``data`` from the configured timestamp source."""
        src = self._timestamps()
        if src is None:
            raise KernelError("unavailable", "no timestamp source is configured")
        return src.stamp(data)

    def notify(self, recipient: str, subject: str, body: str) -> None:
        """Send a notice through the configured notifier."""
        n = self._notifier()
        if n is None:
            raise KernelError("unavailable", "no notifier is configured")
        n.notify(recipient, subject, body)

    # --- bid plaintext: only after the opening --------------------------------------------------
    def bid_plaintext(self, tender_id: str, bid_id: str, envelope: str) -> bytes:
        """The plaintext of one envelope of a bid — refused (``too-early``) unless the trusted clock has
        reached the tender's opening time and the tender's state is ``opened``. Then delegates to
        :func:`bidkernel.opening.read_plaintext`, which is the only decryption path."""
        from bidkernel.tenders import check_id, load_doc

        check_id(tender_id, "tender")
        with self._p.store.reader() as r:
            row = r.tender_get(tender_id)
        if row is None:
            raise KernelError("not-found", "no such tender")
        doc = load_doc(row)
        # both conditions, the clock first: a state set early by a bug still yields nothing
        if not self._p.clock.has_reached(int(doc["opening_ms"]) / 1000) or doc["state"] != "opened":
            raise KernelError("too-early", f"tender {tender_id} is not opened; no plaintext before the opening")
        try:
            from bidkernel.opening import read_plaintext  # type: ignore[import-not-found, unused-ignore]
        except ImportError:
            raise KernelError("unavailable", "the opening recipe is not installed in this kernel") from None
        out = read_plaintext(self._p, tender_id, bid_id, envelope)
        if not isinstance(out, bytes):
            raise KernelError("internal", "the opening recipe returned no bytes")
        return out


def event_payload(payload: bytes) -> dict[str, Any]:
    """Decode an outbox payload (JSON object)."""
    data = orjson.loads(payload)
    if not isinstance(data, dict):
        raise ValueError("an outbox payload is not a JSON object")
    return data
