"""``bidkernel ts query|reply|verify|serve``: RFC 3161 time-stamping in the manner of ``openssl ts``.

Options are spelled as OpenSSL spells them (``-data``, ``-queryfile``, ``-CAfile``...); the double-dash
forms work too. ``verify`` prints ``Verification: OK`` and exits 0, or ``Verification: FAILED`` with the
reason and its stable code and exits 1.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from bidkernel.timestamp import asn1
from bidkernel.timestamp.errors import TimestampError
from bidkernel.timestamp.tsa import Digest, make_request, new_nonce
from bidkernel.timestamp.verify import (
    ReplySummary,
    RequestSummary,
    Trust,
    TSTInfoSummary,
    describe_token,
    parse_reply,
    parse_request,
    verify_against_request,
    verify_reply,
    verify_token,
)

_HASH_FLAGS = ("sha256", "sha384", "sha512", "sm3")


def _write(out: Path | None, data: bytes) -> None:
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        out.write_bytes(data)


def _hash_choice(kw: dict[str, Any]) -> str:
    chosen = [h for h in _HASH_FLAGS if kw.pop(h)]
    if len(chosen) > 1:
        raise click.UsageError("choose one of " + ", ".join("-" + h for h in _HASH_FLAGS))
    return chosen[0] if chosen else "sha256"


def _hash_options(f: Any) -> Any:
    for h in reversed(_HASH_FLAGS):
        f = click.option(f"-{h}", f"--{h}", h, is_flag=True, help=f"Imprint with {h.upper()}.")(f)
    return f


@click.group("ts")
def ts_group() -> None:
    """RFC 3161 time-stamping (like `openssl ts`): make requests, answer them, verify replies."""


_F = TypeVar("_F", bound=Callable[..., Any])
_IN = click.Path(exists=True, dir_okay=False, path_type=Path)  # a file to read
_OUT = click.Path(dir_okay=False, path_type=Path)  # a file to write


def _opt(name: str, dest: str | None = None, **kw: Any) -> Callable[[_F], _F]:
    """An option spelled both as `openssl ts` spells it (``-name``) and the usual way (``--name``)."""
    return click.option(f"-{name}", f"--{name.replace('_', '-')}", dest or name, **kw)


# --- query ------------------------------------------------------------------------------------------
@ts_group.command("query")
@_opt("data", type=_IN, help="File to stamp.")
@_opt("digest", "digest_hex", help="Digest to stamp, in hex (instead of -data).")
@_hash_options
@_opt("tspolicy", "policy", help="Ask for this TSA policy OID.")
@_opt("no_nonce", is_flag=True, help="Leave out the nonce.")
@_opt("cert", is_flag=True, help="Ask the TSA to include its certificate.")
@_opt("in", "in_file", type=_IN, help="Show an existing request (with -text).")
@_opt("out", type=_OUT, help="Write the DER request here (default: stdout).")
@_opt("text", is_flag=True, help="Print the request in readable form instead of DER.")
def query(
    data: Path | None,
    digest_hex: str | None,
    policy: str | None,
    no_nonce: bool,
    cert: bool,
    in_file: Path | None,
    out: Path | None,
    text: bool,
    **kw: bool,
) -> None:
    """Make a TimeStampReq (RFC 3161 §2.4.1) for a file or a digest."""
    hash_name = _hash_choice(kw)
    if in_file is not None:
        der = in_file.read_bytes()
    else:
        if (data is None) == (digest_hex is None):
            raise click.UsageError("give exactly one of -data or -digest")
        h = asn1.hash_by_name(hash_name)
        if data is not None:
            value = h.fn(data.read_bytes())
        else:
            try:
                value = bytes.fromhex(digest_hex or "")
            except ValueError:
                raise click.UsageError("-digest must be hex") from None
            if len(value) != h.size:
                raise click.UsageError(f"a {h.name} digest has {h.size} bytes, not {len(value)}")
        try:
            der = make_request(
                Digest(h.name, value), nonce=None if no_nonce else new_nonce(), cert_req=cert, policy=policy
            )
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    if text:
        try:
            click.echo(_request_text(parse_request(der)), nl=False)
        except TimestampError as exc:
            raise click.ClickException(str(exc)) from None
        return
    _write(out, der)


def _request_text(r: RequestSummary) -> str:
    return (
        f"Version: {r.version}\nHash Algorithm: {r.hash_algorithm}\nMessage data: {r.message_imprint.hex()}\n"
        f"Policy OID: {r.policy or 'unspecified'}\nNonce: {hex(r.nonce) if r.nonce is not None else 'unspecified'}\n"
        f"Certificate required: {'yes' if r.cert_req else 'no'}\n"
    )


def _tst_text(t: TSTInfoSummary) -> str:
    acc = "unspecified" if t.accuracy is None else f"{t.accuracy:.6f} s"
    return (
        f"Version: 1\nPolicy OID: {t.policy}\nHash Algorithm: {t.hash_algorithm}\n"
        f"Message data: {t.message_imprint.hex()}\nSerial number: {hex(t.serial_number)}\n"
        f"Time stamp: {t.gen_time.isoformat()}\nAccuracy: {acc}\nOrdering: {'yes' if t.ordering else 'no'}\n"
        f"Nonce: {hex(t.nonce) if t.nonce is not None else 'unspecified'}\nTSA: {t.tsa_name or 'unspecified'}\n"
    )


def _reply_text(rep: ReplySummary) -> str:
    status = {0: "Granted.", 1: "Granted with modifications.", 2: "Rejected.", 3: "Waiting."}.get(
        rep.status, str(rep.status)
    )
    out = f"Status: {status}\nStatus description: {' '.join(rep.status_text) or 'unspecified'}\n"
    out += f"Failure info: {', '.join(rep.fail_info) or 'unspecified'}\n"
    if rep.token is None:
        return out + "TST info: not included\n"
    return out + _tst_text(describe_token(rep.token))


# --- reply ------------------------------------------------------------------------------------------
@ts_group.command("reply")
@_opt("queryfile", type=_IN, help="The DER TimeStampReq to answer.")
@_opt("config", type=_IN, help="TSA configuration (TOML, see docs/operations.md).")
@_opt("inkey", type=_IN, help="TSA private key (instead of -config).")
@_opt("signer", type=_IN, help="TSA certificate (instead of -config).")
@_opt("chain", type=_IN, help="Certificates to include with the TSA's.")
@_opt("policy", help="Policy OID (instead of -config).")
@_opt("profile", type=click.Choice(["ecdsa-p256-sha256", "sm2-sm3"]), help="Signing profile (with -inkey).")
@_opt("serial_db", type=_OUT, help="Serial store (SQLite) (with -inkey).")
@_opt("in", "in_file", type=_IN, help="Show an existing reply (with -text).")
@_opt("token_in", is_flag=True, help="-in holds a bare token, not a reply.")
@_opt("token_out", is_flag=True, help="Write the bare TimeStampToken, not the reply.")
@_opt("out", type=_OUT, help="Write here (default: stdout).")
@_opt("text", is_flag=True, help="Print in readable form instead of DER.")
def reply(
    queryfile: Path | None,
    config: Path | None,
    inkey: Path | None,
    signer: Path | None,
    chain: Path | None,
    policy: str | None,
    profile: str | None,
    serial_db: Path | None,
    in_file: Path | None,
    token_in: bool,
    token_out: bool,
    out: Path | None,
    text: bool,
) -> None:
    """Answer a TimeStampReq as the TSA (RFC 3161 §2.4.2), or show a reply with -in ... -text."""
    try:
        if in_file is not None:
            data = in_file.read_bytes()
            if token_in:
                body = _tst_text(describe_token(data))
                click.echo(body if text else "", nl=False)
                if not text:
                    _write(out, data)
                return
            rep = parse_reply(data)
            if text:
                click.echo(_reply_text(rep), nl=False)
            elif token_out:
                if rep.token is None:
                    raise click.ClickException("the reply carries no token")
                _write(out, rep.token)
            else:
                _write(out, data)
            return
        if queryfile is None:
            raise click.UsageError("give -queryfile (to answer) or -in (to show a reply)")
        authority = _authority(config, inkey, signer, chain, policy, profile, serial_db)
        resp = authority.respond(queryfile.read_bytes())
        rep = parse_reply(resp)
        if text:
            click.echo(_reply_text(rep), nl=False)
            return
        if token_out:
            if rep.token is None:
                raise click.ClickException(f"the request was rejected: {', '.join(rep.fail_info)}")
            _write(out, rep.token)
        else:
            _write(out, resp)
    except TimestampError as exc:
        raise click.ClickException(str(exc)) from None


def _authority(
    config: Path | None,
    inkey: Path | None,
    signer: Path | None,
    chain: Path | None,
    policy: str | None,
    profile: str | None,
    serial_db: Path | None,
) -> Any:
    from bidkernel.timestamp.config import TSAConfig, build_authority, data_dir, load_config

    if config is not None:
        if inkey or signer:
            raise click.UsageError("use either -config or -inkey/-signer")
        return build_authority(load_config(config))
    if not (inkey and signer and policy):
        raise click.UsageError("without -config, give -inkey, -signer and -policy")
    cfg = TSAConfig(
        profile=profile or "ecdsa-p256-sha256",
        key=inkey,
        cert=signer,
        policy=policy,
        chain=(chain,) if chain else (),
        include_chain=chain is not None,
        serial_db=serial_db or data_dir() / "timestamp" / "serial.sqlite",
    )
    return build_authority(cfg)


# --- verify -----------------------------------------------------------------------------------------
@ts_group.command("verify")
@_opt("in", "in_file", required=True, type=_IN, help="The reply (or token with -token_in).")
@_opt("token_in", is_flag=True, help="-in holds a bare TimeStampToken.")
@_opt("queryfile", type=_IN, help="The request: imprint, nonce and policy must match.")
@_opt("data", type=_IN, help="The stamped file.")
@_opt("digest", "digest_hex", help="The stamped digest in hex (algorithm from the token).")
@_opt("CAfile", "cafile", required=True, type=_IN, help="Trusted root certificates (PEM).")
@_opt("untrusted", type=_IN, help="More certificates (PEM), e.g. the TSA's.")
@_opt("attime", type=int, help="Validate the chain at this Unix time (default: now).")
@_opt("sm2_id", default="1234567812345678", show_default=True, help="SM2 ID of the TSA signature.")
@_opt(
    "cert_empty_sm2_id",
    "cert_empty_id",
    is_flag=True,
    help="Also accept SM2 certificate signatures made with an empty ID (OpenSSL 3.0's default).",
)
def verify(
    in_file: Path,
    token_in: bool,
    queryfile: Path | None,
    data: Path | None,
    digest_hex: str | None,
    cafile: Path,
    untrusted: Path | None,
    attime: int | None,
    sm2_id: str,
    cert_empty_id: bool,
) -> None:
    """Verify a reply or token (RFC 3161 §2.4.2) against a request, a file or a digest. Exit 1 if it fails."""
    given = [x for x in (queryfile, data, digest_hex) if x is not None]
    if len(given) != 1:
        raise click.UsageError("give exactly one of -queryfile, -data or -digest")
    at = datetime.fromtimestamp(attime).astimezone() if attime is not None else None
    try:
        base = Trust.from_files(cafile, untrusted, at=at, sm2_id=sm2_id.encode())
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot load certificates: {type(exc).__name__}") from None
    ids = (base.cert_sm2_ids[0], b"") if cert_empty_id else base.cert_sm2_ids
    trust = Trust(base.anchors, base.untrusted, base.at, base.sm2_id, ids)
    blob = in_file.read_bytes()
    try:
        if queryfile is not None:
            info = verify_against_request(blob, queryfile.read_bytes(), trust, is_token=token_in)
        else:
            target: bytes | Digest
            if data is not None:
                target = data.read_bytes()
            else:
                try:
                    value = bytes.fromhex(digest_hex or "")
                except ValueError:
                    raise click.UsageError("-digest must be hex") from None
                token = blob if token_in else (parse_reply(blob).token or b"")
                try:
                    alg = describe_token(token).hash_algorithm
                except TimestampError:
                    alg = "sha256"
                target = Digest(alg, value) if alg in asn1.HASHES else Digest("sha256", value)
            fn = verify_token if token_in else verify_reply
            info = fn(blob, target, trust)
    except TimestampError as exc:
        click.echo(f"Verification: FAILED\n{exc}", err=False)
        sys.exit(1)
    click.echo(f"Verification: OK\nTime stamp: {info.gen_time.isoformat()}\nSerial number: {hex(info.serial_number)}")
    click.echo(f"TSA certificate: {info.signer_subject}")


# --- serve ------------------------------------------------------------------------------------------
@ts_group.command("serve")
@_opt("config", required=True, type=_IN, help="TSA configuration (TOML).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=3161, show_default=True, type=int, help="Port to listen on.")
def serve(config: Path, host: str, port: int) -> None:
    """Serve POST /tsa (RFC 3161 §3.4) with uvicorn."""
    import uvicorn

    from bidkernel.api.app import create_app
    from bidkernel.timestamp.config import build_authority, load_config

    try:
        authority = build_authority(load_config(config))
    except TimestampError as exc:
        raise click.ClickException(str(exc)) from None
    uvicorn.run(create_app(tsa=authority), host=host, port=port, log_level="info")
