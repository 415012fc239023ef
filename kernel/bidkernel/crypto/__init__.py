"""Hazmat layer: SM2, SM3, SM4, envelopes, keys, certificates.

Bytes in, bytes out; no policy, no I/O beyond the files a caller names, no defaults that hide a
security choice (the SM2 distinguishing ID and ciphertext format are explicit parameters with the
standards' defaults). Policy lives in the recipes (intake, opening, ledger).
"""
