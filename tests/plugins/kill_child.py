"""Child process of test_faults.test_killed_during_delivery: a kernel whose plugin ``stuck`` blocks inside
``bidkernel_bid_received``; the parent kills this process with SIGKILL while that call is in progress."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from bidkernel.hookspecs import hookimpl
from bidkernel.plugins import OutboxEvent, PluginKernel
from bidkernel.plugins.delivery import DeliveryPolicy
from bidkernel.testing import start_kernel


class Stuck:
    @hookimpl
    def bidkernel_bid_received(self, event: OutboxEvent, kernel: PluginKernel) -> None:
        print(f"IN-DELIVERY {event.key}", flush=True)
        threading.Event().wait()


def main() -> None:
    k = start_kernel(
        Path(sys.argv[1]), plugins=[("stuck", Stuck())], delivery=DeliveryPolicy(timeout_s=3600, poll_s=0.02)
    )
    t = k.tender()
    r = k.submit("bidder-1", t["id"])
    print(f"RECEIPT {r['body']['bid_id']}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
