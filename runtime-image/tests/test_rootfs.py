"""The worker's filesystem view: an interpreter in a closed home is still importable."""

from __future__ import annotations

import os
import sys
import tempfile
import unittest

from executor import rootfs

from .support import ROOT, make_engine, run


class ClosedAncestorTest(unittest.TestCase):
    def test_the_outermost_directory_others_cannot_enter_is_found(self) -> None:
        with tempfile.TemporaryDirectory() as top:
            os.chmod(top, 0o755)
            closed = os.path.join(top, "home")
            inner = os.path.join(closed, "pyenv", "versions", "3.x")
            os.makedirs(inner)
            os.chmod(os.path.join(closed, "pyenv"), 0o700)
            os.chmod(closed, 0o700)
            self.assertEqual(rootfs.closed_ancestor(os.path.join(inner, "lib")), closed)
            os.chmod(closed, 0o711)
            self.assertEqual(rootfs.closed_ancestor(os.path.join(inner, "lib")),
                             os.path.join(closed, "pyenv"))
            os.chmod(os.path.join(closed, "pyenv"), 0o755)
            self.assertIsNone(rootfs.closed_ancestor(os.path.join(inner, "lib")))

    def test_the_interpreter_paths_include_the_standard_library(self) -> None:
        paths = rootfs.interpreter_paths()
        stdlib = os.path.realpath(os.path.dirname(os.__file__))
        self.assertTrue(any(stdlib == path or stdlib.startswith(path + "/") for path in paths),
                        paths)


@unittest.skipUnless(ROOT, "workers change uid only when the runtime is root")
class WorkerInterpreterTest(unittest.TestCase):
    """As root, workers run as a sandbox uid: the interpreter must stay readable to it."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.engine = make_engine()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.engine.close()

    def test_standard_modules_that_were_not_preloaded_import(self) -> None:
        script = ("import asyncio, statistics, sqlite3, decimal, fractions, zoneinfo\n"
                  "async def main():\n"
                  "    await asyncio.sleep(0)\n"
                  "    return str(statistics.mean([decimal.Decimal(1), decimal.Decimal(2)]))\n")
        response = run(self.engine, script)
        self.assertTrue(response["ok"], response)
        self.assertEqual(response["result"], "1.5")

    def test_a_closed_home_shows_only_the_interpreter(self) -> None:
        closed = rootfs.closed_ancestor(os.path.realpath(sys.prefix))
        if closed is None:
            # Nothing is covered: the worker sees the prefix as everyone does.
            response = run(self.engine, f"import os\ndef main():\n"
                                        f"    return os.path.isdir({sys.prefix!r})\n")
            self.assertEqual(response["result"], True, response)
            return
        expected = sorted({path[len(closed) + 1:].split("/")[0]
                           for path in rootfs.interpreter_paths()
                           if path.startswith(closed + "/")})
        response = run(self.engine, f"import os\ndef main():\n"
                                    f"    return sorted(os.listdir({closed!r}))\n")
        self.assertTrue(response["ok"], response)
        self.assertEqual(response["result"], expected)
        self.assertLess(len(expected), len(os.listdir(closed)), "the home holds more than that")
        response = run(self.engine, f"def main():\n    open({closed + '/x'!r}, 'w')\n")
        self.assertFalse(response["ok"], response)


if __name__ == "__main__":
    unittest.main()
