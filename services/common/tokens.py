"""JSON Web Tokens: the one place the edge and every unit issue and verify them.

:class:`Keys` holds the configured algorithm's signing key and the keys that
verify (by ``kid``), parsed once. :class:`TokenIssuer` mints access and refresh
tokens. :class:`TokenVerifier` checks one on every request, so it is written
for speed: the structural checks, the header (cached per distinct header
segment) and the claims are handled here; the signature itself is computed by
PyJWT's algorithm object with the key prepared once, which skips the per-call
key preparation and option merging a plain ``jwt.decode`` repeats.
:class:`RevocationSet` is what a process knows of revoked sessions, users and
API keys (fed by the auth unit).

Every refusal is a :class:`TokenError` whose ``reason`` says which rule failed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey, EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key
from jwt.algorithms import Algorithm, get_default_algorithms
from jwt.exceptions import PyJWTError

from services.common.settings import Settings, SettingsError

TOKEN_TYPES: Final = ("access", "refresh")
REASONS: Final = (
    "malformed",
    "too_large",
    "algorithm",
    "signature",
    "expired",
    "not_yet_valid",
    "issued_in_future",
    "missing_claim",
    "issuer",
    "audience",
    "wrong_type",
    "revoked",
)
MAX_TOKEN_BYTES: Final = 8192
SUPPORTED_ALGORITHMS: Final = ("HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384")
MIN_RSA_BITS: Final = 2048

# Three base64url segments; the signature may be empty so that an unsigned
# ("alg": "none") token is refused for its algorithm, not for its shape.
_COMPACT = re.compile(r"([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]*)")
_PADDING = ("", "", "==", "=")
_URLSAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
# A canonical base64url segment leaves the unused low bits of its last character at zero.
_CANONICAL_LAST = (None, None, frozenset("AQgw"), frozenset("AEIMQUYcgkosw048"))
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----", re.DOTALL)
_HEADER_CACHE_SIZE = 64
# Tokens whose signature and claims already passed, kept until they expire: a client sends the same
# token on every request. Revocation is still checked on every call.
_VERIFIED_CACHE_SIZE = 10_000


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# NaN and Infinity are not JSON; a token carrying them is malformed.
_JSON = json.JSONDecoder(parse_constant=_reject_constant)
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode


class TokenError(Exception):
    """A token was refused; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


@dataclass(frozen=True, slots=True)
class Claims:
    """The verified content of a token."""

    sub: str
    tid: str
    role: str
    tier: str
    email: str
    perms: frozenset[str]
    sid: str
    jti: str
    iat: float
    nbf: float
    exp: float
    typ: str
    iss: str = ""
    aud: str = ""


# -- encoding helpers ------------------------------------------------------


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(segment: str, what: str) -> bytes:
    """Decode a segment already known to hold only base64url characters."""
    rem = len(segment) & 3
    if rem == 1:
        raise TokenError("malformed", f"the {what} is not valid base64url")
    last = _CANONICAL_LAST[rem]
    if last is not None and segment[-1] not in last:
        raise TokenError("malformed", f"the {what} is not canonical base64url")
    # The characters were checked by _COMPACT, so the lenient decoder is exact here.
    return binascii.a2b_base64((segment + _PADDING[rem]).encode("ascii").translate(_URLSAFE_TO_STANDARD))


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = _JSON.decode(data.decode("utf-8"))
    except (ValueError, RecursionError):
        raise TokenError("malformed", f"the {what} is not JSON") from None
    if type(value) is not dict:
        raise TokenError("malformed", f"the {what} is not a JSON object")
    return value


def _thumbprint(members: Mapping[str, str]) -> str:
    """A short key id: the start of the RFC 7638 SHA-256 thumbprint of the public JWK members."""
    canonical = json.dumps(dict(sorted(members.items())), separators=(",", ":")).encode()
    return _b64encode(hashlib.sha256(canonical).digest())[:16]


# -- keys ------------------------------------------------------------------


class Keys:
    """Signing key + verification keys for one algorithm (HS256/HS384/HS512/RS256/ES256; also RS384/RS512/ES384).

    Keys are parsed and prepared once here. ``kid`` is the id of the key that
    signs (or, for a verify-only process, of the first public key); tokens
    whose header names another known ``kid`` verify with that key, which is
    how a key is rotated without logging everybody out.
    """

    __slots__ = ("_jwks", "_signing_key", "_verifying", "algorithm", "algorithm_object", "kid")

    def __init__(
        self,
        algorithm: str,
        *,
        signing_key: Any,
        verifying_keys: Mapping[str, Any],
        kid: str,
        jwks: Iterable[dict[str, Any]] = (),
    ) -> None:
        """Prefer :meth:`hmac`, :meth:`asymmetric` or :meth:`from_settings`; keys here are prepared ones."""
        if algorithm not in SUPPORTED_ALGORITHMS:
            raise SettingsError(f"JWT_ALGORITHM={algorithm!r}: expected one of {', '.join(SUPPORTED_ALGORITHMS)}")
        if kid not in verifying_keys:
            raise ValueError("the primary kid must be one of the verifying keys")
        self.algorithm: str = algorithm
        self.algorithm_object: Algorithm = get_default_algorithms()[algorithm]
        self.kid: str = kid
        self._signing_key = signing_key
        self._verifying: dict[str, Any] = dict(verifying_keys)
        self._jwks = [dict(jwk) for jwk in jwks]

    @classmethod
    def from_settings(cls, settings: Settings) -> Keys:
        """The keys the settings describe; SettingsError names the variable when a key is unusable."""
        if settings.jwt_algorithm.startswith("HS"):
            return cls.hmac(settings.jwt_algorithm, settings.jwt_secret)
        return cls.asymmetric(
            settings.jwt_algorithm, private_key=settings.jwt_private_key, public_keys=settings.jwt_public_key
        )

    @classmethod
    def hmac(cls, algorithm: str, secret: str | bytes, *retired: str | bytes) -> Keys:
        """HS* keys: ``secret`` signs and verifies; ``retired`` secrets still verify."""
        if not algorithm.startswith("HS") or algorithm not in SUPPORTED_ALGORITHMS:
            raise SettingsError(f"JWT_ALGORITHM={algorithm!r} is not an HMAC algorithm")
        alg = get_default_algorithms()[algorithm]
        prepared: list[bytes] = []
        for raw in (secret, *retired):
            material = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
            if len(material) < 32:
                raise SettingsError("JWT_SECRET: an HMAC secret must be at least 32 bytes")
            try:
                prepared.append(alg.prepare_key(material))
            except PyJWTError as exc:
                raise SettingsError(f"JWT_SECRET: not usable as an HMAC secret ({exc})") from None
        # Domain-separated so the kid says nothing useful about the secret itself.
        kids = [_b64encode(hashlib.sha256(b"agentmesh hmac kid\x00" + key).digest())[:16] for key in prepared]
        verifying: dict[str, bytes] = {}
        for kid, key in zip(kids, prepared, strict=True):
            verifying.setdefault(kid, key)
        return cls(algorithm, signing_key=prepared[0], verifying_keys=verifying, kid=kids[0])

    @classmethod
    def asymmetric(cls, algorithm: str, *, private_key: str | bytes = "", public_keys: str | bytes = "") -> Keys:
        """RS*/ES* keys from PEM text: the private key signs; it and every public PEM block verify."""
        if algorithm[:2] not in ("RS", "ES") or algorithm not in SUPPORTED_ALGORITHMS:
            raise SettingsError(f"JWT_ALGORITHM={algorithm!r} is not an RSA or EC algorithm")
        alg = get_default_algorithms()[algorithm]
        private_pem = private_key.decode() if isinstance(private_key, bytes) else private_key
        public_pem = public_keys.decode() if isinstance(public_keys, bytes) else public_keys
        if not private_pem.strip() and not public_pem.strip():
            raise SettingsError(f"JWT_ALGORITHM={algorithm} needs JWT_PRIVATE_KEY or JWT_PUBLIC_KEY")
        signing: Any = None
        public_objects: list[Any] = []
        if private_pem.strip():
            try:
                loaded = load_pem_private_key(private_pem.encode(), password=None)
                signing = alg.prepare_key(loaded)
            except (ValueError, TypeError, PyJWTError) as exc:
                raise SettingsError(f"JWT_PRIVATE_KEY: not a usable {algorithm} private key ({exc})") from None
            public_objects.append(signing.public_key())
        if public_pem.strip():
            blocks = [m.group(0) for m in _PEM_BLOCK.finditer(public_pem)] or [public_pem]
            for block in blocks:
                try:
                    public_objects.append(alg.prepare_key(load_pem_public_key(block.encode())))
                except (ValueError, TypeError, PyJWTError) as exc:
                    raise SettingsError(f"JWT_PUBLIC_KEY: not a usable {algorithm} public key ({exc})") from None
        verifying: dict[str, Any] = {}
        jwks: list[dict[str, Any]] = []
        for public in public_objects:
            if isinstance(public, RSAPublicKey) and public.key_size < MIN_RSA_BITS:
                raise SettingsError(f"JWT_PRIVATE_KEY/JWT_PUBLIC_KEY: RSA keys must have at least {MIN_RSA_BITS} bits")
            members = _public_members(alg, public)
            kid = _thumbprint(members)
            if kid not in verifying:
                verifying[kid] = public
                jwks.append({**members, "kid": kid, "alg": algorithm, "use": "sig"})
        primary = next(iter(verifying))
        if signing is not None:
            # The private key's own public half verifies what it signs; a public
            # key given alongside must be that same key or an older one.
            primary = _thumbprint(_public_members(alg, signing.public_key()))
        return cls(algorithm, signing_key=signing, verifying_keys=verifying, kid=primary, jwks=jwks)

    @property
    def can_sign(self) -> bool:
        return self._signing_key is not None

    @property
    def signing_key(self) -> Any:
        if self._signing_key is None:
            raise SettingsError(f"JWT_PRIVATE_KEY: this process has no private key to sign {self.algorithm} tokens")
        return self._signing_key

    def verifying_key(self, kid: str | None) -> Any:
        """The prepared key for a header's kid (None: the primary key); None when unknown."""
        return self._verifying.get(self.kid if kid is None else kid)

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(self._verifying)

    def jwks(self) -> list[dict[str, Any]]:
        """The public keys as RFC 7517 JWKs (kty, kid, alg, use, n/e or crv/x/y); [] for HMAC."""
        return [dict(jwk) for jwk in self._jwks]


def _public_members(alg: Algorithm, public: Any) -> dict[str, str]:
    """The required public members of a key's JWK (the ones RFC 7638 thumbprints)."""
    jwk = alg.to_jwk(public, as_dict=True)
    if isinstance(public, (RSAPublicKey, RSAPrivateKey)):
        return {"kty": "RSA", "n": str(jwk["n"]), "e": str(jwk["e"])}
    if isinstance(public, (EllipticCurvePublicKey, EllipticCurvePrivateKey)):
        return {"kty": "EC", "crv": str(jwk["crv"]), "x": str(jwk["x"]), "y": str(jwk["y"])}
    raise SettingsError(f"unsupported key type {type(public).__name__}")


# -- revocations -----------------------------------------------------------


class RevocationSet:
    """Revoked sessions, users (tokens issued before a time), API keys; entries forgotten after expire_at.

    Lookups are dictionary gets; an expired entry met by a lookup is dropped
    then, and the whole set is swept of expired entries at most once a minute
    when something is added, so it cannot grow without bound.
    """

    SWEEP_INTERVAL: Final = 60.0

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._sessions: dict[str, float] = {}  # session id -> expire_at
        self._users: dict[str, tuple[float, float]] = {}  # user id -> (before, expire_at)
        self._api_keys: dict[str, float] = {}  # api key id -> expire_at
        self._tokens: dict[str, float] = {}  # jti -> expire_at
        self._next_sweep = 0.0

    def revoke_session(self, session_id: str, expire_at: float) -> None:
        if session_id:
            self._sessions[session_id] = max(expire_at, self._sessions.get(session_id, expire_at))
            self._maybe_sweep()

    def revoke_user(self, user_id: str, before: float, expire_at: float) -> None:
        """Refuse every token of the user with iat < before, until expire_at."""
        if user_id:
            old = self._users.get(user_id)
            if old is not None:
                before, expire_at = max(before, old[0]), max(expire_at, old[1])
            self._users[user_id] = (before, expire_at)
            self._maybe_sweep()

    def revoke_api_key(self, api_key_id: str, expire_at: float) -> None:
        if api_key_id:
            self._api_keys[api_key_id] = max(expire_at, self._api_keys.get(api_key_id, expire_at))
            self._maybe_sweep()

    def revoke_token(self, jti: str, expire_at: float) -> None:
        """Refuse one token by its jti (expire_at: its exp)."""
        if jti:
            self._tokens[jti] = max(expire_at, self._tokens.get(jti, expire_at))
            self._maybe_sweep()

    def is_revoked(self, claims: Claims) -> bool:
        if self._sessions and claims.sid:
            until = self._sessions.get(claims.sid)
            if until is not None:
                if until > self._clock():
                    return True
                self._sessions.pop(claims.sid, None)
        if self._users:
            entry = self._users.get(claims.sub)
            if entry is not None:
                if entry[1] > self._clock():
                    if claims.iat < entry[0]:
                        return True
                else:
                    self._users.pop(claims.sub, None)
        if self._tokens and claims.jti:
            until = self._tokens.get(claims.jti)
            if until is not None:
                if until > self._clock():
                    return True
                self._tokens.pop(claims.jti, None)
        return False

    def api_key_revoked(self, api_key_id: str) -> bool:
        until = self._api_keys.get(api_key_id)
        if until is None:
            return False
        if until > self._clock():
            return True
        self._api_keys.pop(api_key_id, None)
        return False

    def prune(self) -> int:
        """Forget every expired entry now; returns how many went."""
        now = self._clock()
        self._next_sweep = now + self.SWEEP_INTERVAL
        removed = 0
        for table in (self._sessions, self._api_keys, self._tokens):
            stale = [key for key, until in list(table.items()) if until <= now]
            for key in stale:
                table.pop(key, None)
            removed += len(stale)
        stale_users = [key for key, (_, until) in list(self._users.items()) if until <= now]
        for key in stale_users:
            self._users.pop(key, None)
        return removed + len(stale_users)

    def _maybe_sweep(self) -> None:
        if self._clock() >= self._next_sweep:
            self.prune()

    def __len__(self) -> int:
        self.prune()
        return len(self._sessions) + len(self._users) + len(self._api_keys) + len(self._tokens)


# -- issuing ---------------------------------------------------------------


class TokenIssuer:
    """Mints signed access and refresh tokens."""

    def __init__(self, keys: Keys, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        self.keys = keys
        self._clock = clock
        self._sign = keys.algorithm_object.sign
        self._key = keys.signing_key  # fails here, at start, when this process cannot sign
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._lifetimes = {
            "access": float(settings.jwt_expiration_minutes * 60),
            "refresh": float(settings.refresh_expiration_days * 86400),
        }
        header = {"alg": keys.algorithm, "kid": keys.kid, "typ": "JWT"}
        self._header = _b64encode(_dumps(header).encode("ascii"))

    def issue(
        self,
        *,
        typ: str,
        sub: str,
        tid: str = "",
        role: str = "user",
        tier: str = "free",
        email: str = "",
        perms: Iterable[str] = (),
        sid: str = "",
        jti: str | None = None,
        lifetime: float | None = None,
    ) -> tuple[str, Claims]:
        """A new signed token and its claims. iat/nbf are now (sub-second), exp = iat + lifetime."""
        if typ not in TOKEN_TYPES:
            raise ValueError(f"typ must be one of {TOKEN_TYPES}, not {typ!r}")
        if isinstance(perms, str):
            raise TypeError("perms must be an iterable of permission names, not one string")
        if not sub:
            raise ValueError("a token needs a subject (sub)")
        span = self._lifetimes[typ] if lifetime is None else float(lifetime)
        if not span > 0:
            raise ValueError("a token lifetime must be positive")
        now = self._clock()
        claims = Claims(
            sub=sub,
            tid=tid,
            role=role,
            tier=tier,
            email=email,
            perms=frozenset(perms),
            sid=sid,
            jti=jti or uuid.uuid4().hex,
            iat=now,
            nbf=now,
            exp=now + span,
            typ=typ,
            iss=self._issuer,
            aud=self._audience,
        )
        payload: dict[str, Any] = {
            "sub": claims.sub,
            "typ": claims.typ,
            "tid": claims.tid,
            "role": claims.role,
            "tier": claims.tier,
            "email": claims.email,
            "perms": sorted(claims.perms),
            "sid": claims.sid,
            "jti": claims.jti,
            "iat": claims.iat,
            "nbf": claims.nbf,
            "exp": claims.exp,
        }
        if claims.iss:
            payload["iss"] = claims.iss
        if claims.aud:
            payload["aud"] = claims.aud
        signing_input = f"{self._header}.{_b64encode(_dumps(payload).encode('ascii'))}"
        signature = self._sign(signing_input.encode("ascii"), self._key)
        return f"{signing_input}.{_b64encode(signature)}", claims


# -- verifying -------------------------------------------------------------


def _number(payload: dict[str, Any], name: str) -> float | None:
    value = payload.get(name)
    if value is None:
        return None
    kind = type(value)
    if kind is float:
        if math.isfinite(value):
            return value  # type: ignore[no-any-return]
    elif kind is int:
        try:
            return float(value)
        except OverflowError:
            pass
    raise TokenError("malformed", f"the {name} claim is not a finite number")


def _text(payload: dict[str, Any], name: str, default: str) -> str:
    value = payload.get(name, default)
    if type(value) is not str:
        if value is None:
            return default
        raise TokenError("malformed", f"the {name} claim is not a string")
    return value


class TokenVerifier:
    """Checks a token's shape, algorithm, signature, times, issuer, audience, type and revocation."""

    def __init__(
        self,
        keys: Keys,
        settings: Settings,
        revocations: RevocationSet | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys = keys
        self.revocations = revocations
        self._clock = clock
        self._algorithm = keys.algorithm
        self._verify_signature = keys.algorithm_object.verify
        self._leeway = float(settings.jwt_leeway_seconds)
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        # header segment -> prepared verifying key, for headers that passed every check.
        self._headers: dict[str, Any] = {}
        # token text -> its claims, for tokens that passed every check but revocation.
        self._verified: dict[str, Claims] = {}

    def verify(self, token: str, *, typ: str = "access", check_revoked: bool = True) -> Claims:
        """The claims of a valid token of type ``typ``; TokenError (with its reason) otherwise.

        ``check_revoked=False`` skips only the revocation check (for callers
        that need to know whose token a revoked one was).
        """
        known = self._verified.get(token) if type(token) is str else None
        if known is not None and known.typ == typ and known.exp + self._leeway > self._clock():
            if check_revoked and self.revocations is not None and self.revocations.is_revoked(known):
                raise TokenError("revoked", "the token has been revoked")
            return known
        if typ not in TOKEN_TYPES:
            raise ValueError(f"typ must be one of {TOKEN_TYPES}, not {typ!r}")
        if type(token) is not str:
            raise TokenError("malformed", "the token is not a string")
        if len(token) > MAX_TOKEN_BYTES or (not token.isascii() and len(token.encode()) > MAX_TOKEN_BYTES):
            raise TokenError("too_large", f"the token is longer than {MAX_TOKEN_BYTES} bytes")
        match = _COMPACT.fullmatch(token)
        if match is None:
            raise TokenError("malformed", "the token is not three base64url segments")
        header_segment, payload_segment, signature_segment = match.groups()

        key = self._headers.get(header_segment)
        if key is None:
            key = self._check_header(header_segment)

        signature = _b64decode(signature_segment, "signature")
        if not self._verify_signature(token[: match.end(2)].encode("ascii"), key, signature):
            raise TokenError("signature", "the signature does not match")

        payload = _json_object(_b64decode(payload_segment, "payload"), "payload")
        claims = self._claims(payload, typ, check_revoked=False)
        if len(self._verified) >= _VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = claims
        if check_revoked and self.revocations is not None and self.revocations.is_revoked(claims):
            raise TokenError("revoked", "the token has been revoked")
        return claims

    def _check_header(self, segment: str) -> Any:
        header = _json_object(_b64decode(segment, "header"), "header")
        alg = header.get("alg")
        if type(alg) is not str or not alg:
            raise TokenError("algorithm", "the header names no algorithm")
        if alg.lower() == "none":
            raise TokenError("algorithm", "unsigned tokens are refused")
        if alg != self._algorithm:
            raise TokenError("algorithm", f"algorithm {alg!r} is not allowed (only {self._algorithm})")
        if "crit" in header:
            raise TokenError("malformed", "critical header extensions are not supported")
        if header.get("b64", True) is not True:
            raise TokenError("malformed", "unencoded payloads are not supported")
        if "kid" in header:
            kid = header["kid"]
            key = self.keys.verifying_key(kid) if type(kid) is str else None
            if key is None:
                raise TokenError("signature", "the token was signed with an unknown key (kid)")
        else:
            key = self.keys.verifying_key(None)
        if len(self._headers) >= _HEADER_CACHE_SIZE:
            self._headers.clear()
        self._headers[segment] = key
        return key

    def _claims(self, payload: dict[str, Any], typ: str, check_revoked: bool) -> Claims:
        sub = payload.get("sub")
        if not sub or type(sub) is not str:
            if sub is None or sub == "":
                raise TokenError("missing_claim", "the token has no subject (sub)")
            raise TokenError("malformed", "the sub claim is not a string")
        token_type = payload.get("typ")
        if token_type is None:
            raise TokenError("missing_claim", "the token has no type (typ)")
        if type(token_type) is not str:
            raise TokenError("malformed", "the typ claim is not a string")
        exp = _number(payload, "exp")
        if exp is None:
            raise TokenError("missing_claim", "the token has no expiry (exp)")
        iat = _number(payload, "iat")
        if iat is None:
            raise TokenError("missing_claim", "the token has no issue time (iat)")
        nbf = _number(payload, "nbf")

        now = self._clock()
        leeway = self._leeway
        if exp + leeway <= now:
            raise TokenError("expired", "the token has expired")
        if nbf is not None and nbf - leeway > now:
            raise TokenError("not_yet_valid", "the token is not valid yet (nbf)")
        if iat - leeway > now:
            raise TokenError("issued_in_future", "the token was issued in the future (iat)")

        iss = _text(payload, "iss", "")
        if self._issuer and iss != self._issuer:
            raise TokenError("issuer", "the token is from another issuer")
        raw_aud = payload.get("aud")
        aud = ""
        if type(raw_aud) is str:
            aud = raw_aud
        elif type(raw_aud) is list:
            if not all(type(item) is str for item in raw_aud):
                raise TokenError("malformed", "the aud claim is not a string or a list of strings")
            aud = self._audience if self._audience in raw_aud else ",".join(raw_aud)
        elif raw_aud is not None:
            raise TokenError("malformed", "the aud claim is not a string or a list of strings")
        if self._audience and aud != self._audience:
            raise TokenError("audience", "the token is meant for another audience")

        if token_type != typ:
            raise TokenError("wrong_type", f"a {token_type} token cannot be used as {typ} token")

        raw_perms = payload.get("perms")
        if raw_perms is None:
            perms: frozenset[str] = frozenset()
        elif type(raw_perms) is list and all(type(item) is str for item in raw_perms):
            perms = frozenset(raw_perms)
        else:
            raise TokenError("malformed", "the perms claim is not a list of strings")

        claims = Claims(
            sub=sub,
            tid=_text(payload, "tid", ""),
            role=_text(payload, "role", "user"),
            tier=_text(payload, "tier", "free"),
            email=_text(payload, "email", ""),
            perms=perms,
            sid=_text(payload, "sid", ""),
            jti=_text(payload, "jti", ""),
            iat=iat,
            nbf=iat if nbf is None else nbf,
            exp=exp,
            typ=token_type,
            iss=iss,
            aud=aud,
        )
        if check_revoked and self.revocations is not None and self.revocations.is_revoked(claims):
            raise TokenError("revoked", "the token has been revoked")
        return claims
