"""Files a script left under ./outputs/, collected and delivered by the parent.

The parent reads a directory that hostile code controlled a moment ago, so
every step goes through directory file descriptors with O_NOFOLLOW: symlinks
are never followed (not even in path components), FIFOs, sockets and devices
are skipped, hard links to files elsewhere are refused, and size is checked
on the opened file, not on a name that could be swapped.
"""

from __future__ import annotations

import base64
import dataclasses
import mimetypes
import os
import secrets as token_source
import stat
import urllib.parse
from typing import Any, Optional

MAX_DEPTH = 8
# Deep or wide trees are a way to make the parent spin; stop looking early.
MAX_ENTRIES_SCANNED = 2000
# An artifact's name is its path under outputs/ ("plots/a.png"), the same in
# the cloud (the S3 key is executions/<requestId>/<name>, at most 1024 bytes
# with a prefix of up to 140) and locally (/artifacts/<requestId>/<name>); a
# file system takes at most 255 bytes per segment. contract/artifact-names.json
# holds the shared cases both sides are tested against.
MAX_NAME_SEGMENT_BYTES = 255
MAX_NAME_BYTES = 800



@dataclasses.dataclass
class Artifact:
    name: str
    content_type: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


class ArtifactError(Exception):
    """Artifacts could not be collected or delivered; message is the sentence."""


def content_type_of(name: str) -> str:
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or "application/octet-stream"


@dataclasses.dataclass
class Collected:
    """What outputs/ held: the files returned, whether more were left out, and a failure."""
    found: list[Artifact]
    more: bool = False
    problem: Optional[str] = None


def collect(outputs_dir: str, max_count: int, max_bytes: int) -> Collected:
    """Regular files under outputs_dir, sorted by name (at most max_count).

    Files beyond max_count are left out and flagged, as stdout is beyond its
    limit; a file over max_bytes, or a tree too large to walk, is a failure.
    """
    try:
        root = os.open(outputs_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return Collected([])
    found: list[Artifact] = []
    problem: Optional[str] = None
    more = False
    scanned = 0
    pending: list[tuple[int, str, int]] = [(root, "", 0)]
    try:
        while pending:
            directory, prefix, depth = pending.pop()
            try:
                entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
            except OSError:
                os.close(directory)
                continue
            for entry in entries:
                scanned += 1
                if scanned > MAX_ENTRIES_SCANNED:
                    problem = problem or (
                        f"The script left more than {MAX_ENTRIES_SCANNED} entries under "
                        "outputs/; only the first ones were looked at."
                    )
                    break
                name = prefix + entry.name
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISDIR(info.st_mode):
                    if depth + 1 >= MAX_DEPTH:
                        continue
                    try:
                        child = os.open(entry.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW,
                                        dir_fd=directory)
                    except OSError:
                        continue
                    pending.append((child, name + "/", depth + 1))
                    continue
                if not stat.S_ISREG(info.st_mode):
                    continue
                if len(found) >= max_count:
                    more = True
                    continue
                data = _read_regular(entry.name, directory, max_bytes)
                if data is None:
                    continue
                if len(data) > max_bytes:
                    problem = problem or (
                        f"The file outputs/{name} is larger than the artifact limit of "
                        f"{max_bytes} bytes."
                    )
                    continue
                shown = artifact_name(name)
                if shown is None:
                    problem = problem or (
                        f"The file outputs/{display_name(name)} has a name too long to return as an "
                        f"artifact (at most {MAX_NAME_SEGMENT_BYTES} bytes per folder or file name "
                        f"and {MAX_NAME_BYTES} in all)."
                    )
                    continue
                found.append(Artifact(shown, content_type_of(shown), data))
            os.close(directory)
    finally:
        for directory, _, _ in pending:
            os.close(directory)
    found.sort(key=lambda artifact: artifact.name)
    _make_names_unique(found)
    return Collected(found, more, problem)


# Control characters would reach log viewers; a backslash reads as a path
# separator to some clients and to the local server's URL check.
_REPLACED = {code: "_" for code in list(range(0x20)) + [0x7F, ord("\\")]}


def display_name(name: str) -> str:
    """A file name as valid Unicode without control characters or backslashes.

    Names on Linux are bytes; invalid UTF-8 (kept by Python as lone
    surrogates) would make the response invalid JSON for strict consumers
    and an invalid S3 key.
    """
    text = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text.translate(_REPLACED)


def artifact_name(relative_path: str) -> Optional[str]:
    """The name the caller sees for outputs/<relative_path>, sub-folders kept
    ("plots/a.png"), or None when it is too long to be one."""
    segments = [display_name(segment) for segment in relative_path.split("/")]
    name = "/".join(segments)
    if (len(name.encode("utf-8")) > MAX_NAME_BYTES
            or any(len(segment.encode("utf-8")) > MAX_NAME_SEGMENT_BYTES for segment in segments)):
        return None
    return name


def _make_names_unique(found: list[Artifact]) -> None:
    """Different files can end with the same name once bytes are replaced
    ("a\\x01" and "a\\x02" are both "a_"): later ones get "-2", "-3" before the
    extension of their last segment, so no upload overwrites another."""
    taken: set[str] = set()
    for artifact in found:
        folder, _, leaf = artifact.name.rpartition("/")
        stem, dot, extension = leaf.rpartition(".") if leaf.rfind(".") > 0 else (leaf, "", "")
        candidate, counter = artifact.name, 2
        while candidate in taken:
            numbered = f"{stem}-{counter}{dot}{extension}"
            candidate = f"{folder}/{numbered}" if folder else numbered
            counter += 1
        taken.add(candidate)
        artifact.name = candidate


def _read_regular(name: str, directory: int, max_bytes: int) -> Optional[bytes]:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY,
                     dir_fd=directory)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            return None
        chunks = []
        remaining = max_bytes + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def inline(artifact: Artifact) -> dict[str, Any]:
    return {
        "name": artifact.name,
        "contentType": artifact.content_type,
        "size": artifact.size,
        "contentBase64": base64.b64encode(artifact.data).decode("ascii"),
    }


def check_upload_spec(spec: Any) -> Optional[str]:
    """None when spec looks like the invoker's presigned POST, else what is wrong."""
    if not isinstance(spec, dict):
        return "artifactUpload must be an object"
    url = spec.get("url")
    if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        return "artifactUpload.url must be an http(s) URL"
    fields = spec.get("fields")
    if not isinstance(fields, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in fields.items()
    ):
        return "artifactUpload.fields must map strings to strings"
    if not isinstance(spec.get("keyPrefix"), str):
        return "artifactUpload.keyPrefix must be a string"
    return None


def _disposition_value(text: str) -> str:
    # Quotes and line breaks would end the header early; percent-encode them
    # the way browsers do in multipart filenames.
    return text.replace("\\", "%5C").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def multipart_body(fields: list[tuple[str, str]], file_name: str, content_type: str,
                   data: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body with the file last, as S3 POST requires."""
    boundary = "executor-" + token_source.token_hex(16)
    parts: list[bytes] = []
    for name, value in fields:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{_disposition_value(name)}"'
            f"\r\n\r\n{value}\r\n".encode("utf-8")
        )
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{_disposition_value(file_name)}"\r\nContent-Type: {content_type}\r\n\r\n'
        .encode("utf-8")
    )
    parts.append(data)
    parts.append(f"\r\n--{boundary}--\r\n".encode("ascii"))
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def upload(artifact: Artifact, spec: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """POST one file through the presigned policy; returns its response entry."""
    key = spec["keyPrefix"] + artifact.name
    fields = [(k, v) for k, v in spec["fields"].items() if k not in ("key", "Content-Type")]
    fields.append(("key", key))
    fields.append(("Content-Type", artifact.content_type))
    body, header = multipart_body(fields, os.path.basename(artifact.name), artifact.content_type,
                                  artifact.data)
    # Imported here: only the cloud uploads, and urllib.request (with ssl) adds
    # tens of milliseconds to every runtime's init at 0.145 vCPU.
    import urllib.error
    import urllib.request
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(spec["url"], data=body, method="POST",
                                     headers={"Content-Type": header})
    try:
        with opener.open(request, timeout=max(timeout_s, 1.0)) as answer:
            status = answer.status
    except urllib.error.HTTPError as error:
        raise ArtifactError(
            f"Uploading artifact '{artifact.name}' failed: the storage answered HTTP {error.code}."
        ) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise ArtifactError(
            f"Uploading artifact '{artifact.name}' failed: {reason}."
        ) from None
    if not 200 <= status < 300:
        raise ArtifactError(
            f"Uploading artifact '{artifact.name}' failed: the storage answered HTTP {status}."
        )
    return {"name": artifact.name, "contentType": artifact.content_type,
            "size": artifact.size, "key": key}
