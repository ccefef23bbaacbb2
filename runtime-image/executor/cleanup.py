"""Removing what an execution wrote: files anywhere it could write, and System V IPC objects.

Runs after containment, so no process of the execution is alive to race
the removal (swap a directory for a symlink, keep a file open).
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
from typing import Iterable, Optional

from . import syscalls

SYSV_KINDS = ("shm", "msg", "sem")


def remove_tree(path: str) -> None:
    """Delete a directory tree of any depth, including directories made unreadable.

    shutil.rmtree recurses once per level, and a script can build a tree
    deeper than the recursion limit (or PATH_MAX). Here every subdirectory's
    entries are renamed up into the top directory before it is removed, so
    the work is flat: one pass per entry, two open directories at a time.
    A runtime that shares the script's uid owns every entry, so it gives
    itself access back (mode 000 directories, read-only parents) first.
    """
    try:
        info = os.lstat(path)
    except OSError:
        return
    if not stat.S_ISDIR(info.st_mode):
        _unlink(path, None)
        return
    _grant(path, None)
    try:
        top = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        shutil.rmtree(path, ignore_errors=True)
        return
    token = secrets.token_hex(6)
    counter = 0
    try:
        progress = True
        while progress:
            progress = False
            for entry in list(os.scandir(top)):
                try:
                    if not entry.is_dir(follow_symlinks=False):
                        os.unlink(entry.name, dir_fd=top)
                        progress = True
                        continue
                    _grant(entry.name, top)
                    child = os.open(entry.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW,
                                    dir_fd=top)
                    try:
                        for inner in list(os.scandir(child)):
                            if inner.is_dir(follow_symlinks=False):
                                # Moving a directory rewrites its "..": it must be writable.
                                _grant(inner.name, child)
                            counter += 1
                            os.rename(inner.name, f".executor-rm-{token}-{counter}",
                                      src_dir_fd=child, dst_dir_fd=top)
                            progress = True
                    finally:
                        os.close(child)
                    os.rmdir(entry.name, dir_fd=top)
                    progress = True
                except FileNotFoundError:
                    progress = True
                except OSError:
                    continue  # left for the next pass; a pass without progress ends it
    finally:
        os.close(top)
    try:
        os.rmdir(path)
    except OSError:
        shutil.rmtree(path, ignore_errors=True)


def _grant(name: str, directory: Optional[int]) -> None:
    if os.geteuid() == 0:
        return  # root is not held back by modes
    try:
        os.chmod(name, 0o700, dir_fd=directory)
    except OSError:
        pass


def _unlink(name: str, directory: Optional[int]) -> None:
    try:
        os.unlink(name, dir_fd=directory)
    except OSError:
        pass


def empty_directory(directory: str, keep: Iterable[str] = ()) -> None:
    """Remove every entry of directory except the names in keep."""
    spared = set(keep)
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if name not in spared:
            remove_tree(os.path.join(directory, name))


def sysv_objects(owner_uid: Optional[int] = None) -> set[tuple[str, int]]:
    """(kind, id) of the System V IPC objects visible here, optionally of one uid only."""
    found = set()
    for kind in SYSV_KINDS:
        try:
            with open(f"/proc/sysvipc/{kind}", "rb") as handle:
                header = handle.readline().split()
                id_column = header.index(b"shmid" if kind == "shm" else
                                         b"msqid" if kind == "msg" else b"semid")
                uid_column = header.index(b"uid")
                for line in handle:
                    fields = line.split()
                    if owner_uid is None or int(fields[uid_column]) == owner_uid:
                        found.add((kind, int(fields[id_column])))
        except (OSError, ValueError, IndexError):
            continue
    return found


def remove_sysv_objects(objects: Iterable[tuple[str, int]]) -> None:
    for kind, identifier in objects:
        syscalls.remove_sysv_object(kind, identifier)
