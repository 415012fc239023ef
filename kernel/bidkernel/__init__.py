"""bidkernel: an open, plugin-based electronic-bidding (电子招投标) kernel.

The package layout is the architecture (docs/architecture.md): ``crypto`` is the hazmat layer
(bytes in, bytes out), ``ledger``/``timestamp``/``store`` are services, and the recipes
``intake``/``opening`` hold the policy.
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _dist_version

try:
    __version__ = _dist_version("bidkernel")
except PackageNotFoundError:  # pragma: no cover - running from an uninstalled tree
    __version__ = "0+unknown"

__all__ = ["__version__"]
