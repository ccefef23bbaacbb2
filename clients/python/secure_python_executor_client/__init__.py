"""A client for secure-python-executor: the deployed API (SigV4 or API key)
and the local server (optional bearer token).

Standard library only for the local server and API keys; SigV4 (``IamAuth``)
signs through botocore, imported only when that mode is used.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Optional, Union

__all__ = [
    "ApiKeyAuth",
    "Artifact",
    "BearerAuth",
    "ExecuteResponse",
    "ExecutorApiError",
    "ExecutorClient",
    "IamAuth",
    "RequestRejectedError",
    "ScriptFailedError",
    "ServiceError",
]

_ABSENT: Any = object()


@dataclass(frozen=True)
class BearerAuth:
    """The local server started with LOCAL_TOKEN."""

    token: str


@dataclass(frozen=True)
class ApiKeyAuth:
    """A deployment with authMode=apiKey: sent as x-api-key."""

    api_key: str


@dataclass(frozen=True)
class IamAuth:
    """A deployment with authMode=iam: SigV4 for execute-api through botocore.

    ``credentials`` is ``(access_key_id, secret_access_key, session_token)``;
    when it is None, botocore's default chain (environment, profile, role) is read.
    """

    region: str
    credentials: Optional[tuple[str, str, Optional[str]]] = None


Auth = Union[None, BearerAuth, ApiKeyAuth, IamAuth]


@dataclass(frozen=True)
class Artifact:
    name: str
    content_type: str
    size: int
    url: Optional[str]
    content_base64: Optional[str] = None


@dataclass(frozen=True)
class ExecuteResponse:
    """The API's response (contract/openapi.json, ExecuteResponse), keys in snake case; ``raw`` is the body as sent."""

    ok: bool
    result: Any
    stdout: str
    stderr: str
    truncated: dict[str, bool]
    error: Optional[str]
    error_type: Optional[str]
    traceback: Optional[str]
    artifacts: list[Artifact]
    duration_ms: float
    request_id: str
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> "ExecuteResponse":
        return cls(
            ok=body["ok"],
            result=body.get("result"),
            stdout=body.get("stdout", ""),
            stderr=body.get("stderr", ""),
            truncated=body.get("truncated", {"stdout": False, "stderr": False, "artifacts": False}),
            error=body.get("error"),
            error_type=body.get("errorType"),
            traceback=body.get("traceback"),
            artifacts=[
                Artifact(a["name"], a["contentType"], a["size"], a.get("url"), a.get("contentBase64"))
                for a in body.get("artifacts", [])
            ],
            duration_ms=body.get("durationMs", 0),
            request_id=body.get("requestId", ""),
            raw=body,
        )


class ExecutorApiError(Exception):
    """Any answer other than a completed script, with the API's errorType and requestId."""

    def __init__(self, message: str, status: int, error_type: str, request_id: Optional[str], response: Optional[ExecuteResponse]):
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.request_id = request_id
        self.response = response

    @property
    def retryable(self) -> bool:
        """Whether the same request may succeed later: throttling, no capacity, a fault of the service."""
        return self.status == 429 or self.status >= 500


class ScriptFailedError(ExecutorApiError):
    """The script itself failed (HTTP 422): raised, timed out, ran out of a limit, or returned something that is not JSON."""

    @property
    def traceback(self) -> Optional[str]:
        return self.response.traceback if self.response is not None else None


class RequestRejectedError(ExecutorApiError):
    """Refused before anything ran (4xx other than 422 and 429): fix the request, the credentials or the URL."""


class ServiceError(ExecutorApiError):
    """The service could not run the request (429 or 5xx); retry with backoff."""


def _error_for(status: int, body: Any, header_request_id: Optional[str]) -> ExecutorApiError:
    contract = isinstance(body, dict) and all(key in body for key in ("ok", "error", "errorType", "requestId"))
    response = ExecuteResponse.from_json(body) if contract else None
    default_type = "InternalError" if status >= 500 or status == 429 else "InvalidRequest"
    error_type = (response.error_type if response is not None else None) or default_type
    request_id = response.request_id if response is not None else header_request_id
    message = (response.error if response is not None else None) or f"The API answered HTTP {status} without the contract's JSON body."
    if status == 422:
        error_class: type[ExecutorApiError] = ScriptFailedError
    elif status == 429 or status >= 500:
        error_class = ServiceError
    else:
        error_class = RequestRejectedError
    return error_class(message, status, error_type, request_id, response)


def _sigv4_headers(auth: IamAuth, method: str, url: str, headers: dict[str, str], body: bytes) -> dict[str, str]:
    try:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        from botocore.session import Session
    except ImportError as error:
        raise RuntimeError(
            "IamAuth signs requests with SigV4 through botocore, which is not installed for this Python: "
            "pip install botocore (or apt-get install python3-botocore), or use ApiKeyAuth."
        ) from error
    if auth.credentials is not None:
        credentials = Credentials(*auth.credentials)
    else:
        credentials = Session().get_credentials()
        if credentials is None:
            raise RuntimeError("IamAuth found no AWS credentials (environment, profile or role); pass credentials=(key, secret, token).")
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    SigV4Auth(credentials, "execute-api", auth.region).add_auth(request)
    return dict(request.headers.items())


class ExecutorClient:
    """``run`` returns the response of a completed script and raises ``ExecutorApiError`` subclasses otherwise."""

    def __init__(self, base_url: str, auth: Auth = None, tenant_id: Optional[str] = None, http_timeout_s: float = 60.0):
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.tenant_id = tenant_id
        self.http_timeout_s = http_timeout_s

    def run(self, script: str, input: Any = _ABSENT, timeout_ms: Optional[int] = None) -> ExecuteResponse:  # noqa: A002 - the API's name
        """Runs ``script``; ``input`` (any JSON, None included) goes to ``main(input)``."""
        request: dict[str, Any] = {"script": script}
        if input is not _ABSENT:
            request["input"] = input
        if timeout_ms is not None:
            request["timeoutMs"] = timeout_ms
        return ExecuteResponse.from_json(self._call("POST", "/execute", request))

    def health(self) -> dict[str, Any]:
        """GET /healthz: the executor's Python version, preloads, isolation layers and limits."""
        return self._call("GET", "/healthz", None)

    def download_artifact(self, artifact: Artifact) -> bytes:
        """The artifact's bytes: inline, or from its URL (presigned S3 or the local server's), fetched without the API's credentials."""
        if artifact.content_base64 is not None:
            return base64.b64decode(artifact.content_base64)
        if artifact.url is None:
            raise ValueError(f"Artifact '{artifact.name}' has neither a URL nor inline content.")
        try:
            with urllib.request.urlopen(artifact.url, timeout=self.http_timeout_s) as answer:
                return answer.read()
        except urllib.error.HTTPError as error:
            raise RuntimeError(
                f"Downloading artifact '{artifact.name}' failed with HTTP {error.code}; artifact URLs expire (15 minutes in the cloud)."
            ) from error

    def _call(self, method: str, path: str, payload: Optional[dict[str, Any]]) -> dict[str, Any]:
        url = f"{self.base_url}{path}"
        body = b"" if payload is None else json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = self._headers(method, url, body, payload is not None)
        request = urllib.request.Request(url, data=body if payload is not None else None, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.http_timeout_s) as answer:
                status, text, request_id = answer.status, answer.read(), answer.headers.get("X-Request-Id")
        except urllib.error.HTTPError as error:
            status, text, request_id = error.code, error.read(), error.headers.get("X-Request-Id")
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if status == 200 and isinstance(parsed, dict):
            return parsed
        raise _error_for(status, parsed, request_id)

    def _headers(self, method: str, url: str, body: bytes, has_body: bool) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if has_body:
            headers["Content-Type"] = "application/json"
        if self.tenant_id is not None:
            headers["X-Tenant-Id"] = self.tenant_id
        if isinstance(self.auth, BearerAuth):
            headers["Authorization"] = f"Bearer {self.auth.token}"
        elif isinstance(self.auth, ApiKeyAuth):
            headers["x-api-key"] = self.auth.api_key
        elif isinstance(self.auth, IamAuth):
            headers = _sigv4_headers(self.auth, method, url, headers, body)
        return headers
