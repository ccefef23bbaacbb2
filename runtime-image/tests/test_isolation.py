"""Nothing of one execution is visible to the next, in sequence or in parallel."""

from __future__ import annotations

import os
import threading
import unittest
from typing import Any

from .support import descendants_of, make_engine, run

PLANT = """
import builtins, json, os, sys, time
open('planted.txt', 'w').write('first')
open(os.path.join(os.environ['TMPDIR'], 'planted-tmpdir'), 'w').write('first')
for path in ('/tmp/planted-tmp', '/dev/shm/planted-shm'):
    try:
        open(path, 'w').write('first')
    except OSError:
        pass
os.environ['PLANTED'] = '1'
builtins.PLANTED = 1
json.PLANTED = 1
json.dumps = lambda *a, **k: 'hijacked'
sys.modules['planted_module'] = type(sys)('planted_module')
with open('sitecustomize.py', 'w') as handle:
    handle.write('raise SystemExit(99)')
if os.fork() == 0:
    os.setsid()
    time.sleep(3600)
def main():
    return os.getcwd()
"""

LOOK = """
import builtins, json, os, sys
def main(previous_dir):
    seen = {}
    for path in ('planted.txt', '/tmp/planted-tmp', '/dev/shm/planted-shm',
                 os.path.join(previous_dir, 'planted.txt'),
                 os.path.join(os.environ['TMPDIR'], 'planted-tmpdir')):
        seen[path] = os.path.exists(path)
    return {
        'files': seen,
        'cwd_entries': sorted(os.listdir('.')),
        'environ': 'PLANTED' in os.environ,
        'builtins': hasattr(builtins, 'PLANTED'),
        'json': hasattr(json, 'PLANTED') or json.dumps([1]) != '[1]',
        'module': 'planted_module' in sys.modules,
        'same_dir': os.getcwd() == previous_dir,
    }
"""

CLEAN = {
    "environ": False, "builtins": False, "json": False, "module": False,
}


class SequenceTest(unittest.TestCase):
    def test_second_execution_sees_nothing_of_the_first(self) -> None:
        engine = make_engine()
        try:
            first = run(engine, PLANT)
            self.assertTrue(first["ok"], first)
            second = run(engine, LOOK, input=first["result"])
            self.assertTrue(second["ok"], second)
            result = second["result"]
            self.assertEqual({key: result[key] for key in CLEAN}, CLEAN)
            self.assertFalse(any(result["files"].values()), result["files"])
            self.assertEqual(result["cwd_entries"], ["outputs", "tmp"])
            self.assertFalse(result["same_dir"])
            self.assertFalse(os.path.exists("/tmp/planted-tmp"))
            self.assertFalse(os.path.exists(first["result"]))
        finally:
            engine.close()
        self.assertEqual(descendants_of(os.getpid()), [])


class ParallelTest(unittest.TestCase):
    """Two engines (two environments) at the same time in one process."""

    def test_two_engines_running_at_once_cannot_see_each_other(self) -> None:
        engines = [make_engine(preloads=""), make_engine(preloads="")]
        script = (
            "import os, time\n"
            "def main(args):\n"
            "    mine, other_root = args\n"
            "    open('mine.txt', 'w').write(mine)\n"
            "    open('/tmp/shared-' + mine, 'w').write(mine)\n"
            "    time.sleep(0.5)\n"
            "    found = []\n"
            "    try:\n"
            "        for root, dirs, files in os.walk(other_root):\n"
            "            found.extend(files)\n"
            "    except OSError as error:\n"
            "        found.append(type(error).__name__)\n"
            "    tmp = sorted(name for name in os.listdir('/tmp') if name.startswith('shared-'))\n"
            "    return {'mine': open('mine.txt').read(), 'other': found, 'tmp': tmp}\n")
        responses: list[Any] = [None, None]

        def execute(index: int) -> None:
            other = engines[1 - index]
            responses[index] = engines[index].execute(
                {"script": script, "input": [f"engine{index}", other.state_dir]}, f"p{index}")

        try:
            threads = [threading.Thread(target=execute, args=(index,)) for index in (0, 1)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            for engine in engines:
                engine.recycle()
        finally:
            for engine in engines:
                engine.close()
        for index, response in enumerate(responses):
            self.assertTrue(response["ok"], response)
            result = response["result"]
            self.assertEqual(result["mine"], f"engine{index}")
            self.assertNotIn("mine.txt", result["other"])
            self.assertNotIn(f"shared-engine{1 - index}", result["tmp"])
        self.assertEqual(descendants_of(os.getpid()), [])


class StateFolderTest(unittest.TestCase):
    """A runtime removes other runtimes' state folders only when their owner's lock is free."""

    def test_a_starting_engine_keeps_a_live_engines_folder_and_removes_a_dead_ones(self) -> None:
        import fcntl
        import tempfile

        first = make_engine(preloads="")
        # A runtime killed after naming its folder: the lock file exists and nobody holds it.
        dead = tempfile.mkdtemp(prefix="executor-999999999-", dir=first.facts.tmp_dir)
        open(os.path.join(dead, ".lock"), "w").close()
        try:
            # The live folder carries its final name only with its lock already held.
            self.assertTrue(os.path.basename(first.state_dir).startswith(f"executor-{first.pid}-"))
            probe = os.open(os.path.join(first.state_dir, ".lock"), os.O_RDONLY)
            try:
                with self.assertRaises(BlockingIOError):
                    fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
            finally:
                os.close(probe)
            second = make_engine(preloads="")
            try:
                self.assertTrue(os.path.isdir(first.state_dir))
                self.assertFalse(os.path.exists(dead))
                self.assertEqual(run(first, "print('first')")["stdout"], "first\n")
            finally:
                second.close()
        finally:
            first.close()


if __name__ == "__main__":
    unittest.main()
