"""bidkernel-portal (公告发布): lifecycle events -> public notices (README.md).

Delivery is at least once, so every step is idempotent: a notice is keyed by the outbox event's
idempotency key, its file name is derived from that key, and the ledger record is written only when the
notice is new. The notice holds public fields only (政府采购信息发布管理办法: announcements carry the
procurement's public particulars; nothing about bids before the deadline).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

import click

from bidkernel.crypto.sm3 import sm3
from bidkernel.hookspecs import hookimpl
from bidkernel.plugins import KernelConfig, OutboxEvent, PluginKernel, PluginRoute, RouteCall
from bidkernel.problems import KernelError

NAME = "portal"
EVENT = "announcement_published"
_export: dict[str, Path | None] = {"dir": None}
_lock = threading.Lock()


def _utc(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@hookimpl
def bidkernel_configure(config: KernelConfig) -> None:
    configured = config.settings.get(NAME, {}).get("dir")
    _export["dir"] = Path(configured) if configured else config.plugin_dir(NAME)


@hookimpl
def bidkernel_ledger_event_types() -> list[str]:
    return [EVENT]


def _publish(kernel: PluginKernel, event: OutboxEvent, notice: dict[str, Any]) -> None:
    skey = f"notice/{event.id:012d}"
    if kernel.storage.get(skey) is not None:
        return  # delivered before (at least once): nothing new to publish
    notice = {**notice, "event_key": event.key, "time": _utc(event.time_ms)}
    body = json.dumps(notice, ensure_ascii=False, sort_keys=True).encode()
    kernel.log_event(EVENT, {"tender_id": notice["tender_id"], "type": notice["type"], "event_key": event.key,
                             "notice_sm3": sm3(body).hex()})  # fmt: skip
    kernel.storage.put(skey, body)
    _export_files(kernel, event, body)


def _export_files(kernel: PluginKernel, event: OutboxEvent, body: bytes) -> None:
    d = _export["dir"]
    if d is None:
        return
    with _lock:
        d.mkdir(parents=True, exist_ok=True)
        name = event.key.replace("/", "_") + ".json"
        _atomic_write(d / name, body)
        feed = [json.loads(kernel.storage.get(k) or b"{}") for k in kernel.storage.keys("notice/")]
        _atomic_write(d / "feed.json", json.dumps(feed, ensure_ascii=False, indent=1).encode())


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@hookimpl
def bidkernel_tender_published(event: OutboxEvent, kernel: PluginKernel) -> None:
    d = event.data
    _publish(kernel, event, {
        "type": "tender", "title_zh": "招标公告", "tender_id": d["tender_id"], "title": d["title"],
        "lots": d["lots"], "agency": d["agency_org"], "deadline": _utc(d["deadline_ms"]),
        "opening": _utc(d["opening_ms"]),
    })  # fmt: skip


@hookimpl
def bidkernel_tender_amended(event: OutboxEvent, kernel: PluginKernel) -> None:
    d = event.data
    _publish(kernel, event, {
        "type": "amendment", "title_zh": "更正公告", "tender_id": d["tender_id"], "seq": d["seq"], "note": d["note"],
        "deadline": _utc(d["deadline_ms_after"]), "opening": _utc(d["opening_ms"]),
    })  # fmt: skip


@hookimpl
def bidkernel_deadline_sealed(event: OutboxEvent, kernel: PluginKernel) -> None:
    d = event.data
    _publish(kernel, event, {"type": "closing", "title_zh": "投标截止", "tender_id": d["tender_id"],
                             "bids_received": d["count"]})  # fmt: skip


@hookimpl
def bidkernel_bids_opened(event: OutboxEvent, kernel: PluginKernel) -> None:
    d = event.data
    _publish(kernel, event, {"type": "opening", "title_zh": "开标结果", "tender_id": d["tender_id"],
                             "opened": len(d.get("opened", [])), "failed": len(d.get("failed", []))})  # fmt: skip


def _feed(kernel: PluginKernel) -> list[dict[str, Any]]:
    return [json.loads(kernel.storage.get(k) or b"{}") for k in kernel.storage.keys("notice/")]


def feed_route(call: RouteCall) -> list[dict[str, Any]]:
    return _feed(call.kernel)


def tender_route(call: RouteCall) -> list[dict[str, Any]]:
    tid = call.params["tender_id"]
    out = [n for n in _feed(call.kernel) if n["tender_id"] == tid]
    if not out:
        raise KernelError("not-found", "no notices for this tender")
    return out


@hookimpl
def bidkernel_routes() -> list[PluginRoute]:
    return [
        PluginRoute("GET", "/feed", feed_route, "Every public notice, oldest first", access="public"),
        PluginRoute("GET", "/tenders/{tender_id}", tender_route, "One tender's notices", access="public"),
    ]


@click.command("feed")
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False), help="Kernel data directory.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def feed_cmd(data: str, as_json: bool) -> None:
    """Print the portal's public notices (公告), oldest first."""
    from bidkernel.plugins.host import PluginError, open_plugin_kernel

    try:
        with open_plugin_kernel(NAME, data, sys.modules[__name__]) as kernel:
            notices = _feed(kernel)
    except PluginError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(notices, ensure_ascii=False, indent=1))
        return
    for n in notices:
        click.echo(f"{n['time']}  {n['title_zh']}  {n['tender_id']}  {n.get('title', n.get('note', ''))}")


@hookimpl
def bidkernel_cli_commands() -> list[click.Command]:
    return [feed_cmd]
