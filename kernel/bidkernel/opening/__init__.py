"""The opening (开标): custody releases -> 唱标 summaries -> bulk decryption -> signed opening record.

:mod:`.service` runs it (and holds :func:`read_plaintext`, the one way other code reads a bid's
plaintext); :mod:`.releases` takes what the parties bring (custodian shares, bidder keys, backups,
confirmations and objections); :mod:`.evidence` names why a bid did not open (Art. 31).
"""

from bidkernel.opening.service import OpeningService, read_plaintext

__all__ = ["OpeningService", "read_plaintext"]
