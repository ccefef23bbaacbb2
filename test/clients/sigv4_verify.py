"""Checks a captured request's SigV4 signature with botocore, an implementation
independent of the one that signed it (the TypeScript client uses
@smithy/signature-v4). Reads {"method", "url", "headers", "body"} as JSON on
stdin and the secret key from SIGV4_SECRET_ACCESS_KEY; prints one JSON line:
{"valid": bool, "credentialScope": str, "signedHeaders": [...]}."""

import hashlib
import json
import os
import re
import sys

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def main() -> None:
    captured = json.load(sys.stdin)
    headers = {name.lower(): value for name, value in captured["headers"].items()}
    match = re.fullmatch(
        r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})",
        headers.get("authorization", ""),
    )
    if match is None:
        print(json.dumps({"valid": False, "reason": "no SigV4 Authorization header"}))
        return
    access_key, _date, region, service, signed_header_list, signature = match.groups()
    signed_headers = signed_header_list.split(";")
    body = captured["body"].encode("utf-8")
    # botocore trusts this header as the payload hash; API Gateway hashes the body it received.
    declared = headers.get("x-amz-content-sha256")
    if declared is not None and declared != hashlib.sha256(body).hexdigest():
        print(json.dumps({"valid": False, "reason": "x-amz-content-sha256 is not the body's hash"}))
        return
    request = AWSRequest(
        method=captured["method"],
        url=captured["url"],
        data=body,
        headers={name: headers[name] for name in signed_headers},
    )
    request.context["timestamp"] = headers["x-amz-date"]
    credentials = Credentials(access_key, os.environ["SIGV4_SECRET_ACCESS_KEY"], headers.get("x-amz-security-token"))
    signer = SigV4Auth(credentials, service, region)
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    print(json.dumps({"valid": expected == signature, "credentialScope": f"{region}/{service}", "signedHeaders": signed_headers}))


if __name__ == "__main__":
    main()
