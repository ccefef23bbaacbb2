"""Sealed invocations (seal.py): only the key's holders can read a request or answer it."""

from __future__ import annotations

import base64
import json
import os
import signal
import unittest

from executor.seal import SealError, Sealer, from_secret

from .runtime_api import RuntimeApi
from .support import descendants_of
from .test_runtime import start_runtime, stop_runtime

KEY = "k" * 40
VECTORS = os.path.join(os.path.dirname(__file__), "..", "..", "contract", "seal-vectors.json")


class SealTest(unittest.TestCase):
    def setUp(self) -> None:
        self.sealer = Sealer(KEY.encode())
        self.nonce = os.urandom(16)

    def test_a_sealed_request_opens_to_the_same_event_and_hides_it(self) -> None:
        event = {"script": "def main():\n    return 'needle-1234'", "input": [1, 2]}
        sealed = self.sealer.seal(event, self.nonce)
        self.assertNotIn("needle-1234", json.dumps(sealed))
        self.assertEqual(self.sealer.open(sealed), (event, self.nonce))

    def test_altered_or_foreign_requests_do_not_open(self) -> None:
        sealed = self.sealer.seal({"script": "pass"}, self.nonce)
        flipped = dict(sealed, ciphertext=sealed["ciphertext"][:-4] + "AAA=")
        for case in (flipped, Sealer(b"another key of forty characters, at least").seal(
                {"script": "pass"}, self.nonce), dict(sealed, sealed="v0"), {"sealed": "v1"}):
            with self.subTest(case=str(case)[:60]):
                with self.assertRaises(SealError):
                    self.sealer.open(case)

    def test_an_answer_verifies_only_for_its_own_request_and_key(self) -> None:
        response = b'{"ok":true,"result":1}'
        signed = self.sealer.sign(response, self.nonce)
        self.assertEqual(self.sealer.verify(signed, self.nonce), response)
        self.assertIsNone(self.sealer.verify(signed, os.urandom(16)))
        self.assertIsNone(Sealer(b"x" * 40).verify(signed, self.nonce))
        self.assertIsNone(self.sealer.verify(signed.replace(b"1}", b"2}"), self.nonce))
        self.assertIsNone(self.sealer.verify(response, self.nonce))

    def test_a_short_key_is_refused(self) -> None:
        with self.assertRaises(SealError):
            from_secret("short")
        self.assertIsNone(from_secret(None))


class SealVectorsTest(unittest.TestCase):
    """contract/seal-vectors.json, which test/contract/seal.test.ts holds the invoker to."""

    @classmethod
    def setUpClass(cls) -> None:
        with open(VECTORS, encoding="utf-8") as handle:
            cls.vectors = json.load(handle)
        cls.sealer = Sealer(cls.vectors["secret"].encode("utf-8"))

    def test_the_invokers_sealed_requests_open_to_their_events(self) -> None:
        for vector in self.vectors["requests"]:
            with self.subTest(vector["name"]):
                nonce = base64.b64decode(vector["nonce"])
                self.assertEqual(self.sealer.open(vector["sealed"]),
                                 (json.loads(vector["event"]), nonce))
                if vector["event"].isascii():
                    self.assertEqual(self.sealer.seal(json.loads(vector["event"]), nonce),
                                     vector["sealed"])

    def test_tampered_requests_do_not_open(self) -> None:
        for vector in self.vectors["tamperedRequests"]:
            with self.subTest(vector["name"]):
                with self.assertRaises(SealError):
                    self.sealer.open(vector["sealed"])

    def test_answers_sign_to_the_envelope_the_invoker_opens(self) -> None:
        for vector in self.vectors["answers"]:
            with self.subTest(vector["name"]):
                nonce = base64.b64decode(vector["nonce"])
                response, payload = vector["response"].encode(), vector["payload"].encode()
                self.assertEqual(self.sealer.sign(response, nonce), payload)
                self.assertEqual(self.sealer.verify(payload, nonce), response)

    def test_tampered_answers_do_not_verify(self) -> None:
        for vector in self.vectors["tamperedAnswers"]:
            with self.subTest(vector["name"]):
                self.assertIsNone(self.sealer.verify(vector["payload"].encode(),
                                                     base64.b64decode(vector["nonce"])))

    def test_secrets_are_accepted_or_refused_as_the_invoker_decides(self) -> None:
        for vector in self.vectors["secrets"]:
            with self.subTest(vector["why"]):
                if vector["accepted"]:
                    self.assertIsNotNone(from_secret(vector["secret"]))
                else:
                    with self.assertRaises(SealError):
                        from_secret(vector["secret"])


class SealedRuntimeTest(unittest.TestCase):
    """The real runtime loop with EXECUTOR_SEAL_KEY set."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.api = RuntimeApi()
        cls.process = start_runtime(cls.api, EXECUTOR_SEAL_KEY=KEY, EXECUTOR_PRELOADS="")

    @classmethod
    def tearDownClass(cls) -> None:
        stop_runtime(cls.process)
        cls.api.close()

    def invoke(self, body: bytes) -> bytes:
        return self.api.invoke(body, timeout_s=60).body

    def test_sealed_requests_get_signed_answers(self) -> None:
        sealer = Sealer(KEY.encode())
        nonce = os.urandom(16)
        payload = self.invoke(json.dumps(sealer.seal(
            {"script": "import os\ndef main():\n    return sorted(os.environ)"}, nonce)).encode())
        response = json.loads(sealer.verify(payload, nonce) or b"null")
        self.assertTrue(response["ok"], payload[:500])
        self.assertNotIn("EXECUTOR_SEAL_KEY", response["result"])

    def test_direct_invokes_stay_plain(self) -> None:
        response = json.loads(self.invoke(b'{"script": "def main():\\n    return 2"}'))
        self.assertEqual(response["result"], 2)

    def test_a_request_sealed_with_another_key_is_an_internal_error(self) -> None:
        other = Sealer(b"not the runtime's key, but long enough!")
        response = json.loads(self.invoke(json.dumps(other.seal({"script": "pass"},
                                                                os.urandom(16))).encode()))
        self.assertEqual(response["errorType"], "InternalError")
        self.assertIn("integrity check", response["error"])


class SealedRuntimeStartingOverTest(unittest.TestCase):
    """A runtime whose worker template was lost starts over in a new image, key included."""

    def test_sealed_requests_still_open_after_the_runtime_started_over(self) -> None:
        api = RuntimeApi()
        process = start_runtime(api, EXECUTOR_SEAL_KEY=KEY, EXECUTOR_PRELOADS="")
        try:
            sealer = Sealer(KEY.encode())

            def sealed_call(script: str) -> dict:
                nonce = os.urandom(16)
                payload = api.invoke(json.dumps(sealer.seal({"script": script}, nonce)).encode(),
                                     timeout_s=60).body
                opened = sealer.verify(payload, nonce)
                self.assertIsNotNone(opened, payload[:300])
                return json.loads(opened or b"null")

            self.assertEqual(sealed_call("def main():\n    return 1")["result"], 1)
            children = [pid for pid in descendants_of(process.pid)]
            self.assertTrue(children)
            for pid in children:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            # The first request finds the template gone (its parked worker was
            # killed too, so it may fail); every answer still opens, and the
            # runtime that started over serves the rest.
            answers = [sealed_call(f"def main():\n    return {n}") for n in range(2, 5)]
            self.assertIn(answers[0].get("result"), (2, None), answers[0])
            self.assertEqual([answer.get("result") for answer in answers[1:]], [3, 4], answers)
            self.assertIsNone(process.poll(), "the runtime exited instead of starting over")
        finally:
            stop_runtime(process)
            api.close()


if __name__ == "__main__":
    unittest.main()
