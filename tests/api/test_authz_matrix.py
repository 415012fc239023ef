"""Authorization matrix: every endpoint x role x tender state against a real server. The expected
permissions are written here from the rules (bidder: own bids only; agency: its tenders, bids only after
the deadline; supervisor: read-only everything; public: public data only), independently of the server's
code. Asserts zero unauthorized successes, and that every permitted call does succeed."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from typing import Any

from intake_support import Kernel

from bidkernel.api.kernel_routes import ENDPOINTS
from bidkernel.client import ApiError

ROLES = ["public", "bidder1", "bidder2", "agency-a", "agency-b", "supervisor", "operator"]
STATES = ["draft", "open", "closed"]
PUBLIC_PATHS = {"/healthz", "/metrics", "/openapi.json", "/platform", "/ledger/checkpoint",
                "/ledger/proof/inclusion", "/ledger/proof/consistency", "/tenders"}  # fmt: skip


def allowed(method: str, path: str, role: str, state: str) -> bool:
    if method == "GET" and path in PUBLIC_PATHS:
        return True
    rules: dict[tuple[str, str], Callable[[], bool]] = {
        ("POST", "/tenders"): lambda: role in ("agency-a", "agency-b"),
        ("GET", "/tenders/{tender_id}"): lambda: state != "draft" or role in ("agency-a", "supervisor"),
        ("POST", "/tenders/{tender_id}/publish"): lambda: role == "agency-a" and state == "draft",
        ("POST", "/tenders/{tender_id}/amendments"): lambda: role == "agency-a" and state == "open",
        ("GET", "/tenders/{tender_id}/bids"): lambda: (
            (role in ("bidder1", "bidder2") and state != "draft")
            or role == "supervisor"
            or (role == "agency-a" and state == "closed")
        ),
        ("POST", "/tenders/{tender_id}/bids"): lambda: role in ("bidder1", "bidder2") and state == "open",
        ("GET", "/tenders/{tender_id}/closing"): lambda: state == "closed",
        ("GET", "/bids/{bid_id}"): lambda: (
            role in ("bidder1", "supervisor") or (role == "agency-a" and state == "closed")
        ),
        ("GET", "/bids/{bid_id}/receipt"): lambda: role in ("bidder1", "supervisor"),
        ("POST", "/bids/{bid_id}/withdraw"): lambda: role == "bidder1" and state == "open",
        ("POST", "/admin/revocations"): lambda: role == "operator",
        ("GET", "/admin/outbox"): lambda: role in ("operator", "supervisor"),
        ("POST", "/admin/outbox/{event_id}/replay"): lambda: role == "operator",
        ("GET", "/admin/plugins"): lambda: role in ("operator", "supervisor"),
        ("GET", "/admin/roles"): lambda: role in ("operator", "supervisor"),
        ("POST", "/admin/roles"): lambda: role == "operator",
        # the opening (issue 8): these tenders hold agency keys under platform custody, so nothing opens;
        # the status shows to the agency, the supervisor and the tender's bidders until it has finished
        ("POST", "/tenders/{tender_id}/opening"): lambda: False,
        ("GET", "/tenders/{tender_id}/opening"): lambda: (
            state != "draft" and role in ("agency-a", "supervisor", "bidder1")
        ),
        ("GET", "/tenders/{tender_id}/custody"): lambda: state != "draft",
        ("POST", "/tenders/{tender_id}/custody/releases"): lambda: False,
        ("POST", "/tenders/{tender_id}/opening/confirmations"): lambda: False,
        ("POST", "/tenders/{tender_id}/opening/objections"): lambda: False,
        ("POST", "/bids/{bid_id}/key"): lambda: False,
        ("POST", "/bids/{bid_id}/backup"): lambda: False,
        ("GET", "/bids/{bid_id}/plaintext/{envelope}"): lambda: False,
    }
    return rules[(method, path)]()


def test_every_endpoint_role_and_state(kernel: Kernel) -> None:
    k = kernel
    for role, kind in [("bidder1", "bidder"), ("bidder2", "bidder"), ("agency-a", "agency"), ("agency-b", "agency"),
                       ("supervisor", "supervisor"), ("operator", "operator")]:  # fmt: skip
        k.identity(role, kind)
    ac = k.client("agency-a")
    close_in, open_for = 25.0, 7200.0

    def tender(state: str) -> str:
        dl = k.now() + dt.timedelta(seconds=close_in if state == "closed" else open_for)
        pem = k.opening_cert().certificate.to_pem().decode()
        t = ac.call(
            "POST", "/tenders", {"title": f"{state} tender", "deadline": dl.isoformat(), "opening_certificates": [pem]}
        )
        if state != "draft":
            ac.call("POST", f"/tenders/{t['id']}/publish")
        return str(t["id"])

    def bid(tid: str) -> str:
        return str(k.client("bidder1").submit(tid, k.seal("bidder1", tid))["body"]["bid_id"])

    read_t = {s: tender(s) for s in STATES}
    read_b = {s: bid(read_t[s]) for s in ("open", "closed")}
    per_case: dict[tuple[str, str, str], Any] = {}
    packages = {}
    for role in ROLES:
        for s in STATES:
            per_case[("publish", role, s)] = tender(s)
            per_case[("amend", role, s)] = tender(s)
            t_sub = tender(s)
            per_case[("submit", role, s)] = t_sub
            if s == "open":
                packages[(role, s)] = k.seal("bidder1" if role != "bidder2" else "bidder2", t_sub)
            if s != "draft":
                per_case[("withdraw", role, s)] = bid(tender(s))
    # the closed tenders' deadline passes (trusted clock); open ones stay open
    k.time.offset += close_in + 5
    for s in ("closed",):
        for _ in range(100):
            try:
                k.client().call("GET", f"/tenders/{read_t[s]}/closing")
                break
            except ApiError:
                import time

                time.sleep(0.05)

    def call(role: str, method: str, path: str, s: str) -> tuple[int, Any]:
        c = k.client(None if role == "public" else role)
        if path.startswith("/bids/") and s == "draft":
            return -1, None  # a draft tender has no bids
        tid = read_t[s]
        bid_id = read_b.get(s, "b-0000000000000000")
        body: Any = None
        if path == "/tenders/{tender_id}/publish":
            tid = per_case[("publish", role, s)]
        elif path == "/tenders/{tender_id}/amendments":
            tid, body = per_case[("amend", role, s)], {"note": "更正", "affects_bids": False}
        elif path == "/tenders/{tender_id}/bids" and method == "POST":
            tid = per_case[("submit", role, s)]
            pkg = packages.get((role, s)) or k.seal("bidder1" if role != "bidder2" else "bidder2", tid)
            try:
                return 201, c.submit(tid, pkg)
            except ApiError as e:
                return e.status, e.problem
        elif path == "/bids/{bid_id}/withdraw":
            bid_id = per_case[("withdraw", role, s)]
        elif path == "/tenders":
            body = None
        url = path.replace("{tender_id}", tid).replace("{bid_id}", bid_id)
        url = url.replace("{event_id}", "1").replace("{envelope}", "summary")
        if path == "/ledger/proof/inclusion":
            url += "?index=0"
        elif path == "/ledger/proof/consistency":
            url += "?size1=1"
        if method == "POST" and path == "/tenders":
            dl = (k.now() + dt.timedelta(hours=2)).isoformat()
            body = {
                "title": "new",
                "deadline": dl,
                "opening_certificates": [k.opening_cert().certificate.to_pem().decode()],
            }
        if path == "/admin/revocations":
            body = {"fingerprint": os.urandom(32).hex(), "reason": "matrix"}
        if path == "/admin/roles" and method == "POST":
            body = {"action": "grant", "fingerprint": os.urandom(32).hex(), "role": "bidder", "org": "matrix"}
        if path in ("/metrics",):
            status, _h, data = c.raw("GET", url)
            return status, data
        try:
            return 200, c.call(method, url, body)
        except ApiError as e:
            return e.status, e.problem

    unauthorized: list[tuple[str, str, str, str, int]] = []
    denied: list[tuple[str, str, str, str, int, Any]] = []
    n = 0
    for e in ENDPOINTS:
        for role in ROLES:
            for s in STATES:
                status, out = call(role, e.method, e.path, s)
                if status == -1:
                    continue
                n += 1
                ok = 200 <= status < 300
                want = allowed(e.method, e.path, role, s)
                if ok and not want:
                    unauthorized.append((e.method, e.path, role, s, status))
                if want and not ok:
                    denied.append((e.method, e.path, role, s, status, out))
                # permitted reads must not leak beyond the role
                if ok and e.method == "GET" and e.path == "/tenders/{tender_id}/bids" and role == "bidder2":
                    if out:
                        unauthorized.append((e.method, e.path, role, s, status))
                if ok and e.method == "GET" and e.path == "/tenders":
                    sees_draft = any(t["id"] == read_t["draft"] for t in out)
                    if sees_draft and role not in ("agency-a", "supervisor"):
                        unauthorized.append((e.method, e.path + " (draft listed)", role, s, status))
                if ok and e.method == "GET" and e.path == "/ledger/proof/inclusion" and role != "supervisor":
                    if "leaf" in out:
                        unauthorized.append((e.method, e.path + " (leaf)", role, s, status))
    assert n >= len(ENDPOINTS) * len(ROLES) * 2
    assert unauthorized == [], unauthorized
    assert denied == [], denied
