# mypy: disable-error-code="misc"
# (pyasn1 is untyped: its base classes are Any to mypy)
"""ASN.1 types of GM/T 0010-2012 (SM2 cryptographic message syntax), with pyasn1.

GM/T 0010 follows PKCS #7 v1.5 (RFC 2315) with SM2/SM3/SM4 algorithms and its own content-type
OIDs (see :mod:`bidkernel.crypto.oids`). Clause references are to GM/T 0010-2012.
"""

from __future__ import annotations

from pyasn1.type import namedtype, tag, univ
from pyasn1_modules import rfc5280

MAX = float("inf")


class ContentInfo(univ.Sequence):
    """§7: ContentInfo ::= SEQUENCE { contentType OBJECT IDENTIFIER, content [0] EXPLICIT ANY OPTIONAL }"""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("contentType", univ.ObjectIdentifier()),
        namedtype.OptionalNamedType(
            "content", univ.Any().subtype(explicitTag=tag.Tag(tag.tagClassContext, tag.tagFormatConstructed, 0))
        ),
    )


class IssuerAndSerialNumber(univ.Sequence):
    """§8.1 (as RFC 2315 §6.7)."""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("issuer", rfc5280.Name()),
        namedtype.NamedType("serialNumber", rfc5280.CertificateSerialNumber()),
    )


class RecipientInfo(univ.Sequence):
    """§8.3: encryptedKey holds the SM2 ciphertext (GM/T 0009 SM2Cipher DER) of the content key."""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("version", univ.Integer()),
        namedtype.NamedType("issuerAndSerialNumber", IssuerAndSerialNumber()),
        namedtype.NamedType("keyEncryptionAlgorithm", rfc5280.AlgorithmIdentifier()),
        namedtype.NamedType("encryptedKey", univ.OctetString()),
    )


class RecipientInfos(univ.SetOf):
    componentType = RecipientInfo()


class EncryptedContentInfo(univ.Sequence):
    """§8.4: contentEncryptionAlgorithm carries the IV; sharedInfo1/2 are read but never written."""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("contentType", univ.ObjectIdentifier()),
        namedtype.NamedType("contentEncryptionAlgorithm", rfc5280.AlgorithmIdentifier()),
        namedtype.OptionalNamedType(
            "encryptedContent",
            univ.OctetString().subtype(implicitTag=tag.Tag(tag.tagClassContext, tag.tagFormatSimple, 0)),
        ),
        namedtype.OptionalNamedType(
            "sharedInfo1", univ.OctetString().subtype(implicitTag=tag.Tag(tag.tagClassContext, tag.tagFormatSimple, 1))
        ),
        namedtype.OptionalNamedType(
            "sharedInfo2", univ.OctetString().subtype(implicitTag=tag.Tag(tag.tagClassContext, tag.tagFormatSimple, 2))
        ),
    )


class EnvelopedData(univ.Sequence):
    """§8: EnvelopedData ::= SEQUENCE { version, recipientInfos, encryptedContentInfo }"""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("version", univ.Integer()),
        namedtype.NamedType("recipientInfos", RecipientInfos()),
        namedtype.NamedType("encryptedContentInfo", EncryptedContentInfo()),
    )


class Attribute(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("type", univ.ObjectIdentifier()),
        namedtype.NamedType("values", univ.SetOf(componentType=univ.Any())),
    )


class Attributes(univ.SetOf):
    componentType = Attribute()


class SignerInfo(univ.Sequence):
    """§9.2 (as RFC 2315 §9.2): digestEncryptionAlgorithm is sm2-1; encryptedDigest the DER SM2 signature."""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("version", univ.Integer()),
        namedtype.NamedType("issuerAndSerialNumber", IssuerAndSerialNumber()),
        namedtype.NamedType("digestAlgorithm", rfc5280.AlgorithmIdentifier()),
        namedtype.OptionalNamedType(
            "authenticatedAttributes",
            Attributes().subtype(implicitTag=tag.Tag(tag.tagClassContext, tag.tagFormatConstructed, 0)),
        ),
        namedtype.NamedType("digestEncryptionAlgorithm", rfc5280.AlgorithmIdentifier()),
        namedtype.NamedType("encryptedDigest", univ.OctetString()),
        namedtype.OptionalNamedType(
            "unauthenticatedAttributes",
            Attributes().subtype(implicitTag=tag.Tag(tag.tagClassContext, tag.tagFormatConstructed, 1)),
        ),
    )


class SignerInfos(univ.SetOf):
    componentType = SignerInfo()


class DigestAlgorithmIdentifiers(univ.SetOf):
    componentType = rfc5280.AlgorithmIdentifier()


class Certificates(univ.SetOf):
    componentType = rfc5280.Certificate()


class SignedData(univ.Sequence):
    """§9.1: SignedData ::= SEQUENCE { version, digestAlgorithms, contentInfo, certificates [0] IMPLICIT
    OPTIONAL, crls [1] IMPLICIT OPTIONAL, signerInfos }"""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("version", univ.Integer()),
        namedtype.NamedType("digestAlgorithms", DigestAlgorithmIdentifiers()),
        namedtype.NamedType("contentInfo", ContentInfo()),
        namedtype.OptionalNamedType(
            "certificates",
            Certificates().subtype(implicitTag=tag.Tag(tag.tagClassContext, tag.tagFormatConstructed, 0)),
        ),
        namedtype.OptionalNamedType(
            "crls",
            univ.SetOf(componentType=univ.Any()).subtype(
                implicitTag=tag.Tag(tag.tagClassContext, tag.tagFormatConstructed, 1)
            ),
        ),
        namedtype.NamedType("signerInfos", SignerInfos()),
    )
