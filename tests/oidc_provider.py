"""A real OpenID Connect provider for tests: HTTP on 127.0.0.1 (random port) in a thread.

It stands in for the provincial unified identity service: discovery, JWKS (an RSA key made
at start), /authorize (auto-approves `provider.user`, answers with a redirect carrying code
and state), /token (client authentication, single-use code bound to the redirect URI and
PKCE; an RS256 ID token with iss, aud, exp, iat, nonce, and an access token), /userinfo
(Bearer access token).

`provider.misbehave` makes the next tokens wrong in one way (see MISBEHAVIOURS), for the
negative tests; `provider.requests` lists the paths asked.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey

MISBEHAVIOURS = {
    "wrong_issuer": "iss is another issuer",
    "wrong_audience": "aud is another client",
    "expired": "exp (and iat) long past",
    "bad_signature": "signed by another RSA key under the published kid",
    "alg_none": 'unsigned token, alg "none"',
    "hs256_client_secret": "HS256 keyed with the client secret",
    "hs256_public_key": "HS256 keyed with the published public key (key confusion)",
    "wrong_nonce": "nonce other than the one asked for",
    "missing_nonce": "no nonce at all",
    "userinfo_other_sub": "userinfo answers for another subject",
    "discovery_wrong_issuer": "discovery names another issuer",
}


@dataclass
class ProviderUser:
    sub: str
    name: str = "张三"
    claims: dict[str, Any] = field(default_factory=dict)  # org_name, uscc, ...


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _hs256(header: dict, claims: dict, secret: bytes) -> str:
    signing_input = (b64url(json.dumps(header).encode()) + "." +
                     b64url(json.dumps(claims).encode()))
    signature = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return signing_input + "." + b64url(signature)


class OIDCTestProvider:
    def __init__(self, *, client_id: str = "neixiang-blueprint",
                 client_secret: str | None = None, user: ProviderUser | None = None):
        self.client_id = client_id
        self.client_secret = client_secret or secrets.token_urlsafe(32)
        self.kid = "nx-test-" + secrets.token_hex(4)
        self.key = RSAKey.generate_key(2048, private=True,
                                       parameters={"kid": self.kid, "use": "sig",
                                                   "alg": "RS256"})
        # Same kid, different key: what a forger without the provider's key can produce.
        self.other_key = RSAKey.generate_key(2048, private=True,
                                             parameters={"kid": self.kid, "use": "sig",
                                                         "alg": "RS256"})
        self.user = user or ProviderUser(sub=secrets.token_hex(8))
        self.misbehave: str | None = None
        self.redirect_uris: list[str] = []
        self.require_pkce = False
        self.requests: list[str] = []
        self._codes: dict[str, dict[str, Any]] = {}
        self._access_tokens: dict[str, ProviderUser] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.provider = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="oidc-test-provider")

    # --- lifecycle ----------------------------------------------------------------------
    @property
    def issuer(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> OIDCTestProvider:
        self._thread.start()
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> OIDCTestProvider:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # --- documents ------------------------------------------------------------------------
    def discovery(self) -> dict[str, Any]:
        iss = self.issuer
        return {
            "issuer": "https://evil.example" if self.misbehave == "discovery_wrong_issuer"
            else iss,
            "authorization_endpoint": f"{iss}/authorize",
            "token_endpoint": f"{iss}/token",
            "userinfo_endpoint": f"{iss}/userinfo",
            "jwks_uri": f"{iss}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_post",
                                                      "client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["sub", "name", *sorted(self.user.claims)],
        }

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.key.as_dict(private=False)]}

    def id_token(self, user: ProviderUser, nonce: str | None) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {"iss": self.issuer, "sub": user.sub, "aud": self.client_id,
                                  "iat": now, "exp": now + 300, "auth_time": now,
                                  "name": user.name}
        if nonce is not None:
            claims["nonce"] = nonce
        how = self.misbehave
        if how == "wrong_issuer":
            claims["iss"] = "http://127.0.0.1:1/other-issuer"
        elif how == "wrong_audience":
            claims["aud"] = "another-client"
        elif how == "expired":
            claims.update(iat=now - 3600, exp=now - 1800, auth_time=now - 3600)
        elif how == "wrong_nonce":
            claims["nonce"] = secrets.token_urlsafe(16)
        elif how == "missing_nonce":
            claims.pop("nonce", None)
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        if how == "alg_none":
            return (b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode()) + "." +
                    b64url(json.dumps(claims).encode()) + ".")
        if how == "hs256_client_secret":
            return _hs256({**header, "alg": "HS256"}, claims, self.client_secret.encode())
        if how == "hs256_public_key":
            pem = self.key.as_pem(private=False)
            return _hs256({**header, "alg": "HS256"}, claims, pem)
        key = self.other_key if how == "bad_signature" else self.key
        return jwt.encode(header, claims, key)

    def userinfo(self, user: ProviderUser) -> dict[str, Any]:
        sub = "someone-else" if self.misbehave == "userinfo_other_sub" else user.sub
        return {"sub": sub, "name": user.name, **user.claims}

    # --- endpoints ------------------------------------------------------------------------
    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id:
            return 400, {}, {"error": "unauthorized_client"}
        if redirect_uri not in self.redirect_uris:
            return 400, {}, {"error": "invalid_request", "error_description": "redirect_uri"}
        if query.get("response_type") != "code" or "openid" not in query.get("scope", "").split():
            return 400, {}, {"error": "invalid_request"}
        if self.require_pkce and query.get("code_challenge_method") != "S256":
            return 400, {}, {"error": "invalid_request", "error_description": "PKCE"}
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = {"client_id": self.client_id, "redirect_uri": redirect_uri,
                                 "nonce": query.get("nonce"), "user": copy.deepcopy(self.user),
                                 "challenge": query.get("code_challenge"),
                                 "expires": time.time() + 60}
        params = {"code": code}
        if "state" in query:
            params["state"] = query["state"]
        return 302, {"Location": f"{redirect_uri}?{urlencode(params)}"}, None

    def token(self, form: dict[str, str], authorization: str) -> tuple[int, dict, Any]:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if authorization.lower().startswith("basic "):
            decoded = base64.b64decode(authorization[6:]).decode()
            client_id, _, secret = decoded.partition(":")
        if client_id != self.client_id or not hmac.compare_digest(
                str(secret or "").encode(), self.client_secret.encode()):
            return 401, {}, {"error": "invalid_client"}
        if form.get("grant_type") != "authorization_code":
            return 400, {}, {"error": "unsupported_grant_type"}
        with self._lock:
            grant = self._codes.pop(form.get("code", ""), None)  # single use
        if (grant is None or grant["expires"] < time.time()
                or grant["redirect_uri"] != form.get("redirect_uri")
                or grant["client_id"] != client_id):
            return 400, {}, {"error": "invalid_grant"}
        if grant["challenge"] is not None:
            verifier = form.get("code_verifier", "")
            if b64url(hashlib.sha256(verifier.encode()).digest()) != grant["challenge"]:
                return 400, {}, {"error": "invalid_grant", "error_description": "PKCE"}
        access_token = secrets.token_urlsafe(32)
        with self._lock:
            self._access_tokens[access_token] = grant["user"]
        return 200, {"Cache-Control": "no-store"}, {
            "access_token": access_token, "token_type": "Bearer", "expires_in": 300,
            "id_token": self.id_token(grant["user"], grant["nonce"])}

    def userinfo_endpoint(self, authorization: str) -> tuple[int, dict, Any]:
        token = authorization[7:] if authorization.lower().startswith("bearer ") else ""
        with self._lock:
            user = self._access_tokens.get(token)
        if user is None:
            return 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}, {
                "error": "invalid_token"}
        return 200, {}, self.userinfo(user)


class _Handler(BaseHTTPRequestHandler):
    server_version = "NeixiangTestOP/1.0"

    @property
    def provider(self) -> OIDCTestProvider:
        return self.server.provider  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, headers: dict[str, str], body: Any) -> None:
        payload = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        self.provider.requests.append(url.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        p = self.provider
        if url.path == "/.well-known/openid-configuration":
            self._send(200, {}, p.discovery())
        elif url.path == "/jwks":
            self._send(200, {}, p.jwks())
        elif url.path == "/authorize":
            self._send(*p.authorize(query))
        elif url.path == "/userinfo":
            self._send(*p.userinfo_endpoint(self.headers.get("Authorization", "")))
        else:
            self._send(404, {}, {"error": "not_found"})

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        self.provider.requests.append(url.path)
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        if url.path == "/token":
            self._send(*self.provider.token(form, self.headers.get("Authorization", "")))
        elif url.path == "/userinfo":
            self._send(*self.provider.userinfo_endpoint(self.headers.get("Authorization", "")))
        else:
            self._send(404, {}, {"error": "not_found"})
