"""Hand-made JWTs for attacks pyjwt refuses to produce (wrong header algorithms, PEM strings as
HMAC keys, payloads edited after signing)."""

import base64
import hashlib
import hmac
import json

from django.conf import settings
from rest_framework_simplejwt.tokens import AccessToken

# Looks like an RSA public key: the classic HS/RS confusion uses the server's public key as an
# HMAC secret, hoping the verifier picks the algorithm from the token's header.
PUBLIC_KEY_LOOKALIKE = (
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo\n"
    "-----END PUBLIC KEY-----\n"
)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64_json(value: dict) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def forge(header: dict, payload: dict, key: str | None) -> str:
    """``header.payload.signature`` with an HMAC-SHA256 signature over whatever header says."""
    signing_input = f"{b64_json(header)}.{b64_json(payload)}"
    signature = (
        b64(hmac.new(key.encode(), signing_input.encode(), hashlib.sha256).digest())
        if key is not None
        else ""
    )
    return f"{signing_input}.{signature}"


def server_key() -> str:
    return settings.SIMPLE_JWT["SIGNING_KEY"]


def payload_for(user, **changes) -> dict:
    payload = {**AccessToken.for_user(user).payload, **changes}
    return {key: value for key, value in payload.items() if value is not None}


def tampered_user_id(token: str, user_id) -> str:
    """A genuine token whose payload was edited afterwards; the signature is the original."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["user_id"] = user_id
    return f"{header}.{b64_json(claims)}.{signature}"
