"""Custody: who can open a tender and how its keys are kept (platform, bidder, k-of-n threshold).

:mod:`.provider` seals keys at rest (the HSM seam, :class:`KeyCustodyProvider`); :mod:`.vss` is
Feldman VSS over the SM2 group; :mod:`.tender_keys` sets a tender's keys up at publication and gives
them back to the opening recipe.
"""

from bidkernel.custody.provider import CustodyError, KeyCustodyProvider, MasterKeyProvider

__all__ = ["CustodyError", "KeyCustodyProvider", "MasterKeyProvider"]
