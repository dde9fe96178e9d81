"""Tokens: every refusal with its reason, HS/RS/ES round trips, key confusion, revocation, JWKS."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from services.common.settings import Settings, SettingsError
from services.common.tokens import (
    REASONS,
    TOKEN_TYPES,
    Claims,
    Keys,
    RevocationSet,
    TokenError,
    TokenIssuer,
    TokenVerifier,
)

NOW = 1_800_000_000.0
SECRET = "test-hmac-secret-0123456789abcdef-0123456789"
OTHER_SECRET = "another-hmac-secret-0123456789abcdef-0123456"
LEEWAY = 30


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- keys and raw tokens -----------------------------------------------------


def pem_private(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def pem_public(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@cache
def private_key(algorithm: str, which: int = 0) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    """A fresh key per (algorithm, which), generated once per test run."""
    if algorithm.startswith("RS"):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP384R1() if algorithm == "ES384" else ec.SECP256R1())


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: Any) -> str:
    return b64(json.dumps(value).encode())


def hs_sign(signing_input: str, key: bytes | str = SECRET, digest: Callable[..., Any] = hashlib.sha256) -> str:
    material = key.encode() if isinstance(key, str) else key
    return b64(hmac.new(material, signing_input.encode(), digest).digest())


def non_canonical(data: bytes) -> str:
    """base64url of data whose last character sets bits the decoder ignores (same bytes, other text)."""
    text = b64(data)
    assert len(text) % 4 in (2, 3)
    shifted = text[:-1] + chr(ord(text[-1]) + 1)
    assert base64.urlsafe_b64decode(shifted + "==") == data
    return shifted


def good_payload(**changes: Any) -> dict[str, Any]:
    """A valid access-token payload at NOW; a change to None removes the claim."""
    payload: dict[str, Any] = {
        "sub": "usr_1",
        "typ": "access",
        "tid": "ten_1",
        "role": "user",
        "tier": "free",
        "email": "a@example.com",
        "perms": ["tenant:read"],
        "sid": "ses_1",
        "jti": "jti_1",
        "iat": NOW,
        "nbf": NOW,
        "exp": NOW + 600,
    }
    for name, value in changes.items():
        if value is None:
            payload.pop(name, None)
        else:
            payload[name] = value
    return payload


def hs_token(
    payload: dict[str, Any] | str | None = None,
    header: dict[str, Any] | str | None = None,
    *,
    key: bytes | str = SECRET,
    signature: str | None = None,
) -> str:
    """An HS256 token built by hand: segments given as dicts (JSON-encoded) or raw strings."""
    head = header if isinstance(header, str) else b64json(header or {"alg": "HS256", "typ": "JWT"})
    body = payload if isinstance(payload, str) else b64json(good_payload() if payload is None else payload)
    signing_input = f"{head}.{body}"
    return f"{signing_input}.{hs_sign(signing_input, key) if signature is None else signature}"


@dataclass
class Setup:
    settings: Settings
    keys: Keys
    issuer: TokenIssuer
    verifier: TokenVerifier
    revocations: RevocationSet
    clock: Clock


def make(algorithm: str = "HS256", **env: str) -> Setup:
    environ = {"JWT_ALGORITHM": algorithm, "JWT_LEEWAY_SECONDS": str(LEEWAY), **env}
    if algorithm.startswith("HS"):
        environ.setdefault("JWT_SECRET", SECRET)
    else:
        environ.setdefault("JWT_PRIVATE_KEY", pem_private(private_key(algorithm)))
    settings = Settings.from_env(environ)
    keys = Keys.from_settings(settings)
    clock = Clock()
    revocations = RevocationSet(clock=clock)
    return Setup(
        settings,
        keys,
        TokenIssuer(keys, settings, clock=clock),
        TokenVerifier(keys, settings, revocations, clock=clock),
        revocations,
        clock,
    )


def reason_of(verifier: TokenVerifier, token: Any, typ: str = "access") -> str:
    with pytest.raises(TokenError) as info:
        verifier.verify(token, typ=typ)
    assert info.value.reason in REASONS
    return info.value.reason


# -- every refusal, HS256 -----------------------------------------------------

NONE_CASINGS = ["none", "None", "NONE", "nOnE", "NoNe"]

HS_CASES: list[Any] = [
    # size and shape
    pytest.param("a" * 8193, "too_large", id="too-large-junk"),
    pytest.param(hs_token(good_payload(email="x" * 9000)), "too_large", id="too-large-signed"),
    pytest.param("é" * 4100, "too_large", id="too-large-in-bytes"),
    pytest.param("", "malformed", id="empty"),
    pytest.param("abc", "malformed", id="one-segment"),
    pytest.param("abc.def", "malformed", id="two-segments"),
    pytest.param(hs_token() + ".abc", "malformed", id="four-segments"),
    pytest.param(".".join(["", *hs_token().split(".")[1:]]), "malformed", id="empty-header"),
    pytest.param(hs_token().replace(".", " .", 1), "malformed", id="space"),
    pytest.param("!!!!." + hs_token().split(".", 1)[1], "malformed", id="header-not-base64url"),
    pytest.param(hs_token(header="eyJhbGciOiJIUzI1NiJ9A"), "malformed", id="header-bad-length"),
    pytest.param(hs_token(header=non_canonical(b'{"alg":"HS256"} ')), "malformed", id="header-not-canonical"),
    pytest.param(hs_token(payload=non_canonical(json.dumps(good_payload()).encode() + b" ")), "malformed",
                 id="payload-not-canonical"),
    pytest.param(hs_token()[:-1] + chr(ord(hs_token()[-1]) + 1), "malformed", id="signature-not-canonical"),
    pytest.param("é" + hs_token(), "malformed", id="non-ascii"),
    pytest.param(hs_token(header=b64(b"not json")), "malformed", id="header-not-json"),
    pytest.param(hs_token(header=b64json(["HS256"])), "malformed", id="header-a-list"),
    pytest.param(hs_token(header=b64json("HS256")), "malformed", id="header-a-string"),
    pytest.param(hs_token(header={"alg": "HS256", "crit": ["exp"], "exp": 1}), "malformed", id="crit-header"),
    pytest.param(hs_token(header={"alg": "HS256", "b64": False, "crit": ["b64"]}), "malformed", id="b64-false"),
    pytest.param(hs_token(payload=b64(b"not json")), "malformed", id="payload-not-json"),
    pytest.param(hs_token(payload=b64json([1, 2])), "malformed", id="payload-a-list"),
    pytest.param(hs_token(payload=b64(b'{"sub":"u","typ":"access","iat":1,"exp":NaN}')), "malformed",
                 id="exp-nan"),
    pytest.param(hs_token(payload=b64(b'{"sub":"u","typ":"access","iat":1,"exp":Infinity}')), "malformed",
                 id="exp-infinity"),
    pytest.param(hs_token(good_payload(exp="soon")), "malformed", id="exp-a-string"),
    pytest.param(hs_token(good_payload(exp=True)), "malformed", id="exp-a-bool"),
    pytest.param(hs_token(good_payload(exp=10**400)), "malformed", id="exp-overflows"),
    pytest.param(hs_token(good_payload(sub=42)), "malformed", id="sub-a-number"),
    pytest.param(hs_token(good_payload(perms="admin")), "malformed", id="perms-a-string"),
    pytest.param(hs_token(good_payload(perms=["a", 1])), "malformed", id="perms-not-strings"),
    pytest.param(hs_token(good_payload(role=["admin"])), "malformed", id="role-a-list"),
    pytest.param(hs_token(good_payload(aud=7)), "malformed", id="aud-a-number"),
    pytest.param(hs_token(signature="A"), "malformed", id="signature-bad-length"),
    # algorithm
    *[
        pytest.param(hs_token(header={"alg": alg, "typ": "JWT"}, signature=""), "algorithm", id=f"alg-{alg}-unsigned")
        for alg in NONE_CASINGS
    ],
    *[
        pytest.param(hs_token(header={"alg": alg, "typ": "JWT"}), "algorithm", id=f"alg-{alg}-signed")
        for alg in NONE_CASINGS
    ],
    pytest.param(hs_token(header={"alg": "HS512"}, key=SECRET), "algorithm", id="alg-hs512-not-allowed"),
    pytest.param(hs_token(header={"alg": "hs256"}), "algorithm", id="alg-lower-case"),
    pytest.param(hs_token(header={"alg": "RS256"}), "algorithm", id="alg-rs256"),
    pytest.param(hs_token(header={"typ": "JWT"}), "algorithm", id="alg-missing"),
    pytest.param(hs_token(header={"alg": ["HS256"]}), "algorithm", id="alg-a-list"),
    pytest.param(hs_token(header={"alg": ""}), "algorithm", id="alg-empty"),
    # signature and kid
    pytest.param(hs_token(key=OTHER_SECRET), "signature", id="other-secret"),
    pytest.param(hs_token(signature=hs_sign("x.y")), "signature", id="signature-of-something-else"),
    pytest.param(hs_token(signature=""), "signature", id="signature-empty"),
    pytest.param(hs_token(header={"alg": "HS256", "kid": "nope"}), "signature", id="kid-unknown"),
    pytest.param(hs_token(header={"alg": "HS256", "kid": 7}), "signature", id="kid-not-a-string"),
    # required claims
    pytest.param(hs_token(good_payload(exp=None)), "missing_claim", id="exp-missing"),
    pytest.param(hs_token(good_payload(iat=None)), "missing_claim", id="iat-missing"),
    pytest.param(hs_token(good_payload(sub=None)), "missing_claim", id="sub-missing"),
    pytest.param(hs_token(good_payload(sub="")), "missing_claim", id="sub-empty"),
    pytest.param(hs_token(good_payload(typ=None)), "missing_claim", id="typ-missing"),
    # times, leeway 30 s
    pytest.param(hs_token(good_payload(exp=NOW - LEEWAY)), "expired", id="exp-at-leeway-edge"),
    pytest.param(hs_token(good_payload(exp=NOW - 3600)), "expired", id="exp-long-ago"),
    pytest.param(hs_token(good_payload(nbf=NOW + LEEWAY + 1)), "not_yet_valid", id="nbf-past-leeway"),
    pytest.param(hs_token(good_payload(iat=NOW + LEEWAY + 1)), "issued_in_future", id="iat-past-leeway"),
    # type
    pytest.param(hs_token(good_payload(typ="refresh")), "wrong_type", id="refresh-as-access"),
    pytest.param(hs_token(good_payload(typ="id")), "wrong_type", id="unknown-typ"),
]


@pytest.mark.parametrize(("token", "reason"), HS_CASES)
def test_hs256_refusals(token: str, reason: str) -> None:
    assert reason_of(make().verifier, token) == reason


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(good_payload(), id="baseline"),
        pytest.param(good_payload(exp=NOW - LEEWAY + 1), id="exp-inside-leeway"),
        pytest.param(good_payload(nbf=NOW + LEEWAY), id="nbf-inside-leeway"),
        pytest.param(good_payload(iat=NOW + LEEWAY, nbf=None), id="iat-inside-leeway"),
        pytest.param(good_payload(nbf=None, perms=None, tid=None, role=None, tier=None, email=None, sid=None,
                                  jti=None), id="only-required-claims"),
        pytest.param(good_payload(iat=int(NOW), exp=int(NOW) + 60), id="integer-times"),
        pytest.param(good_payload(aud=["x", "y"], iss="anyone"), id="iss-aud-not-configured"),
    ],
)
def test_hs256_accepted(payload: dict[str, Any]) -> None:
    claims = make().verifier.verify(hs_token(payload))
    assert claims.sub == payload["sub"]
    assert claims.exp == payload["exp"]
    assert claims.nbf == payload.get("nbf", payload["iat"])


def test_defaults_of_optional_claims() -> None:
    payload = good_payload(nbf=None, perms=None, tid=None, role=None, tier=None, email=None, sid=None, jti=None)
    claims = make().verifier.verify(hs_token(payload))
    assert (claims.tid, claims.role, claims.tier, claims.email, claims.sid, claims.jti) == (
        "", "user", "free", "", "", ""
    )
    assert claims.perms == frozenset()


def test_zero_leeway_edges() -> None:
    s = make(JWT_LEEWAY_SECONDS="0")
    assert reason_of(s.verifier, hs_token(good_payload(exp=NOW))) == "expired"
    assert s.verifier.verify(hs_token(good_payload(exp=NOW + 0.5))).exp == NOW + 0.5
    assert reason_of(s.verifier, hs_token(good_payload(nbf=NOW + 0.5))) == "not_yet_valid"
    assert reason_of(s.verifier, hs_token(good_payload(iat=NOW + 0.5, nbf=None))) == "issued_in_future"
    assert s.verifier.verify(hs_token(good_payload(iat=NOW, nbf=NOW))).iat == NOW


def test_expiry_follows_the_clock() -> None:
    s = make()
    token, claims = s.issuer.issue(typ="access", sub="usr_1", lifetime=60)
    s.clock.now = claims.exp + LEEWAY - 0.001
    assert s.verifier.verify(token) == claims
    s.clock.now = claims.exp + LEEWAY
    assert reason_of(s.verifier, token) == "expired"


def test_non_string_token_and_unknown_typ() -> None:
    s = make()
    token, _ = s.issuer.issue(typ="access", sub="usr_1")
    assert reason_of(s.verifier, token.encode()) == "malformed"
    assert reason_of(s.verifier, None) == "malformed"
    with pytest.raises(ValueError, match="typ"):
        s.verifier.verify(token, typ="id")
    with pytest.raises(ValueError, match="typ"):
        s.issuer.issue(typ="id", sub="usr_1")


def test_a_cached_header_does_not_excuse_a_bad_signature() -> None:
    s = make()
    token, _ = s.issuer.issue(typ="access", sub="usr_1")
    s.verifier.verify(token)
    head, body, _sig = token.split(".")
    forged_body = b64json(good_payload(sub="usr_admin", role="admin"))
    assert reason_of(s.verifier, f"{head}.{forged_body}.{_sig}") == "signature"
    assert reason_of(s.verifier, f"{head}.{body}.{hs_sign('x', OTHER_SECRET)}") == "signature"


def test_header_cache_stays_bounded() -> None:
    s = make()
    for n in range(500):
        token = hs_token(header={"alg": "HS256", "typ": "JWT", "n": n})
        assert s.verifier.verify(token).sub == "usr_1"
    assert len(s.verifier._headers) <= 64


# -- issuer / audience ------------------------------------------------------------


def test_issuer_and_audience_when_configured() -> None:
    s = make(JWT_ISSUER="https://auth.agentmesh.test", JWT_AUDIENCE="agentmesh")
    iss, aud = "https://auth.agentmesh.test", "agentmesh"
    ok = good_payload(iss=iss, aud=aud)
    assert s.verifier.verify(hs_token(ok)).aud == aud
    assert s.verifier.verify(hs_token(good_payload(iss=iss, aud=["other", aud]))).aud == aud
    cases = {
        "issuer": [
            good_payload(aud=aud),
            good_payload(iss="https://evil.test", aud=aud),
            good_payload(iss="", aud=aud),
        ],
        "audience": [good_payload(iss=iss), good_payload(iss=iss, aud="other"), good_payload(iss=iss, aud=["other"]),
                     good_payload(iss=iss, aud=[])],
    }
    for reason, payloads in cases.items():
        for payload in payloads:
            assert reason_of(s.verifier, hs_token(payload)) == reason, payload


def test_issued_tokens_carry_issuer_and_audience() -> None:
    s = make(JWT_ISSUER="agentmesh-auth", JWT_AUDIENCE="agentmesh")
    token, claims = s.issuer.issue(typ="access", sub="usr_1")
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert (payload["iss"], payload["aud"]) == ("agentmesh-auth", "agentmesh")
    assert s.verifier.verify(token) == claims
    other = make(JWT_ISSUER="someone-else")
    assert reason_of(other.verifier, token) == "issuer"


# -- type swap --------------------------------------------------------------------


def test_refresh_and_access_cannot_stand_in_for_each_other() -> None:
    s = make()
    access, _ = s.issuer.issue(typ="access", sub="usr_1")
    refresh, _ = s.issuer.issue(typ="refresh", sub="usr_1", sid="ses_1")
    assert s.verifier.verify(access).typ == "access"
    assert s.verifier.verify(refresh, typ="refresh").typ == "refresh"
    assert reason_of(s.verifier, refresh) == "wrong_type"
    assert reason_of(s.verifier, access, typ="refresh") == "wrong_type"


def test_default_lifetimes() -> None:
    s = make(JWT_EXPIRATION_MINUTES="15", REFRESH_TOKEN_EXPIRE_DAYS="3")
    _, access = s.issuer.issue(typ="access", sub="u")
    _, refresh = s.issuer.issue(typ="refresh", sub="u")
    assert access.exp - access.iat == 15 * 60
    assert refresh.exp - refresh.iat == 3 * 86400
    _, short = s.issuer.issue(typ="access", sub="u", lifetime=5)
    assert short.exp - short.iat == 5
    assert TOKEN_TYPES == ("access", "refresh")


# -- round trips for every algorithm -------------------------------------------------

ALGORITHMS = ["HS256", "HS384", "HS512", "RS256", "ES256"]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_round_trip(algorithm: str) -> None:
    s = make(algorithm, JWT_ISSUER="agentmesh-auth", JWT_AUDIENCE="agentmesh")
    token, claims = s.issuer.issue(
        typ="access", sub="usr_9", tid="ten_9", role="admin", tier="pro", email="é@example.com",
        perms=["tenant:read", "tenant:write", "tenant:read"], sid="ses_9", jti="jti_9",
    )
    assert claims == Claims(
        sub="usr_9", tid="ten_9", role="admin", tier="pro", email="é@example.com",
        perms=frozenset({"tenant:read", "tenant:write"}), sid="ses_9", jti="jti_9",
        iat=NOW, nbf=NOW, exp=NOW + 30 * 60, typ="access", iss="agentmesh-auth", aud="agentmesh",
    )
    assert s.verifier.verify(token) == claims
    header = jwt.get_unverified_header(token)
    assert header == {"alg": algorithm, "kid": s.keys.kid, "typ": "JWT"}
    assert s.keys.algorithm == algorithm


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_tampering_and_foreign_keys(algorithm: str) -> None:
    s = make(algorithm)
    token, _ = s.issuer.issue(typ="access", sub="usr_1", role="user")
    head, _body, sig = token.split(".")
    forged = b64json(good_payload(role="admin"))
    assert reason_of(s.verifier, f"{head}.{forged}.{sig}") == "signature"
    # The same kid in the header, but a key of the attacker's own.
    if algorithm.startswith("HS"):
        foreign = Keys.hmac(algorithm, OTHER_SECRET)
    else:
        foreign = Keys.asymmetric(algorithm, private_key=pem_private(private_key(algorithm, 1)))
    attacker = TokenIssuer(foreign, s.settings, clock=s.clock)
    attacker._header = head  # sign under the victim's header, kid included
    assert reason_of(s.verifier, attacker.issue(typ="access", sub="usr_1")[0]) == "signature"
    assert reason_of(s.verifier, TokenIssuer(foreign, s.settings, clock=s.clock).issue(typ="access", sub="u")[0]) == (
        "signature"
    )


def test_unique_jti_per_token() -> None:
    s = make()
    jtis = {s.issuer.issue(typ="access", sub="u")[1].jti for _ in range(50)}
    assert len(jtis) == 50
    assert all(len(j) == 32 for j in jtis)


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_asymmetric_refusals(algorithm: str) -> None:
    s = make(algorithm)
    token, _ = s.issuer.issue(typ="access", sub="usr_1")
    head, body, sig = token.split(".")
    for alg in NONE_CASINGS:
        unsigned = f"{b64json({'alg': alg, 'typ': 'JWT'})}.{body}."
        assert reason_of(s.verifier, unsigned) == "algorithm"
    other = "RS384" if algorithm == "RS256" else "ES384"
    assert reason_of(s.verifier, f"{b64json({'alg': other, 'kid': s.keys.kid})}.{body}.{sig}") == "algorithm"
    assert reason_of(s.verifier, f"{b64json({'alg': algorithm, 'kid': 'x'})}.{body}.{sig}") == "signature"
    assert reason_of(s.verifier, f"{head}.{body}.{sig[:-4]}") in ("signature", "malformed")
    assert reason_of(s.verifier, f"{head}.{body}.") == "signature"


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
@pytest.mark.parametrize("hs", ["HS256", "HS384", "HS512"])
def test_key_confusion_is_refused(algorithm: str, hs: str) -> None:
    """An HS token MACed with the public key's PEM bytes (what a naive verifier would accept)."""
    s = make(algorithm)
    public = pem_public(private_key(algorithm)).encode()
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[hs]
    for header in ({"alg": hs, "typ": "JWT"}, {"alg": hs, "typ": "JWT", "kid": s.keys.kid}):
        signing_input = f"{b64json(header)}.{b64json(good_payload(role='admin'))}"
        forged = f"{signing_input}.{hs_sign(signing_input, public, digest)}"
        assert reason_of(s.verifier, forged) == "algorithm"


# -- keys: settings, rotation, JWKS ----------------------------------------------------


def thumbprint(jwk: dict[str, Any]) -> str:
    required = ("crv", "kty", "x", "y") if jwk["kty"] == "EC" else ("e", "kty", "n")
    canonical = json.dumps({k: jwk[k] for k in required}, separators=(",", ":"), sort_keys=True).encode()
    return b64(hashlib.sha256(canonical).digest())


@pytest.mark.parametrize(("algorithm", "members"), [("RS256", {"n", "e"}), ("ES256", {"crv", "x", "y"})])
def test_jwks(algorithm: str, members: set[str]) -> None:
    s = make(algorithm)
    token, claims = s.issuer.issue(typ="access", sub="usr_1", perms=["a"])
    (jwk,) = s.keys.jwks()
    assert set(jwk) == {"kty", "kid", "alg", "use"} | members
    assert (jwk["kty"], jwk["alg"], jwk["use"]) == ("RSA" if algorithm == "RS256" else "EC", algorithm, "sig")
    if algorithm == "ES256":
        assert jwk["crv"] == "P-256"
    assert jwk["kid"] == jwt.get_unverified_header(token)["kid"] == s.keys.kid
    assert thumbprint(jwk).startswith(jwk["kid"]) and len(jwk["kid"]) == 16
    # A client holding only the JWK can check the signature.
    payload = jwt.api_jws.PyJWS().decode(token, key=jwt.PyJWK(jwk), algorithms=[algorithm])
    assert json.loads(payload)["sub"] == claims.sub
    with pytest.raises(jwt.InvalidSignatureError):
        head, _, sig = token.split(".")
        jwt.api_jws.PyJWS().decode(f"{head}.{b64json({'sub': 'x'})}.{sig}", key=jwt.PyJWK(jwk), algorithms=[algorithm])
    # The JWKS is a copy; editing it changes nothing.
    jwk["kid"] = "changed"
    assert s.keys.jwks()[0]["kid"] == s.keys.kid


def test_hmac_has_no_jwks_and_a_stable_kid() -> None:
    a, b = make(), make()
    assert a.keys.jwks() == []
    assert a.keys.kid == b.keys.kid
    assert a.keys.kid != Keys.hmac("HS256", OTHER_SECRET).kid
    assert SECRET not in a.keys.kid


def test_verify_only_process_with_public_key(tmp_path: Path) -> None:
    signer = make("RS256")
    path = tmp_path / "public.pem"
    path.write_text(pem_public(private_key("RS256")))
    settings = Settings.from_env({"JWT_ALGORITHM": "RS256", "JWT_PUBLIC_KEY_FILE": str(path)})
    keys = Keys.from_settings(settings)
    assert keys.kid == signer.keys.kid and not keys.can_sign
    token, claims = signer.issuer.issue(typ="access", sub="usr_1")
    assert TokenVerifier(keys, settings, clock=signer.clock).verify(token) == claims
    with pytest.raises(SettingsError, match="JWT_PRIVATE_KEY"):
        TokenIssuer(keys, settings)


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_rotation_old_public_key_still_verifies(algorithm: str) -> None:
    old = make(algorithm, JWT_PRIVATE_KEY=pem_private(private_key(algorithm, 1)))
    old_token, old_claims = old.issuer.issue(typ="access", sub="usr_1")
    new = make(
        algorithm,
        JWT_PUBLIC_KEY=pem_public(private_key(algorithm)) + "\n" + pem_public(private_key(algorithm, 1)),
    )
    assert new.keys.kid != old.keys.kid
    assert len(new.keys.jwks()) == 2 and {j["kid"] for j in new.keys.jwks()} == set(new.keys.kids)
    assert new.verifier.verify(old_token) == old_claims
    assert new.verifier.verify(new.issuer.issue(typ="access", sub="u")[0]).sub == "u"


def test_hmac_rotation() -> None:
    old = make(JWT_SECRET=OTHER_SECRET)
    token, claims = old.issuer.issue(typ="access", sub="usr_1")
    keys = Keys.hmac("HS256", SECRET, OTHER_SECRET)
    assert TokenVerifier(keys, old.settings, clock=old.clock).verify(token) == claims
    assert reason_of(make().verifier, token) == "signature"


def test_unusable_keys_are_refused_at_start() -> None:
    rsa_small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    p384 = ec.generate_private_key(ec.SECP384R1())
    cases = [
        ("RS256", {"JWT_PRIVATE_KEY": pem_private(private_key("ES256"))}, "JWT_PRIVATE_KEY"),
        ("ES256", {"JWT_PRIVATE_KEY": pem_private(private_key("RS256"))}, "JWT_PRIVATE_KEY"),
        ("ES256", {"JWT_PRIVATE_KEY": pem_private(p384)}, "JWT_PRIVATE_KEY"),
        ("ES256", {"JWT_PUBLIC_KEY": pem_public(p384)}, "JWT_PUBLIC_KEY"),
        ("RS256", {"JWT_PRIVATE_KEY": pem_private(rsa_small)}, "2048"),
        ("RS256", {"JWT_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"}, "JWT_PUBLIC_KEY"),
    ]
    for algorithm, env, mentions in cases:
        settings = Settings.from_env({"JWT_ALGORITHM": algorithm, **env})
        with pytest.raises(SettingsError, match=mentions):
            Keys.from_settings(settings)
    with pytest.raises(SettingsError, match="32 bytes"):
        Keys.hmac("HS256", "short")


# -- revocation ---------------------------------------------------------------------


def test_revoked_session() -> None:
    s = make()
    token, _ = s.issuer.issue(typ="access", sub="usr_1", sid="ses_1")
    other, _ = s.issuer.issue(typ="access", sub="usr_1", sid="ses_2")
    s.revocations.revoke_session("ses_1", NOW + 100)
    assert reason_of(s.verifier, token) == "revoked"
    assert s.verifier.verify(other).sid == "ses_2"
    assert s.verifier.verify(token, check_revoked=False).sid == "ses_1"


def test_revoked_user_refuses_only_tokens_issued_before() -> None:
    s = make()
    s.clock.now = NOW - 1
    before, _ = s.issuer.issue(typ="access", sub="usr_1")
    s.clock.now = NOW
    s.revocations.revoke_user("usr_1", NOW, NOW + 100)
    at, _ = s.issuer.issue(typ="access", sub="usr_1")
    s.clock.now = NOW + 0.001
    after, _ = s.issuer.issue(typ="refresh", sub="usr_1")
    someone_else = make().issuer.issue(typ="access", sub="usr_2")[0]
    s.clock.now = NOW + 1
    assert reason_of(s.verifier, before) == "revoked"
    assert s.verifier.verify(at).iat == NOW
    assert s.verifier.verify(after, typ="refresh").iat == NOW + 0.001
    assert s.verifier.verify(someone_else).sub == "usr_2"
    # A later revocation of the same user moves the cut-off forward, never back.
    s.revocations.revoke_user("usr_1", NOW + 0.5, NOW + 100)
    s.revocations.revoke_user("usr_1", NOW - 10, NOW + 50)
    assert reason_of(s.verifier, at) == "revoked"
    assert reason_of(s.verifier, after, typ="refresh") == "revoked"


def test_revoked_token_by_jti() -> None:
    s = make()
    token, claims = s.issuer.issue(typ="access", sub="usr_1")
    s.revocations.revoke_token(claims.jti, claims.exp)
    assert reason_of(s.verifier, token) == "revoked"


def test_revocations_expire_and_are_pruned() -> None:
    clock = Clock()
    rs = RevocationSet(clock=clock)
    rs.revoke_session("ses_1", NOW + 10)
    rs.revoke_user("usr_1", NOW, NOW + 10)
    rs.revoke_api_key("key_1", NOW + 10)
    rs.revoke_api_key("key_2", NOW + 1000)
    assert len(rs) == 4
    claims = Claims(sub="usr_1", tid="", role="user", tier="free", email="", perms=frozenset(), sid="ses_1",
                    jti="j", iat=NOW - 5, nbf=NOW - 5, exp=NOW + 60, typ="access")
    assert rs.is_revoked(claims)
    assert rs.is_revoked(replace(claims, sid=""))  # by the user entry alone
    assert rs.api_key_revoked("key_1") and not rs.api_key_revoked("key_3")
    clock.now = NOW + 10
    assert not rs.is_revoked(claims)
    assert not rs.api_key_revoked("key_1")
    assert rs.api_key_revoked("key_2")
    assert len(rs) == 1


def test_revocation_set_sweeps_when_growing() -> None:
    clock = Clock()
    rs = RevocationSet(clock=clock)
    for n in range(1000):
        rs.revoke_session(f"ses_{n}", NOW + 5)
    clock.now = NOW + RevocationSet.SWEEP_INTERVAL + 1
    rs.revoke_session("ses_new", NOW + 1000)
    assert len(rs._sessions) == 1
    assert rs.prune() == 0


def test_empty_ids_are_ignored() -> None:
    rs = RevocationSet(clock=Clock())
    rs.revoke_session("", NOW + 10)
    rs.revoke_user("", NOW, NOW + 10)
    rs.revoke_api_key("", NOW + 10)
    assert len(rs) == 0
    s = make()
    token, _ = s.issuer.issue(typ="access", sub="usr_1")  # no sid
    s.revocations.revoke_session("ses_1", NOW + 10)
    assert s.verifier.verify(token).sid == ""


def test_token_error_carries_reason_and_message() -> None:
    err = TokenError("expired", "the token has expired")
    assert (err.reason, str(err)) == ("expired", "expired: the token has expired")
    assert isinstance(err, Exception)
