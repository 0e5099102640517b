#!/usr/bin/env python3
"""Mints the seed inputs of the fuzz target `authorization` (run from anywhere; needs
the `cryptography` package). The keys are test keys, published here on purpose:
their public halves are the fixed key set of `monitor_service::auth::robustness`.
  EC P-256 ("ec"):  the private scalar below.
  Ed25519 ("ed"):   RFC 8037 appendix A.1.
  RSA ("rsa"):      keys/rsa-test-key.pem.
Prints the public JWKS (paste it into robustness.rs when a key changes)."""
import base64, json, pathlib
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, utils

HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE / "authorization"
ISSUER, AUDIENCE = "https://sso.icu.test/realms/ward", "icu-monitor"
EXP = 4102444800  # 2100-01-01: the seeds stay valid
PATIENT = "0b7e6c1e-3c1a-4d5e-9f00-2a4b6c8d0e1f"

def b64d(s): return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
def b64e(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
def num(n, size=None): return b64e(n.to_bytes(size or (n.bit_length() + 7) // 8, "big"))

ec_key = ec.derive_private_key(int.from_bytes(b64d("jpsQnnGQmL-YBIffH1136cLSG6WUFhXUvZ9yp9fyG08"), "big"), ec.SECP256R1())
ed_key = ed25519.Ed25519PrivateKey.from_private_bytes(b64d("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"))
rsa_key = serialization.load_pem_private_key((HERE / "keys/rsa-test-key.pem").read_bytes(), None)

def sign(alg, header, claims):
    header = {"alg": alg, "typ": "JWT", **header}
    signing_input = (b64e(json.dumps(header).encode()) + "." + b64e(json.dumps(claims).encode())).encode()
    if alg == "ES256":
        r, s = utils.decode_dss_signature(ec_key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    elif alg == "EdDSA":
        sig = ed_key.sign(signing_input)
    elif alg == "RS256":
        sig = rsa_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "PS256":
        sig = rsa_key.sign(signing_input, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
    else:
        sig = b"\0" * 32
    return signing_input.decode() + "." + b64e(sig)

def claims(**extra):
    return {"iss": ISSUER, "aud": AUDIENCE, "sub": "fuzz", "exp": EXP, "iat": 1764000000, **extra}

seeds = {
    "es256-clinician": "Bearer " + sign("ES256", {"kid": "ec"}, claims(roles=["clinician"])),
    "eddsa-patient": "Bearer " + sign("EdDSA", {"kid": "ed"}, claims(roles=["patient"], patient_id=PATIENT)),
    "rs256-roles-string": "bearer " + sign("RS256", {"kid": "rsa"}, claims(roles="user clinician", nbf=0)),
    "ps256-no-kid": "Bearer " + sign("PS256", {}, claims(roles=["patient"], patient_id=PATIENT)),
    "es256-patient-without-uuid": "Bearer " + sign("ES256", {"kid": "ec"}, claims(roles=["patient"], patient_id="x")),
    "es256-expired": "Bearer " + sign("ES256", {"kid": "ec"}, claims(roles=["clinician"], exp=1)),
    "es256-other-audience": "Bearer " + sign("ES256", {"kid": "ec"}, claims(aud=["x", "y"], roles=["clinician"])),
    "hs256-confusion": "Bearer " + sign("HS256", {"kid": "ec"}, claims(roles=["clinician"])),
    "unknown-kid": "Bearer " + sign("ES256", {"kid": "gone"}, claims(roles=["clinician"])),
    "basic": "Basic dXNlcjpwYXNzd29yZA==",
    "claims-json": json.dumps(claims(roles=["patient"], patient_id=PATIENT)),
}
OUT.mkdir(exist_ok=True)
for name, value in seeds.items():
    (OUT / name).write_text(value)

ec_pub = ec_key.public_key().public_numbers()
rsa_pub = rsa_key.public_key().public_numbers()
ed_pub = ed_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
print(json.dumps({"keys": [
    {"kty": "EC", "crv": "P-256", "kid": "ec", "use": "sig", "x": num(ec_pub.x, 32), "y": num(ec_pub.y, 32)},
    {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "alg": "EdDSA", "x": b64e(ed_pub)},
    {"kty": "RSA", "kid": "rsa", "n": num(rsa_pub.n), "e": num(rsa_pub.e)},
]}))
