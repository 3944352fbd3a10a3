"""Small file helpers every stage uses: atomic writes, JSONL with line numbers, and a run manifest.

Atomic writes (write to a temp file in the same directory, fsync, `os.replace`) are what make runs
resumable: a file either exists whole or not at all, so a killed stage is simply redone.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class DataFileError(ValueError):
    """An input file that cannot be read at all (one clear message with the path and line)."""


class DirBusyError(RuntimeError):
    """Another process holds the directory's lock (two runs writing one directory would corrupt it)."""


@contextlib.contextmanager
def dir_lock(directory: str | Path) -> Iterator[Path]:
    """Hold `<directory>/.lock` exclusively for the block, or raise DirBusyError at once.

    An OS lock (`flock`), not a marker file: the kernel drops it when the holder exits, killed or not, so a
    killed run never leaves a stale lock behind. Where `fcntl` does not exist (Windows) the block runs
    unlocked.
    """
    path = Path(directory) / ".lock"
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield path
        return
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "?"
            raise DirBusyError(
                f"{directory} is in use by another process (pid {holder}); wait for it to finish or stop it"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        try:
            yield path
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def atomic_write_text(path: str | Path, text: str) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return p


def atomic_write_json(path: str | Path, obj: Any, indent: int | None = 2) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")


def write_jsonl(path: str | Path, rows: Iterable[Any]) -> int:
    """Write all rows atomically; returns the count."""
    lines = [json.dumps(r, ensure_ascii=False) for r in rows]
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """Yield `(line_number, obj)`; a line that is not JSON raises DataFileError naming path and line."""
    p = Path(path)
    if not p.exists():
        raise DataFileError(f"{p}: file not found")
    with p.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as e:
                raise DataFileError(f"{p}:{lineno}: not valid JSON ({e.msg} at column {e.colno})") from e


def read_jsonl(path: str | Path) -> list[Any]:
    return [obj for _, obj in iter_jsonl(path)]


def read_json(path: str | Path) -> Any:
    p = Path(path)
    if not p.exists():
        raise DataFileError(f"{p}: file not found")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataFileError(f"{p}:{e.lineno}: not valid JSON ({e.msg} at column {e.colno})") from e


@dataclass
class Manifest:
    """`manifest.json` of a run directory: which stages finished, when, and what they wrote.

    A stage is done only once `mark_done` has been written, and it is written after the stage's outputs,
    so a stage killed half-way is redone from scratch on resume and nothing is duplicated.
    """

    path: Path

    @classmethod
    def open(cls, run_dir: str | Path) -> Manifest:
        return cls(Path(run_dir) / "manifest.json")

    def load(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"stages": {}}
        return read_json(self.path)

    def is_done(self, stage: str) -> bool:
        return self.load()["stages"].get(stage, {}).get("status") == "done"

    def get(self, stage: str) -> dict[str, Any] | None:
        return self.load()["stages"].get(stage)

    def mark_done(self, stage: str, **info: Any) -> None:
        data = self.load()
        data["stages"][stage] = {"status": "done", "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"), **info}
        atomic_write_json(self.path, data)

    def stages(self) -> dict[str, Any]:
        return self.load()["stages"]
