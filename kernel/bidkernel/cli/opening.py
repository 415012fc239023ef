"""``bidkernel open`` (agency), ``bidkernel custody release`` (custodians), ``bidkernel bid decrypt`` and
``bidkernel bid backup`` (bidders): the opening ceremony from the command line (docs/api.md "Opening")."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import click

from bidkernel.cli.intake import _FILE, _load_identity, bid_group

_DIR = click.Path(exists=True, file_okay=False, path_type=Path)


def _client(server: str, key: Path | None, cert: Path | None) -> Any:
    from bidkernel.client import KernelClient

    if key is None or cert is None:
        return KernelClient(server)
    k, c = _load_identity(key, cert)
    return KernelClient(server, k, c)


def _refused(exc: Exception) -> click.ClickException:
    return click.ClickException(f"refused: {exc}")


def _print_table(st: dict[str, Any]) -> None:
    click.echo(f"opening of {st['tender_id']}: {st['state']}")
    for row in st["table"]:
        fields = row.get("fields") or {}
        shown = ", ".join(f"{k}={v}" for k, v in fields.items()) or (row.get("summary") or "-")
        via = "+".join(row.get("opened_via") or []) or "-"
        click.echo(f"  {row['bid_id']}  {row['bidder_org']:<20} {row['status']:<8} {via:<18} {shown}")
    for k in st.get("awaiting_remedy") or []:
        click.echo(f"  AWAITING REMEDY {k}: the custodians' k shares open it")
    for f in st["failures"]:
        click.echo(f"  FAILED {f['bid_id']}/{f['envelope']}: {f['cause']} ({f['code']}) -> {f['attribution']} "
                   f"({f['consequence']}): {f['detail']}")  # fmt: skip
    for m in (st.get("record") or {}).get("record", {}).get("custody", {}).get("remedies", []):
        click.echo(f"  REMEDIED {m['bid_id']}/{m['envelope']}: {m['reason']} ({m['code']}) -> {m['attribution']}; "
                   f"opened by the {m['path']} (without it: {m['without_remedy']})")  # fmt: skip
    if st.get("record_index") is not None:
        click.echo(f"  opening record: ledger index {st['record_index']}, SM3 {st['record']['record_sm3']}")


@click.command("open")
@click.argument("tender_id")
@click.option("--server", required=True, help="Kernel URL, e.g. http://127.0.0.1:8080")
@click.option("--key", required=True, type=_FILE, help="The agency's SM2 private key (PEM).")
@click.option("--cert", required=True, type=_FILE, help="The agency's certificate (PEM).")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait for the record, print the 唱标 table.")
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds to wait.")
def open_cmd(tender_id: str, server: str, key: Path, cert: Path, wait: bool, timeout: float) -> None:
    """Start the opening of TENDER_ID (refused before the opening time by the kernel's trusted clock)."""
    from bidkernel.client import ApiError

    c = _client(server, key, cert)
    try:
        st = c.open_tender(tender_id)
        end = time.monotonic() + timeout
        while wait and st["state"] not in ("opened", "failed") and time.monotonic() < end:
            time.sleep(0.2)
            st = c.opening_status(tender_id)
    except ApiError as exc:
        raise _refused(exc) from None
    except OSError as exc:
        raise click.ClickException(f"cannot reach {server}: {exc}") from None
    _print_table(st)


@click.group("custody")
def custody_group() -> None:
    """Custodians of threshold (k-of-n) custody."""


@custody_group.command("release")
@click.argument("tender_id")
@click.option("--server", required=True, help="Kernel URL")
@click.option("--key", required=True, type=_FILE, help="The custodian's SM2 private key (PEM).")
@click.option("--cert", required=True, type=_FILE, help="The custodian's certificate (PEM).")
@click.option("--check-local-clock/--no-check-local-clock", default=True, show_default=True,
              help="Also refuse while this machine's clock is before the opening time.")  # fmt: skip
def custody_release(tender_id: str, server: str, key: Path, cert: Path, check_local_clock: bool) -> None:
    """Decrypt one's share, check it against the published commitments, and release it."""
    from bidkernel.client import ApiError
    from bidkernel.custody.tender_keys import custodian_index, decrypt_share
    from bidkernel.problems import KernelError

    k, c = _load_identity(key, cert)
    client = _client(server, key, cert)
    try:
        tender = client.call("GET", f"/tenders/{tender_id}")
        setup = client.call("GET", f"/tenders/{tender_id}/custody")
        # the kernel refuses too, but a custodian does not even decrypt before the opening time
        if check_local_clock and time.time() * 1000 < tender["opening_ms"]:
            raise click.ClickException(f"too early: the opening is at {tender['opening_ms']} ms (your clock)")
        index = custodian_index(setup, c.fingerprint.hex())
        if index is None:
            raise click.ClickException("this certificate is not a custodian of the tender")
        try:
            share = decrypt_share(setup, tender_id, index, k)
        except KernelError as exc:
            raise click.ClickException(f"your share is not valid, do not release it: {exc.detail}") from None
        out = client.release_share(tender_id, share)
        share = 0
    except ApiError as exc:
        raise _refused(exc) from None
    except OSError as exc:
        raise click.ClickException(f"cannot reach {server}: {exc}") from None
    click.echo(f"released share {out['index']} ({out['custodian']}): {out['released']} of k={out['k']} in")


@bid_group.command("decrypt")
@click.argument("bid_id")
@click.argument("package", type=_DIR)
@click.option("--server", required=True, help="Kernel URL")
@click.option("--key", required=True, type=_FILE, help="The bidder's SM2 private key (PEM).")
@click.option("--cert", required=True, type=_FILE, help="The bidder's certificate (PEM), a recipient of the bid.")
def bid_decrypt(bid_id: str, package: Path, server: str, key: Path, cert: Path) -> None:
    """Bidder custody: unwrap the bid's content keys from your sealed PACKAGE and release them."""
    from bidkernel.client import ApiError, Package
    from bidkernel.crypto.envelope import read_header_from_file, unwrap_content_key_with_proof

    k, c = _load_identity(key, cert)
    keys: dict[str, bytes] = {}
    proofs: dict[str, bytes] = {}
    try:
        pkg = Package.load(package)
        for e in pkg.manifest["envelopes"]:
            header = read_header_from_file(package / f"{e['name']}.env")
            keys[e["name"]], proofs[e["name"]] = unwrap_content_key_with_proof(header, k, c)
    except Exception as exc:
        raise click.ClickException(f"cannot unwrap the keys: {exc}") from None
    try:
        out = _client(server, key, cert).release_bid_keys(bid_id, keys, proofs)
    except ApiError as exc:
        raise _refused(exc) from None
    except OSError as exc:
        raise click.ClickException(f"cannot reach {server}: {exc}") from None
    click.echo(f"released keys of bid {bid_id}: {', '.join(out['accepted'])}")


@bid_group.command("backup")
@click.argument("bid_id")
@click.argument("package", type=_DIR)
@click.option("--server", required=True, help="Kernel URL")
@click.option("--key", required=True, type=_FILE, help="The bidder's SM2 private key (PEM).")
@click.option("--cert", required=True, type=_FILE, help="The bidder's certificate (PEM).")
def bid_backup(bid_id: str, package: Path, server: str, key: Path, cert: Path) -> None:
    """The Art. 31 remedy: upload the backup headers sealed with PACKAGE (``<name>.backup``)."""
    from bidkernel.client import ApiError

    heads = {p.stem: base64.b64encode(p.read_bytes()).decode() for p in sorted(package.glob("*.backup"))}
    if not heads:
        raise click.ClickException(f"{package} holds no .backup files (seal with the tender's remedy certificate)")
    try:
        out = _client(server, key, cert).call("POST", f"/bids/{bid_id}/backup", {"envelopes": heads})
    except ApiError as exc:
        raise _refused(exc) from None
    except OSError as exc:
        raise click.ClickException(f"cannot reach {server}: {exc}") from None
    click.echo(f"backup accepted for bid {bid_id}: {', '.join(out['accepted'])}")


__all__ = ["bid_backup", "bid_decrypt", "custody_group", "open_cmd"]
