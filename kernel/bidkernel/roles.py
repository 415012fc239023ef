"""The operator's role registry: who acts as bidder, agency, supervisor, custodian or operator.

By default a caller's role and organisation are its certificate's subject OU and O (:mod:`bidkernel.authn`).
The platform operator (交易中心/平台运营, ../shared/DOMAIN.md "The parties") may override that per
certificate fingerprint: *grant* a role (and organisation) — e.g. to a CA certificate whose OU names
no role — or *revoke* it, after which every signed request of that certificate is refused
(``role-revoked``) whatever its OU says. Each change is a ledger event (``role.granted`` /
``role.revoked``) committed in the same transaction as the registry row, so the registry's history is
as tamper-evident as the bids'. Certificates themselves are revoked separately (``/admin/revocations``).
"""

from __future__ import annotations

import re
from typing import Any

from bidkernel.authn import ROLES, Principal
from bidkernel.ledger.events import Event
from bidkernel.platform import Platform
from bidkernel.problems import KernelError
from bidkernel.store.base import DuplicateError, RoleEntry, Transaction

_FP = re.compile(r"^[0-9a-f]{64}$")


def entry_json(e: RoleEntry) -> dict[str, Any]:
    return {"fingerprint": e.fp, "role": e.role, "org": e.org, "status": e.status, "time_ms": e.time_ms,
            "by": e.by, "log_index": e.log_index}  # fmt: skip


class RoleRegistry:
    """Grants and revocations over a :class:`Platform` (all writes are ledger events)."""

    def __init__(self, platform: Platform) -> None:
        self.p = platform

    def list(self) -> list[RoleEntry]:
        with self.p.store.reader() as r:
            return r.roles_list()

    def change(self, who: Principal, req: Any) -> RoleEntry:
        """``{action: grant|revoke, fingerprint, role?, org?, reason?}`` by an operator."""
        if who.role != "operator":
            raise KernelError("forbidden", "only the platform operator manages roles")
        if not isinstance(req, dict):
            raise KernelError("bad-request", "send {action, fingerprint, role?, org?, reason?}")
        action, fp = req.get("action"), req.get("fingerprint")
        if not isinstance(fp, str) or not _FP.match(fp.lower()):
            raise KernelError("bad-request", "fingerprint: the certificate's SM3 fingerprint, 64 hex digits")
        fp = fp.lower()
        reason = req.get("reason", "")
        if not isinstance(reason, str) or len(reason) > 500:
            raise KernelError("bad-request", "reason: at most 500 characters")
        if action == "grant":
            role, org = req.get("role"), req.get("org")
            if role not in ROLES:
                raise KernelError("bad-request", f"role: one of {', '.join(ROLES)}")
            if not isinstance(org, str) or not 0 < len(org) <= 200:
                raise KernelError("bad-request", "org: 1-200 characters (the organisation it acts for)")
            return self._write(who, "role.granted", fp, str(role), org, "granted", reason)
        if action == "revoke":
            with self.p.store.reader() as r:
                prev = r.role_get(fp)
            return self._write(who, "role.revoked", fp, prev.role if prev else "", prev.org if prev else "",
                               "revoked", reason)  # fmt: skip
        raise KernelError("bad-request", "action: grant or revoke")

    def _write(self, who: Principal, kind: str, fp: str, role: str, org: str, status: str, reason: str) -> RoleEntry:
        now = self.p.now_ms()
        data = {"fp": fp, "role": role, "org": org, "by": who.fp, "reason": reason}
        out: list[RoleEntry] = []

        def within(tx: Transaction, index: int) -> None:
            try:
                tx.nonce_record(who.nonce, now)
            except DuplicateError:
                raise KernelError("replayed-request", "this request nonce was already used") from None
            entry = RoleEntry(fp, role, org, status, now, who.fp, index)
            tx.role_put(entry)
            out.append(entry)

        self.p.log.append(Event(kind, now, data), within=within)
        return out[0]
