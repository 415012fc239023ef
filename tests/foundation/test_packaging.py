"""The wheel holds only `bidkernel` (issue 2) and runtime code never imports the test oracle gmssl."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def wheel(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    maturin = shutil.which("maturin")
    if maturin is None:
        pytest.fail("maturin is needed to build the wheel (it is in the dev extra and the build backend)")
    out = tmp_path_factory.mktemp("wheel")
    # same profile and target dir as the editable install, so this reuses the compiled crate
    subprocess.run(
        [maturin, "build", "--release", "--locked", "--interpreter", sys.executable, "-o", str(out)],
        cwd=repo_root,
        check=True,
        capture_output=True,
    )
    (whl,) = out.glob("bidkernel-*.whl")
    return whl


def test_wheel_holds_only_bidkernel(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names}
    dist_info = {t for t in tops if t.endswith(".dist-info")}
    assert len(dist_info) == 1
    assert tops - dist_info == {"bidkernel"}, tops
    for forbidden in ("tests/", "benchmarks/", "docs/", "kernel/", "plugins/", "native/"):
        assert not any(n.startswith(forbidden) for n in names), forbidden


def test_wheel_carries_native_module_stub_and_marker(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert any(n.startswith("bidkernel/_native") and n.endswith(".so") for n in names), names
    assert "bidkernel/_native.pyi" in names
    assert "bidkernel/py.typed" in names
    assert "bidkernel/__init__.py" in names


def test_wheel_metadata_keeps_gmssl_out_of_runtime(wheel: Path) -> None:
    zf = zipfile.ZipFile(wheel)
    meta_name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
    requires = [line for line in zf.read(meta_name).decode().splitlines() if line.startswith("Requires-Dist:")]
    gm = [r for r in requires if "gmssl" in r.lower()]
    assert gm, "gmssl should be declared in the test extra"
    assert all("extra ==" in r for r in gm), gm


def test_runtime_code_never_imports_gmssl(repo_root: Path) -> None:
    offenders = []
    for path in (repo_root / "kernel").rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            mods: list[str] = []
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                mods = [node.module]
            elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module":
                mods = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            offenders += [f"{path}:{node.lineno} {m}" for m in mods if m.split(".")[0] == "gmssl"]
    assert offenders == []
    assert len(list((repo_root / "kernel").rglob("*.py"))) > 3  # the scan saw the package
