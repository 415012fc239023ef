"""The plugin manager enforces the contract at registration: unknown hooks (typos included), bad
signatures, reserved names and bad ledger types are refused; a plugin that fails to import is listed,
not loaded, and never breaks the kernel or its CLI; providers from plugins win over the built-ins."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import orjson
import pytest
from plugin_support import subprocess_env

from bidkernel.hookspecs import hookimpl
from bidkernel.plugins import KernelConfig, OutboxEvent, PluginKernel
from bidkernel.plugins.host import PluginError, PluginHost, load_plugins
from bidkernel.testing import start_kernel


def _module(**fns: Any) -> types.SimpleNamespace:
    return types.SimpleNamespace(**fns)


def test_a_typo_in_a_hook_name_is_an_error_not_silence() -> None:
    def bidkernel_bid_recieved(event: OutboxEvent, kernel: PluginKernel) -> None: ...

    with pytest.raises(PluginError, match="bidkernel_bid_recieved"):
        PluginHost(env={}).register(_module(bidkernel_bid_recieved=bidkernel_bid_recieved), "typo")


def test_a_hook_with_arguments_the_spec_lacks_is_refused() -> None:
    def bidkernel_bid_received(event: OutboxEvent, kernel: PluginKernel, secret_key: bytes) -> None: ...

    host = PluginHost(env={})
    with pytest.raises(PluginError, match="breaks the contract"):
        host.register(_module(bidkernel_bid_received=bidkernel_bid_received), "greedy")
    assert host.names() == ["kernel"]


@pytest.mark.parametrize("name", ["kernel", "plugins", "Bad", "has-dash", "x" * 33, ""])
def test_reserved_or_invalid_names_are_refused(name: str) -> None:
    with pytest.raises(PluginError):
        PluginHost(env={}).register(_module(), name)


@pytest.mark.parametrize("etype", ["signed", "Bad", "a.b", ""])
def test_bad_ledger_event_types_are_refused(etype: str) -> None:
    host = PluginHost(env={})
    with pytest.raises(PluginError, match="ledger event type"):
        host.register(_module(bidkernel_ledger_event_types=lambda: [etype]), "p")
    assert host.names() == ["kernel"]


def test_configure_is_historic() -> None:
    seen: list[str] = []
    host = PluginHost(env={"BIDKERNEL_LATE_COLOUR": "blue"})
    host.configure()
    host.register(_module(bidkernel_configure=lambda config: seen.append(config.settings["late"]["colour"])), "late")
    assert seen == ["blue"]  # registered after configuration, configured all the same


def test_a_plugin_provider_wins_over_the_builtin(tmp_path: Path) -> None:
    from bidkernel.crypto import sm2
    from bidkernel.platform import Pki

    platform_key = Pki.load_or_create(tmp_path / "data" / "pki").platform  # imported into the device

    class Hsm:
        name = "test-hsm"

        def __init__(self) -> None:
            self.signed: list[bytes] = []

        def seal(self, label: str, secret: bytes) -> bytes:
            raise AssertionError("no tender is published here")

        def unseal(self, label: str, sealed: bytes) -> bytes:
            raise AssertionError("no tender is opened here")

        def sign(self, message: bytes) -> bytes:
            self.signed.append(message)
            return sm2.sign(platform_key.key, message, id=sm2.DEFAULT_ID, fmt="der")

        def certificate_pem(self) -> bytes:
            return platform_key.certificate.to_pem()

    hsm = Hsm()

    class HsmPlugin:
        @hookimpl
        def bidkernel_key_custody(self, config: KernelConfig) -> Hsm:
            return hsm

    k = start_kernel(tmp_path, plugins=[("hsm", HsmPlugin())])
    try:
        assert k.host.provider_names() == {
            "bidkernel_timestamp_source": "kernel",
            "bidkernel_key_custody": "hsm",
            "bidkernel_blob_store": "kernel",
            "bidkernel_notifier": "kernel",
        }
        sig = k.host.handle("hsm").sign("test", b"m").signature
        assert b"m" in hsm.signed and sm2.verify(platform_key.certificate.public_key, b"m", sig)
        assert k.platform.key_custody is hsm  # and it, not the master key, seals the opening keys
    finally:
        k.stop()


def test_a_provider_that_breaks_its_protocol_is_refused_not_replaced(tmp_path: Path) -> None:
    class SignOnly:  # an HSM plugin without seal/unseal must not silently fall back to the file key
        def sign(self, message: bytes) -> bytes:
            return b""

        def certificate_pem(self) -> bytes:
            return b""

    class Plugin:
        @hookimpl
        def bidkernel_key_custody(self, config: KernelConfig) -> SignOnly:
            return SignOnly()

    host = PluginHost(env={})
    host.register(Plugin(), "half")
    with pytest.raises(PluginError, match="does not implement KeyCustody"):
        host.key_custody()


def test_a_plugin_that_fails_to_import_is_listed_not_loaded(recorder_site: Path) -> None:
    host = load_plugins(env={})
    assert "broken" not in host.names() and "recorder" in host.names()
    assert [f.name for f in host.failures] == ["broken"]
    assert "ModuleNotFoundError" in host.failures[0].error
    bk = [sys.executable, "-c", "from bidkernel.cli.main import main; main()"]
    res = subprocess.run([*bk, "plugins", "--json"], env=subprocess_env(recorder_site), capture_output=True, text=True)
    assert res.returncode == 0  # --json reports; the plain listing fails (exit 1) so scripts notice
    assert orjson.loads(res.stdout)["failures"][0]["name"] == "broken"
    res = subprocess.run([*bk, "plugins"], env=subprocess_env(recorder_site), capture_output=True, text=True)
    assert res.returncode == 1 and "broken  NOT LOADED: ModuleNotFoundError" in res.stdout
    res = subprocess.run([*bk, "--version"], env=subprocess_env(recorder_site), capture_output=True, text=True)
    assert res.returncode == 0  # the CLI still works
