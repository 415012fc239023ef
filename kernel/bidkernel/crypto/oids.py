"""Object identifiers used by the guomi formats (GM/T 0006 OID registry, GM/T 0010, GM/T 0015).

Kept in one place so every encoder and parser agrees, and docs/protocol.md can cite them.
"""

from __future__ import annotations

# GM/T 0006 §: algorithm identifiers
SM2_CURVE = "1.2.156.10197.1.301"  # sm2p256v1 (also used as the EC named-curve parameter)
SM2_SIGN = "1.2.156.10197.1.301.1"  # sm2-1, SM2 digital signature
SM2_KEY_EXCHANGE = "1.2.156.10197.1.301.2"  # sm2-2
SM2_ENCRYPT = "1.2.156.10197.1.301.3"  # sm2-3, SM2 public key encryption
SM3 = "1.2.156.10197.1.401"
SM2_WITH_SM3 = "1.2.156.10197.1.501"  # SM2 signature with SM3 (GM/T 0015 certificate signatures)
SM4_ECB = "1.2.156.10197.1.104.1"
SM4_CBC = "1.2.156.10197.1.104.2"

# GM/T 0010-2012 §6: content types
GMT0010_DATA = "1.2.156.10197.6.1.4.2.1"
GMT0010_SIGNED_DATA = "1.2.156.10197.6.1.4.2.2"
GMT0010_ENVELOPED_DATA = "1.2.156.10197.6.1.4.2.3"
GMT0010_SIGNED_AND_ENVELOPED_DATA = "1.2.156.10197.6.1.4.2.4"
GMT0010_ENCRYPTED_DATA = "1.2.156.10197.6.1.4.2.5"
GMT0010_KEY_AGREEMENT_INFO = "1.2.156.10197.6.1.4.2.6"

# RFC 5280 / X9.62
EC_PUBLIC_KEY = "1.2.840.10045.2.1"

# PKCS #9 attributes used in signed attributes (RFC 5652 §11)
PKCS9_CONTENT_TYPE = "1.2.840.113549.1.9.3"
PKCS9_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
PKCS9_SIGNING_TIME = "1.2.840.113549.1.9.5"

# bidkernel's private arc (as the embedded TSA's policy): a signed attribute committing to the content key
# (docs/protocol.md "Detached signatures": key check value)
BK_CONTENT_KEY_CHECK = "1.2.156.112233.2.1"
