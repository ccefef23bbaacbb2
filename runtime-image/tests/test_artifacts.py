"""Artifact upload through a presigned POST, against a real local HTTP server that parses the form."""

from __future__ import annotations

import email.parser
import email.policy
import http.server
import json
import os
import tempfile
import threading
import unittest
from typing import Any

from executor import artifacts

from .support import make_engine, requires

NAME_FIXTURE = os.path.join(os.path.dirname(__file__), "..", "..", "contract", "artifact-names.json")


class FormServer:
    """Accepts multipart/form-data POSTs like S3 does and records every part."""

    def __init__(self, status: int = 204) -> None:
        self.forms: list[list[dict[str, Any]]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                raw = (f"Content-Type: {self.headers['Content-Type']}\r\n\r\n").encode() + body
                message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
                parts = []
                for part in message.iter_parts():
                    parts.append({
                        "name": part.get_param("name", header="content-disposition"),
                        "filename": part.get_filename(),
                        "contentType": part.get_content_type() if part.get("Content-Type") else None,
                        "value": part.get_payload(decode=True),
                    })
                server.forms.append(parts)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/bucket"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class UploadTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.engine = make_engine(preloads="matplotlib")

    @classmethod
    def tearDownClass(cls) -> None:
        cls.engine.close()

    def upload_spec(self, url: str) -> dict[str, Any]:
        return {"url": url, "fields": {"policy": "cG9saWN5", "x-amz-signature": "abc123",
                                       "key": "ignored-the-executor-sets-it"},
                "keyPrefix": "executions/inv-7/"}

    def test_each_file_is_posted_with_fields_key_and_content_type(self) -> None:
        server = FormServer()
        try:
            response = self.engine.execute({
                "script": "open('outputs/data.json', 'w').write('{\"a\": 1}')\n"
                          "open('outputs/q\"uote.txt', 'w').write('q')\n"
                          "def main():\n    return 'ok'\n",
                "requestId": "inv-7",
                "artifactUpload": self.upload_spec(server.url),
            }, "lambda-id")
            self.engine.recycle()
        finally:
            server.close()
        self.assertTrue(response["ok"], response)
        self.assertEqual(response["requestId"], "inv-7")
        self.assertEqual(response["artifacts"], [
            {"name": "data.json", "contentType": "application/json", "size": 8,
             "key": "executions/inv-7/data.json"},
            {"name": 'q"uote.txt', "contentType": "text/plain", "size": 1,
             "key": 'executions/inv-7/q"uote.txt'},
        ])
        self.assertEqual(len(server.forms), 2)
        form = server.forms[0]
        names = [part["name"] for part in form]
        self.assertEqual(names, ["policy", "x-amz-signature", "key", "Content-Type", "file"])
        values = {part["name"]: part["value"] for part in form}
        self.assertEqual(values["key"], b"executions/inv-7/data.json")
        self.assertEqual(values["Content-Type"], b"application/json")
        self.assertEqual(values["policy"], b"cG9saWN5")
        self.assertEqual(form[-1]["filename"], "data.json")
        self.assertEqual(form[-1]["value"], b'{"a": 1}')

    def test_a_file_in_a_sub_folder_is_uploaded_under_its_path_and_named_by_it(self) -> None:
        server = FormServer()
        try:
            response = self.engine.execute({
                "script": "import os\nos.makedirs('outputs/plots/2024')\n"
                          "open('outputs/plots/2024/a.csv', 'w').write('x')\n",
                "artifactUpload": self.upload_spec(server.url),
            }, "r")
            self.engine.recycle()
        finally:
            server.close()
        self.assertTrue(response["ok"], response)
        self.assertEqual(response["artifacts"], [
            {"name": "plots/2024/a.csv", "contentType": "text/csv", "size": 1,
             "key": "executions/inv-7/plots/2024/a.csv"},
        ])
        self.assertEqual({part["name"]: part["value"] for part in server.forms[0]}["key"],
                         b"executions/inv-7/plots/2024/a.csv")

    def test_rejected_upload_is_an_internal_error(self) -> None:
        server = FormServer(status=403)
        try:
            response = self.engine.execute({
                "script": "open('outputs/x.txt', 'w').write('x')\n",
                "artifactUpload": self.upload_spec(server.url),
            }, "r")
            self.engine.recycle()
        finally:
            server.close()
        self.assertFalse(response["ok"])
        self.assertEqual(response["errorType"], "InternalError")
        self.assertEqual(response["error"],
                         "Uploading artifact 'x.txt' failed: the storage answered HTTP 403.")

    @requires("matplotlib")
    def test_figures_are_uploaded_as_png(self) -> None:
        server = FormServer()
        try:
            response = self.engine.execute({
                "script": "import matplotlib.pyplot as plt\nplt.plot([1, 2])\n",
                "artifactUpload": self.upload_spec(server.url),
            }, "r")
            self.engine.recycle()
        finally:
            server.close()
        self.assertEqual([item["key"] for item in response["artifacts"]],
                         ["executions/inv-7/figure-1.png"])
        file_part = server.forms[0][-1]
        self.assertEqual(file_part["contentType"], "image/png")
        self.assertTrue(file_part["value"].startswith(b"\x89PNG"))


class CollectTest(unittest.TestCase):
    def test_missing_or_symlinked_outputs_dir_gives_nothing(self) -> None:
        with tempfile.TemporaryDirectory() as root:
            self.assertEqual(artifacts.collect(os.path.join(root, "outputs"), 10, 100),
                             artifacts.Collected([]))
            os.mkdir(os.path.join(root, "elsewhere"))
            with open(os.path.join(root, "elsewhere", "x"), "w") as handle:
                handle.write("x")
            os.symlink(os.path.join(root, "elsewhere"), os.path.join(root, "outputs"))
            self.assertEqual(artifacts.collect(os.path.join(root, "outputs"), 10, 100),
                             artifacts.Collected([]))

    def test_deep_and_wide_trees_are_bounded(self) -> None:
        with tempfile.TemporaryDirectory() as root:
            outputs = os.path.join(root, "outputs")
            path = outputs
            for level in range(30):
                path = os.path.join(path, f"d{level}")
            os.makedirs(path)
            with open(os.path.join(path, "deep.txt"), "w") as handle:
                handle.write("deep")
            self.assertEqual(artifacts.collect(outputs, 10, 100).found, [])
            for index in range(artifacts.MAX_ENTRIES_SCANNED + 10):
                open(os.path.join(outputs, f"f{index:05}"), "w").close()
            collected = artifacts.collect(outputs, 10, 100)
            self.assertEqual(len(collected.found), 10)
            self.assertTrue(collected.more)
            self.assertIsNotNone(collected.problem)

    def test_names_follow_the_shared_fixture(self) -> None:
        with open(NAME_FIXTURE, encoding="utf-8") as handle:
            fixture = json.load(handle)
        self.assertEqual((fixture["maxNameBytes"], fixture["maxNameSegmentBytes"]),
                         (artifacts.MAX_NAME_BYTES, artifacts.MAX_NAME_SEGMENT_BYTES))
        for case in fixture["cases"]:
            raw = (bytes.fromhex(case["pathBytesHex"]) if "pathBytesHex" in case
                   else case["path"].encode("utf-8"))
            with self.subTest(path=raw), tempfile.TemporaryDirectory() as root:
                outputs = os.path.join(root.encode(), b"outputs")
                os.makedirs(os.path.join(outputs, os.path.dirname(raw)))
                with open(os.path.join(outputs, raw), "wb") as handle:
                    handle.write(b"x")
                collected = artifacts.collect(outputs.decode("utf-8", "surrogateescape"), 10, 100)
                found, problem = collected.found, collected.problem
                if case["name"] is None:
                    self.assertEqual(found, [])
                    self.assertIn("has a name too long to return as an artifact", problem)
                else:
                    self.assertEqual([artifact.name for artifact in found], [case["name"]])
                    self.assertIsNone(problem)

    def test_names_that_become_equal_are_numbered_in_name_order(self) -> None:
        with open(NAME_FIXTURE, encoding="utf-8") as handle:
            duplicates = json.load(handle)["duplicates"]
        with tempfile.TemporaryDirectory() as root:
            outputs = os.path.join(root, "outputs")
            os.makedirs(os.path.join(outputs, "sub"))
            for path in duplicates["paths"]:
                with open(os.path.join(outputs, path), "w") as handle:
                    handle.write(path)
            collected = artifacts.collect(outputs, 10, 100)
        found = collected.found
        self.assertIsNone(collected.problem)
        self.assertEqual([artifact.name for artifact in found], duplicates["names"])
        self.assertEqual([artifact.data.decode() for artifact in found], duplicates["paths"])

    def test_multipart_body_escapes_header_breaking_names(self) -> None:
        body, header = artifacts.multipart_body([("a", "1")], 'x"\r\nInjected: yes', "text/plain",
                                                b"data")
        self.assertNotIn(b"\r\nInjected: yes", body)
        self.assertTrue(header.startswith("multipart/form-data; boundary="))


if __name__ == "__main__":
    unittest.main()
