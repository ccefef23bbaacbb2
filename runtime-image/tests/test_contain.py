"""Containment against the kernel's re-parenting race, on a simulated /proc.

The race: a worker W that is exiting hands its child G to the runtime (the
child subreaper) in exit_notify. If that happens after a sweep has read the
runtime's children and before it reads W's, the sweep sees G in neither
list. A sweep that then stopped would leave G, a zombie of the runtime,
until the next execution (CI once caught exactly this). Real processes lose
this race only by chance, so the kernel is simulated here and made to move
G at the worst moment, every time.
"""

from __future__ import annotations

import os
import unittest
from typing import Callable
from unittest import mock

from executor import contain, procfs

RUNTIME, TEMPLATE, WORKER, GRANDCHILD, GREAT_GRANDCHILD = os.getpid(), 900_001, 900_002, 900_003, 900_004
SID = 4242


class SimulatedKernel:
    """Process table in which the worker can finish exiting right after the first read of the runtime's children."""

    def __init__(self, move_grandchild_after_first_read: bool, template_reaps_at_once: bool = False,
                 grandchild_state: str = "Z", worker_stays_exiting: bool = False) -> None:
        self.parent = {TEMPLATE: RUNTIME, WORKER: TEMPLATE, GRANDCHILD: WORKER}
        self.state = {TEMPLATE: "S", WORKER: "R", GRANDCHILD: grandchild_state}
        # A worker tearing down a large memory map: in do_exit (PF_EXITING)
        # for a long while, its children already handed over.
        self.exiting = {WORKER} if worker_stays_exiting else set()
        self.move_after_first_read = move_grandchild_after_first_read
        self.template_reaps_at_once = template_reaps_at_once
        self.runtime_reads = 0
        # Further kernel events, each right after the runtime's children were read that many times.
        self.after_runtime_read: dict[int, Callable[[], None]] = {}
        self.reaped: list[int] = []
        self.killed: list[int] = []
        if not move_grandchild_after_first_read:
            self._worker_exits()

    def _worker_exits(self) -> None:
        # exit_notify: the children go to the subreaper, then the task is a zombie...
        self.parent[GRANDCHILD] = RUNTIME
        if WORKER in self.exiting:
            return
        self.state[WORKER] = "Z"
        if self.template_reaps_at_once:
            # ...which its parent, the template, may reap before the sweep reads its children.
            del self.parent[WORKER], self.state[WORKER]

    def children(self, pid: int) -> set[int]:
        found = {child for child, parent in self.parent.items() if parent == pid}
        if pid == RUNTIME:
            self.runtime_reads += 1
            if self.runtime_reads == 1 and self.move_after_first_read:
                self._worker_exits()
            if self.runtime_reads in self.after_runtime_read:
                self.after_runtime_read[self.runtime_reads]()
        return found

    def stat(self, pid: int) -> procfs.Stat | None:
        if pid not in self.parent:
            return None
        sid = SID + 1 if pid != TEMPLATE else SID
        flags = procfs.PF_EXITING if pid in self.exiting else 0
        return procfs.Stat(pid=pid, state=self.state[pid], ppid=self.parent[pid], pgid=pid,
                           sid=sid, flags=flags, start_ticks=pid)

    def finished(self, pid: int) -> bool:
        parsed = self.stat(pid)
        return parsed is None or parsed.finished

    def waitpid(self, pid: int, _options: int) -> tuple[int, int]:
        if self.parent.get(pid) == RUNTIME and self.state.get(pid) == "Z":
            del self.parent[pid], self.state[pid]
            self.reaped.append(pid)
            return pid, 0
        return 0, 0

    def kill(self, victim: procfs.Stat) -> int:
        self.killed.append(victim.pid)
        self.state[victim.pid] = "Z"
        return 1

    def patches(self) -> list:
        return [mock.patch.object(procfs, "children", self.children),
                mock.patch.object(procfs, "stat", self.stat),
                mock.patch.object(procfs, "finished", self.finished),
                mock.patch.object(procfs, "task_stats",
                                  lambda pid: [s] if (s := self.stat(pid)) else []),
                mock.patch.object(contain.os, "waitpid", self.waitpid),
                mock.patch.object(contain, "_kill", self.kill)]


def run_contain(kernel: SimulatedKernel, timeout_s: float = 2.0,
                subreaper: bool = True) -> contain.Report:
    scope = contain.Scope(runtime_pid=RUNTIME, runtime_sid=SID,
                          keep=frozenset({(TEMPLATE, TEMPLATE)}), dedicated_uid=None,
                          subreaper=subreaper)
    patches = kernel.patches()
    for patch in patches:
        patch.start()
    try:
        return contain.contain(scope, timeout_s=timeout_s)
    finally:
        for patch in reversed(patches):
            patch.stop()


class ReparentingRaceTest(unittest.TestCase):
    def test_a_child_handed_over_mid_sweep_is_still_reaped(self) -> None:
        kernel = SimulatedKernel(move_grandchild_after_first_read=True)
        report = run_contain(kernel)
        self.assertEqual(kernel.reaped, [GRANDCHILD],
                         "the grandchild re-parented during the sweep was left unreaped")
        self.assertGreaterEqual(report.rounds, 2)

    def test_a_child_handed_over_before_the_sweep_is_reaped_too(self) -> None:
        kernel = SimulatedKernel(move_grandchild_after_first_read=False)
        run_contain(kernel)
        self.assertEqual(kernel.reaped, [GRANDCHILD])

    def test_a_child_of_a_parent_reaped_mid_sweep_is_still_reaped(self) -> None:
        # The first round lists nothing at all: the worker was reaped by the
        # template between the reads, its child not yet seen below the runtime.
        kernel = SimulatedKernel(move_grandchild_after_first_read=True, template_reaps_at_once=True)
        run_contain(kernel)
        self.assertEqual(kernel.reaped, [GRANDCHILD])

    def test_a_live_child_of_a_parent_reaped_mid_sweep_is_killed(self) -> None:
        kernel = SimulatedKernel(move_grandchild_after_first_read=True, template_reaps_at_once=True,
                                 grandchild_state="S")
        run_contain(kernel)
        self.assertEqual(kernel.killed, [GRANDCHILD], "a live orphan outlived containment")
        self.assertEqual(kernel.reaped, [GRANDCHILD])

    def test_a_worker_still_exiting_without_children_does_not_hold_containment(self) -> None:
        # Its exit may take tens of milliseconds (a large memory map): with no
        # child left it has nothing to hand over, so nobody waits for it.
        kernel = SimulatedKernel(move_grandchild_after_first_read=True, worker_stays_exiting=True)
        report = run_contain(kernel)
        self.assertEqual(kernel.reaped, [GRANDCHILD])
        self.assertLessEqual(report.rounds, 3)

    def test_a_worker_still_exiting_with_a_child_is_waited_for(self) -> None:
        kernel = SimulatedKernel(move_grandchild_after_first_read=True, worker_stays_exiting=True)
        kernel.parent[GRANDCHILD] = WORKER  # not handed over yet
        kernel.move_after_first_read = False
        # The grandchild, a zombie the runtime cannot reap while it is the
        # worker's, keeps containment going until its deadline.
        report = run_contain(kernel, timeout_s=0.2)
        self.assertGreater(report.rounds, 3)
        self.assertEqual(kernel.reaped, [])

    def test_a_late_orphan_that_hands_over_its_own_child_mid_round_is_followed(self) -> None:
        # Round 1 misses the grandchild (handed over mid-round, still running);
        # the look below the runtime finds it. It then exits on its own during
        # round 2's reads, handing over a child of its own: round 2 looks
        # quiet, but it found a process round 1 had not seen settle.
        for subreaper in (True, False):
            with self.subTest(subreaper=subreaper):
                kernel = SimulatedKernel(move_grandchild_after_first_read=True, grandchild_state="R")
                kernel.parent[GREAT_GRANDCHILD] = GRANDCHILD
                kernel.state[GREAT_GRANDCHILD] = "S"

                def grandchild_exits() -> None:
                    kernel.parent[GREAT_GRANDCHILD] = RUNTIME
                    kernel.state[GRANDCHILD] = "Z"
                kernel.after_runtime_read[3 if subreaper else 2] = grandchild_exits
                run_contain(kernel, subreaper=subreaper)
                self.assertIn(GREAT_GRANDCHILD, kernel.killed, "a live orphan outlived containment")
                self.assertEqual(sorted(kernel.reaped), [GRANDCHILD, GREAT_GRANDCHILD])

    def test_an_empty_tree_takes_one_round_and_a_look_below_a_subreaper(self) -> None:
        kernel = SimulatedKernel(move_grandchild_after_first_read=False)
        kernel.parent = {TEMPLATE: RUNTIME}
        kernel.state = {TEMPLATE: "S"}
        self.assertEqual(run_contain(kernel).rounds, 1)
        self.assertEqual(kernel.runtime_reads, 2)

    def test_without_a_subreaper_a_quiet_round_is_confirmed_by_a_whole_round(self) -> None:
        kernel = SimulatedKernel(move_grandchild_after_first_read=False)
        kernel.parent = {TEMPLATE: RUNTIME}
        kernel.state = {TEMPLATE: "S"}
        self.assertEqual(run_contain(kernel, subreaper=False).rounds, 2)

    def test_every_losing_order_also_without_a_subreaper(self) -> None:
        for template_reaps_at_once, grandchild_state in ((False, "Z"), (True, "Z"), (True, "S")):
            with self.subTest(template_reaps_at_once=template_reaps_at_once, grandchild=grandchild_state):
                kernel = SimulatedKernel(move_grandchild_after_first_read=True,
                                         template_reaps_at_once=template_reaps_at_once,
                                         grandchild_state=grandchild_state)
                run_contain(kernel, subreaper=False)
                self.assertEqual(kernel.reaped, [GRANDCHILD])

if __name__ == "__main__":
    unittest.main()
