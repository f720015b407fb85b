"""A local development token issuer and verifier (RS256), standing in for Cognito.

`walkout token` signs with a key generated once into the user's state directory
(`$WALKOUT_STATE_DIR`, else `$XDG_STATE_HOME/walkout`, else `~/.local/state/walkout`),
outside the repository so that it is never committed. The local server verifies
`Authorization: Bearer …` with `DevIssuer.verify` and hands the claims to the API the way
API Gateway's JWT authorizer does (`authorizer_claims`). The tokens carry the same claims
as Cognito's: `sub`, `iss`, `aud`, `exp`, `cognito:groups`, `custom:retailer_id` and, for
shoppers, `custom:session_ids`. Development only: nothing in the stack trusts this key.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ISSUER: Final = "https://walkout.local/dev-issuer"
AUDIENCE: Final = "walkout-local"
KEY_FILE: Final = "dev-issuer-key.pem"
KEY_ID: Final = "walkout-dev-1"
DEFAULT_TTL_S: Final = 12 * 3600
_LEEWAY_S: Final = 30


class TokenError(ValueError):
    """A token the local issuer did not sign, or one that is expired or malformed."""


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    source = os.environ if env is None else env
    if source.get("WALKOUT_STATE_DIR"):
        return Path(source["WALKOUT_STATE_DIR"])
    base = source.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "walkout"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class DevIssuer:
    def __init__(
        self, private_key: rsa.RSAPrivateKey, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.private_key = private_key
        self.public_key = private_key.public_key()
        self.clock = clock

    @classmethod
    def load_or_create(cls, directory: Path | None = None) -> DevIssuer:
        """The issuer whose key lives in `directory`, generating the key on first use."""
        path = (directory or state_dir()) / KEY_FILE
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(key, rsa.RSAPrivateKey):
                raise TokenError(f"{path}: not an RSA private key")
            return cls(key)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # Readable by the user only, created atomically so a second process never reads half.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        return cls(key)

    def issue(
        self,
        *,
        retailer_id: str,
        groups: Iterable[str] = (),
        session_ids: Iterable[str] = (),
        subject: str | None = None,
        ttl_s: int = DEFAULT_TTL_S,
    ) -> str:
        now = int(self.clock())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": subject or f"dev-{retailer_id}",
            "iat": now,
            "exp": now + ttl_s,
            "token_use": "id",
            "custom:retailer_id": retailer_id,
        }
        if groups := list(groups):
            claims["cognito:groups"] = groups
        if sessions := list(session_ids):
            claims["custom:session_ids"] = " ".join(sessions)
        header = {"alg": "RS256", "typ": "JWT", "kid": KEY_ID}
        signing_input = (
            f"{_b64(json.dumps(header, separators=(',', ':')).encode())}."
            f"{_b64(json.dumps(claims, separators=(',', ':')).encode())}"
        )
        signature = self.private_key.sign(
            signing_input.encode(), padding.PKCS1v15(), hashes.SHA256()
        )
        return f"{signing_input}.{_b64(signature)}"

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a token this issuer signed, still valid; `TokenError` otherwise."""
        parts = token.split(".")
        if len(parts) != 3:
            raise TokenError("token is not a JWT (header.payload.signature)")
        try:
            header = json.loads(_unb64(parts[0]))
            claims = json.loads(_unb64(parts[1]))
            signature = _unb64(parts[2])
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise TokenError("token is not a JWT (bad encoding)") from None
        if not isinstance(header, dict) or header.get("alg") != "RS256":
            # Pinning the algorithm closes the "alg: none" and HS256-with-public-key tricks.
            raise TokenError("token algorithm must be RS256")
        try:
            self.public_key.verify(
                signature, f"{parts[0]}.{parts[1]}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            raise TokenError("token signature does not verify") from None
        if not isinstance(claims, dict):
            raise TokenError("token payload is not an object")
        if claims.get("iss") != ISSUER or claims.get("aud") != AUDIENCE:
            raise TokenError("token is for another issuer or audience")
        exp = claims.get("exp")
        if not isinstance(exp, int) or exp + _LEEWAY_S < self.clock():
            raise TokenError("token has expired")
        return claims


def authorizer_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """Claims as API Gateway's JWT authorizer passes them (payload v2): every value a string,
    arrays flattened to "[a b]"."""
    out: dict[str, str] = {}
    for name, raw in claims.items():
        if isinstance(raw, list):
            out[name] = "[" + " ".join(str(v) for v in raw) + "]"
        else:
            out[name] = str(raw)
    return out
