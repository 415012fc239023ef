"""Facts about the native module, for ``bidkernel --version`` and benchmark reports."""

from __future__ import annotations

from dataclasses import dataclass

from bidkernel import _native


@dataclass(frozen=True)
class NativeInfo:
    version: str
    build_profile: str
    cpu_features: tuple[tuple[str, bool], ...]
    portable_forced: bool
    crypto_backends: tuple[tuple[str, str], ...] = ()

    def detected(self) -> list[str]:
        return [name for name, present in self.cpu_features if present]


def native_info() -> NativeInfo:
    return NativeInfo(
        version=_native.version(),
        build_profile=_native.build_profile(),
        cpu_features=tuple(_native.cpu_features()),
        portable_forced=_native.portable_forced(),
        crypto_backends=tuple(sorted(_native.crypto_backends().items())),
    )
