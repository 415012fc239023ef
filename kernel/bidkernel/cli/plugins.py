"""``bidkernel plugins`` (what is loaded), ``bidkernel outbox list|dead|replay|deliver`` (the operator's
view of plugin event delivery), and the ``bidkernel <plugin> ...`` groups plugins add."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click
import orjson

_DATA = click.Path(exists=True, file_okay=False, path_type=Path)


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins_cmd(as_json: bool) -> None:
    """List loaded plugins (entry points allowed by BIDKERNEL_PLUGINS_ALLOW/_DENY), versions and hooks."""
    from bidkernel.plugins.host import load_plugins

    host = load_plugins()
    infos = host.info()
    if as_json:
        doc = {
            "plugins": [
                {"name": i.name, "distribution": i.distribution, "version": i.version, "hooks": list(i.hooks),
                 "builtin": i.builtin, "ledger_event_types": [f"plugin.{i.name}.{t}" for t in host.event_types(i.name)]}
                for i in infos
            ],
            "failures": [{"name": f.name, "error": f.error} for f in host.failures],
        }  # fmt: skip
        click.echo(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode())
        return
    for i in infos:
        origin = "built-in" if i.builtin else f"{i.distribution} {i.version}".strip()
        click.echo(f"{i.name}  ({origin})")
        for h in i.hooks:
            click.echo(f"    {h}")
        for t in host.event_types(i.name):
            click.echo(f"    ledger event plugin.{i.name}.{t}")
    for f in host.failures:
        click.echo(f"{f.name}  NOT LOADED: {f.error}")
    if host.failures:
        raise SystemExit(1)


@click.group("outbox")
def outbox_group() -> None:
    """Plugin event delivery: list events, see dead letters, replay them."""


def _open(data: Path) -> Any:
    from bidkernel.platform import Platform

    if not (data / "kernel.sqlite").is_file():
        raise click.ClickException(f"{data} is not a kernel data directory (no kernel.sqlite)")
    try:
        return Platform.open(data)
    except Exception as exc:
        raise click.ClickException(f"cannot open {data}: {exc}") from None


def _print_events(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        click.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    for r in rows:
        state = "delivered" if r["delivered_ms"] is not None else "pending"
        click.echo(f"{r['id']:>8}  {r['kind']:<20} {state:<10} {r['key']}")
        for d in r["deliveries"]:
            extra = f" attempts={d['attempts']}" + (f" error={d['last_error']}" if d["last_error"] else "")
            click.echo(f"{'':>10}{d['plugin']}: {d['state']}{extra}")


@outbox_group.command("list")
@click.option("--data", required=True, type=_DATA, help="Kernel data directory.")
@click.option("--pending", is_flag=True, help="Only events not yet delivered to every plugin.")
@click.option("--after", default=0, show_default=True, type=click.IntRange(min=0), help="Events after this id.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10000))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def outbox_list(data: Path, pending: bool, after: int, limit: int, as_json: bool) -> None:
    """Outbox events with each plugin's delivery state."""
    from bidkernel.plugins.delivery import outbox_view

    p = _open(data)
    try:
        _print_events(outbox_view(p, state="pending" if pending else "all", after_id=after, limit=limit), as_json)
    finally:
        p.close()


@outbox_group.command("dead")
@click.option("--data", required=True, type=_DATA, help="Kernel data directory.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def outbox_dead(data: Path, as_json: bool) -> None:
    """Dead-lettered deliveries (a plugin failed every attempt). Exit status 3 when there are any."""
    from bidkernel.plugins.delivery import outbox_view

    p = _open(data)
    try:
        rows = outbox_view(p, state="dead", limit=10000)
    finally:
        p.close()
    _print_events(rows, as_json)
    if rows:
        raise SystemExit(3)


@outbox_group.command("replay")
@click.option("--data", required=True, type=_DATA, help="Kernel data directory.")
@click.option("--plugin", default=None, help="Only this plugin's dead delivery.")
@click.argument("event_id", type=click.IntRange(min=1))
def outbox_replay(data: Path, plugin: str | None, event_id: int) -> None:
    """Put a dead-lettered event back in line; the running server (or `outbox deliver`) delivers it."""
    from bidkernel.plugins.delivery import replay
    from bidkernel.problems import KernelError

    p = _open(data)
    try:
        n = replay(p, event_id, plugin)
    except KernelError as exc:
        raise click.ClickException(exc.detail) from None
    finally:
        p.close()
    if n == 0:
        who = f" for {plugin}" if plugin else ""
        raise click.ClickException(f"event {event_id} has no dead-lettered delivery{who}")
    click.echo(f"event {event_id}: {n} delivery(ies) back in line")


@outbox_group.command("deliver")
@click.option("--data", required=True, type=_DATA, help="Kernel data directory.")
def outbox_deliver(data: Path) -> None:
    """Run one delivery pass now (when no server is running on DATA)."""
    from bidkernel.plugins.delivery import Deliverer
    from bidkernel.plugins.host import load_plugins

    p = _open(data)
    try:
        host = load_plugins(data=data)
        host.attach(p)
        d = Deliverer(p, host)
        try:
            n = asyncio.run(d.deliver_once())
        finally:
            d.close()
    finally:
        p.close()
    click.echo(f"{n} hook call(s) made")


def add_plugin_commands(root: click.Group) -> None:
    """Mount each plugin's commands as ``bidkernel <name> ...`` (a broken plugin never breaks the CLI)."""
    from bidkernel.plugins.host import PluginError, load_plugins

    try:
        host = load_plugins()
        per_plugin = host.cli_commands()
    except PluginError as exc:
        click.echo(f"warning: plugin commands not loaded: {exc}", err=True)
        return
    for name, commands in per_plugin:
        if name in root.commands or not commands:
            continue
        info = next((i for i in host.info() if i.name == name), None)
        origin = f" ({info.distribution} {info.version})" if info and info.distribution else ""
        group = click.Group(name, help=f"Commands of the {name} plugin{origin}.")
        for c in commands:
            if isinstance(c, click.Command):
                group.add_command(c)
        root.add_command(group)
