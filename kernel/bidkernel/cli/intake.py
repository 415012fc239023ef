"""``bidkernel serve``, ``bidkernel bid seal|submit``, ``bidkernel receipt verify``, ``bidkernel roles``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import orjson

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command()
@click.option("--data", "data", required=True, type=click.Path(file_okay=False, path_type=Path), help="Data dir.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--no-group-commit", is_flag=True, help="Commit every bid alone (benchmarks).")
@click.option("--max-envelope-bytes", type=int, default=None, help="Per-envelope size limit.")
@click.option("--max-in-flight", type=int, default=None, help="Requests in flight before 429.")
@click.option("--client-rate", type=float, default=None, help="Requests/s per certificate (0: no limit).")
@click.option("--client-burst", type=int, default=None, help="Burst per certificate before 429.")
def serve(
    data: Path,
    host: str,
    port: int,
    no_group_commit: bool,
    max_envelope_bytes: int | None,
    max_in_flight: int | None,
    client_rate: float | None,
    client_burst: int | None,
) -> None:
    """Serve the kernel API on the embedded default (SQLite WAL, synchronous=FULL, files under DATA).

    Installed plugins (entry points, filtered by BIDKERNEL_PLUGINS_ALLOW/_DENY) are loaded; their events
    are delivered from the outbox in the background."""
    import dataclasses

    import uvicorn

    from bidkernel.api.kernel_routes import create_kernel_app
    from bidkernel.platform import Limits, Platform

    limits = Limits()
    if max_envelope_bytes is not None:
        limits = dataclasses.replace(limits, max_envelope_bytes=max_envelope_bytes)
    if max_in_flight is not None:
        limits = dataclasses.replace(limits, max_in_flight=max_in_flight)
    if client_rate is not None:
        limits = dataclasses.replace(limits, client_rate=client_rate)
    if client_burst is not None:
        limits = dataclasses.replace(limits, client_burst=client_burst)
    try:
        platform = Platform.open(data, limits=limits, group_commit=not no_group_commit)
    except Exception as exc:
        raise click.ClickException(f"cannot open {data}: {exc}") from None
    pki = data / "pki"
    if platform.pki.created:
        click.echo(f"created a test CA and platform/TSA certificates in {pki} (replace them for production)")
    click.echo(f"bidkernel serving {data} on http://{host}:{port} (trust root: {pki / 'ca.pem'})", err=True)
    sys.stderr.flush()
    from bidkernel.plugins.host import load_plugins

    plugins = load_plugins(data=data)
    for info in plugins.info():
        if not info.builtin:
            click.echo(f"plugin {info.name} ({info.distribution} {info.version})", err=True)
    for failure in plugins.failures:
        click.echo(f"plugin {failure.name} NOT LOADED: {failure.error}", err=True)
    from bidkernel.plugins.host import PluginError

    try:
        app = create_kernel_app(platform, plugins=plugins)
    except PluginError as exc:  # e.g. a provider that does not implement its protocol: refuse to start
        platform.close()
        raise click.ClickException(str(exc)) from None
    for hook, name in sorted(plugins.provider_names().items()):
        if name != "kernel":
            click.echo(f"provider {hook.removeprefix('bidkernel_')}: plugin {name}", err=True)
    try:
        uvicorn.run(app, host=host, port=port, loop="uvloop", http="httptools", log_level="warning")
    finally:
        platform.close()


def _load_identity(key: Path, cert: Path) -> tuple[Any, Any]:
    from bidkernel.crypto import sm2
    from bidkernel.crypto.x509 import Certificate

    try:
        return sm2.load_private_key(key.read_bytes()), Certificate.load(cert.read_bytes())
    except Exception as exc:
        raise click.ClickException(f"cannot load the key/certificate: {exc}") from None


@click.group("bid")
def bid_group() -> None:
    """The bidder's tools: seal a bid offline, submit it, withdraw it."""


@bid_group.command("seal")
@click.option("--tender", "tender_file", required=True, type=_FILE, help="The tender's public JSON (GET /tenders/ID).")
@click.option("--summary", required=True, type=_FILE, help="The 唱标 summary (price, duration...), sealed apart.")
@click.option("--file", "files", multiple=True, help="NAME=PATH of a bid document (commercial, technical, ...).")
@click.option("--key", required=True, type=_FILE, help="Bidder's SM2 private key (PEM).")
@click.option("--cert", required=True, type=_FILE, help="Bidder's certificate (PEM).")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Package directory to write.")
@click.option("--lot", default=None, help="The lot (标段) id this bid is for (needed when the tender has several).")
@click.option(
    "--own-recipient",
    is_flag=True,
    help="Seal to your own certificate too (automatic when the tender's custody is 'bidder').",
)
def bid_seal(
    tender_file: Path,
    summary: Path,
    files: tuple[str, ...],
    key: Path,
    cert: Path,
    out: Path,
    lot: str | None,
    own_recipient: bool,
) -> None:
    """Seal files to the tender's opening certificates and sign each envelope (offline). Under bidder
    custody every envelope is sealed to your own certificate as well (with the threshold remedy the
    tender's opening certificates include its threshold key: two recipients); each signature commits to
    the envelope's content key (key check value). With a tender that names a remedy certificate,
    ``<name>.backup`` headers are written too (``bid backup``)."""
    from bidkernel.client import seal_package
    from bidkernel.crypto.x509 import Certificate

    try:
        tender = orjson.loads(tender_file.read_bytes())
        certs = [Certificate.from_pem(p.encode()) for p in tender["opening_certificates"]]
        tender_id = str(tender["id"])
        lots = [str(x["id"]) for x in tender.get("lots", [])]
        remedy = tender.get("remedy_certificate")
        backup = Certificate.from_pem(remedy.encode()) if remedy else None
        own_recipient = own_recipient or tender.get("custody") == "bidder"  # the bidder unwraps its own keys
    except Exception:
        raise click.ClickException(f"{tender_file} is not a tender's public JSON (id, opening_certificates)") from None
    if lot is not None and lots and lot not in lots:
        raise click.ClickException(f"the tender has no lot {lot!r} (its lots: {', '.join(lots)})")
    if lot is None and len(lots) > 1:
        raise click.ClickException(f"the tender has lots {', '.join(lots)}: say which with --lot")
    pairs = []
    for f in files:
        name, sep, path = f.partition("=")
        if not sep or not Path(path).is_file():
            raise click.ClickException(f"--file wants NAME=PATH of an existing file, not {f!r}")
        pairs.append((name, Path(path)))
    k, c = _load_identity(key, cert)
    try:
        m = seal_package(
            out, tender_id=tender_id, opening_certificates=certs, summary=summary, files=pairs, key=k, cert=c,
            lot=lot, own_certificate=c if own_recipient else None, backup_certificate=backup,
        )  # fmt: skip
    except Exception as exc:
        raise click.ClickException(f"sealing failed: {exc}") from None
    for e in m["envelopes"]:
        click.echo(f"sealed {e['name']}: {e['size']} bytes, SM3 {e['sm3']}")
    click.echo(f"package written to {out}")


@bid_group.command("submit")
@click.argument("package", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--server", required=True, help="Kernel URL, e.g. http://127.0.0.1:8080")
@click.option("--key", required=True, type=_FILE)
@click.option("--cert", required=True, type=_FILE)
@click.option("--receipt", "receipt_out", type=click.Path(path_type=Path), help="Where to save the receipt.")
def bid_submit(package: Path, server: str, key: Path, cert: Path, receipt_out: Path | None) -> None:
    """Stream a sealed package to the kernel and save the receipt."""
    from bidkernel.client import ApiError, KernelClient, Package

    k, c = _load_identity(key, cert)
    try:
        pkg = Package.load(package)
    except Exception as exc:
        raise click.ClickException(str(exc)) from None
    try:
        receipt = KernelClient(server, k, c).submit(str(pkg.manifest["tender_id"]), pkg)
    except ApiError as exc:
        raise click.ClickException(f"refused: {exc}") from None
    except OSError as exc:
        raise click.ClickException(f"cannot reach {server}: {exc}") from None
    dest = receipt_out or package / "receipt.json"
    dest.write_bytes(orjson.dumps(receipt, option=orjson.OPT_INDENT_2))
    b = receipt["body"]
    click.echo(f"accepted: bid {b['bid_id']} at {b['received_at']} (log index {b['log_index']}); receipt {dest}")


@click.group("receipt")
def receipt_group() -> None:
    """Receipts (回执)."""


@receipt_group.command("verify")
@click.argument("file", type=_FILE)
@click.option("--trust", type=_FILE, help="Trusted root certificate(s), PEM. Default: the receipt's own chain.")
def receipt_verify(file: Path, trust: Path | None) -> None:
    """Verify a receipt offline: signature, chain, timestamp token, inclusion proof, checkpoint."""
    from bidkernel.crypto.x509 import Certificate
    from bidkernel.platform import _split_pem
    from bidkernel.receipt import ReceiptError, verify_receipt

    try:
        doc = orjson.loads(file.read_bytes())
    except orjson.JSONDecodeError:
        click.echo(f"FAIL: {file} is not JSON", err=True)
        sys.exit(1)
    roots = None
    if trust is not None:
        try:
            roots = [Certificate.from_pem(p) for p in _split_pem(trust.read_bytes())]
        except Exception:
            raise click.ClickException(f"{trust} holds no PEM certificate") from None
    try:
        s = verify_receipt(doc, roots=roots)
    except ReceiptError as exc:
        click.echo(f"FAIL: {exc}", err=True)
        sys.exit(1)
    note = "" if roots else " (trust: the receipt's own root; pass --trust to anchor it)"
    click.echo(f"OK: {s.kind} {s.bid_id} for tender {s.tender_id} at {s.received_at}; log index {s.log_index} "
               f"in a tree of {s.tree_size}; timestamp {s.timestamp.isoformat()}{note}")  # fmt: skip


@click.group("roles")
def roles_group() -> None:
    """The operator's role registry: grant or revoke a certificate's role (overrides its OU/O)."""


def _operator(server: str, key: Path, cert: Path) -> Any:
    from bidkernel.client import KernelClient

    k, c = _load_identity(key, cert)
    return KernelClient(server, k, c)


def _roles_call(server: str, key: Path, cert: Path, method: str, body: Any = None) -> Any:
    from bidkernel.client import ApiError

    try:
        return _operator(server, key, cert).call(method, "/admin/roles", body)
    except ApiError as exc:
        raise click.ClickException(f"refused: {exc}") from None
    except OSError as exc:
        raise click.ClickException(f"cannot reach {server}: {exc}") from None


def _fp_of(value: str) -> str:
    """A fingerprint given as 64 hex digits or as a certificate file (PEM/DER)."""
    if len(value) == 64 and all(c in "0123456789abcdefABCDEF" for c in value):
        return value.lower()
    from bidkernel.crypto.x509 import Certificate

    try:
        return Certificate.load(Path(value).read_bytes()).fingerprint.hex()
    except Exception:
        raise click.ClickException(f"{value!r} is neither a 64-hex-digit fingerprint nor a certificate file") from None


_SERVER = click.option("--server", required=True, help="Kernel URL, e.g. http://127.0.0.1:8080")
_OP_KEY = click.option("--key", required=True, type=_FILE, help="The operator's SM2 private key (PEM).")
_OP_CERT = click.option("--cert", required=True, type=_FILE, help="The operator's certificate (PEM).")


@roles_group.command("grant")
@click.argument("certificate")
@click.option("--role", required=True, type=click.Choice(["bidder", "agency", "supervisor", "custodian", "operator"]))
@click.option("--org", required=True, help="The organisation it acts for.")
@click.option("--reason", default="", help="Recorded in the ledger event.")
@_SERVER
@_OP_KEY
@_OP_CERT
def roles_grant(certificate: str, role: str, org: str, reason: str, server: str, key: Path, cert: Path) -> None:
    """Grant CERTIFICATE (fingerprint or file) ROLE for ORG, whatever its OU says."""
    body = {"action": "grant", "fingerprint": _fp_of(certificate), "role": role, "org": org, "reason": reason}
    e = _roles_call(server, key, cert, "POST", body)
    click.echo(f"granted {e['role']} ({e['org']}) to {e['fingerprint']}; ledger index {e['log_index']}")


@roles_group.command("revoke")
@click.argument("certificate")
@click.option("--reason", default="", help="Recorded in the ledger event.")
@_SERVER
@_OP_KEY
@_OP_CERT
def roles_revoke(certificate: str, reason: str, server: str, key: Path, cert: Path) -> None:
    """Revoke CERTIFICATE's role: its signed requests are refused (role-revoked)."""
    e = _roles_call(server, key, cert, "POST", {"action": "revoke", "fingerprint": _fp_of(certificate),
                                                  "reason": reason})  # fmt: skip
    click.echo(f"revoked the role of {e['fingerprint']}; ledger index {e['log_index']}")


@roles_group.command("list")
@_SERVER
@_OP_KEY
@_OP_CERT
def roles_list(server: str, key: Path, cert: Path) -> None:
    """List the registry (certificates not listed take their role from their OU/O)."""
    for e in _roles_call(server, key, cert, "GET"):
        click.echo(f"{e['fingerprint']}  {e['status']:8}  {e['role'] or '-':10}  {e['org'] or '-'}")
