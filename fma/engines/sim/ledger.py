"""GPU memory accounting for simulated servers.

:class:`GpuMemory` is the pure model: each GPU has a capacity; owners claim bytes on a set
of GPUs all-or-nothing, and a claim that does not fit raises :class:`OutOfMemory` with
the numbers. :class:`FileLedger` shares one ``GpuMemory`` between the simulator processes
of a node through a JSON file guarded by ``flock``; claims of processes that died are
dropped (a crashed server frees its GPU memory, as with a real driver).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

GiB = 2**30


class OutOfMemory(RuntimeError):
    """A claim did not fit; the message is shaped like PyTorch's CUDA OOM message."""

    def __init__(self, gpu: str, index: int, wanted: int, capacity: int, free: int) -> None:
        self.gpu, self.wanted, self.capacity, self.free = gpu, wanted, capacity, free
        super().__init__(
            f"CUDA out of memory. Tried to allocate {wanted / GiB:.2f} GiB. GPU {index} has a total "
            f"capacity of {capacity / GiB:.2f} GiB of which {free / GiB:.2f} GiB is free."
        )


@dataclass
class GpuMemory:
    """Capacity and claims per GPU key (a UUID or an index string)."""

    capacity: dict[str, int]
    claims: dict[str, dict[str, int]] = field(default_factory=dict)  # owner -> gpu -> bytes

    def used(self, gpu: str) -> int:
        return sum(c.get(gpu, 0) for c in self.claims.values())

    def free(self, gpu: str) -> int:
        return self.capacity[gpu] - self.used(gpu)

    def claim(self, owner: str, gpus: Sequence[str], nbytes: int) -> None:
        """Add ``nbytes`` on every GPU in ``gpus`` for ``owner``; all or nothing."""
        for i, g in enumerate(gpus):
            if g not in self.capacity:
                raise KeyError(f"unknown GPU {g!r}; known: {sorted(self.capacity)}")
            if nbytes > self.free(g):
                raise OutOfMemory(g, i, nbytes, self.capacity[g], self.free(g))
        mine = self.claims.setdefault(owner, {})
        for g in gpus:
            mine[g] = mine.get(g, 0) + nbytes

    def release(self, owner: str) -> int:
        """Drop everything ``owner`` holds; return the bytes freed (summed over GPUs)."""
        return sum(self.claims.pop(owner, {}).values())

    def held(self, owner: str) -> int:
        return sum(self.claims.get(owner, {}).values())

    def to_json(self) -> dict:
        return {"capacity": self.capacity, "claims": self.claims}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class FileLedger:
    """A :class:`GpuMemory` in ``DIR/gpus.json``, shared by processes (flock on ``DIR/.lock``).

    Owners are ``"<pid>:<name>"``; owners whose pid is gone are pruned on every access.
    A GPU not yet in the file is added with ``default_capacity``.
    """

    def __init__(self, directory: Path | str, default_capacity: int) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "gpus.json"
        self.default_capacity = default_capacity

    @contextlib.contextmanager
    def open(self, gpus: Sequence[str] = ()) -> Iterator[GpuMemory]:
        with open(self.dir / ".lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                raw = json.loads(self.path.read_text()) if self.path.exists() else {}
                mem = GpuMemory(capacity={k: int(v) for k, v in raw.get("capacity", {}).items()},
                                claims={o: {g: int(b) for g, b in c.items()}
                                        for o, c in raw.get("claims", {}).items()})
                for owner in list(mem.claims):
                    pid = owner.split(":", 1)[0]
                    if pid.isdigit() and not _pid_alive(int(pid)):
                        mem.release(owner)
                for g in gpus:
                    mem.capacity.setdefault(g, self.default_capacity)
                yield mem
                tmp = self.path.with_suffix(".tmp")
                tmp.write_text(json.dumps(mem.to_json(), sort_keys=True))
                os.replace(tmp, self.path)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


class LocalLedger:
    """The same interface as :class:`FileLedger`, in process memory (no sharing)."""

    def __init__(self, default_capacity: int) -> None:
        self.default_capacity = default_capacity
        self.mem = GpuMemory(capacity={})

    @contextlib.contextmanager
    def open(self, gpus: Sequence[str] = ()) -> Iterator[GpuMemory]:
        for g in gpus:
            self.mem.capacity.setdefault(g, self.default_capacity)
        yield self.mem


class InstanceMemory:
    """One server's GPU memory through its life: what the simulator claims and frees.

    ``start`` claims ``claim_bytes`` on each GPU; ``sleep`` frees it all; ``wake(tag)``
    claims the weights part (``weights``) or the rest (``kv_cache``); ``stop`` frees all.
    Every claim is all-or-nothing and raises :class:`OutOfMemory` when it does not fit.
    """

    def __init__(self, ledger: "FileLedger | LocalLedger", owner: str, gpus: Sequence[str],
                 claim_bytes: int, weights_per_gpu: int) -> None:
        self.ledger, self.owner, self.gpus = ledger, owner, list(gpus)
        self.claim_bytes, self.weights_per_gpu = claim_bytes, min(weights_per_gpu, claim_bytes)

    def part_bytes(self, tag: str) -> int:
        return self.weights_per_gpu if tag == "weights" else self.claim_bytes - self.weights_per_gpu

    def _claim(self, nbytes: int) -> None:
        with self.ledger.open(self.gpus) as mem:
            mem.claim(self.owner, self.gpus, nbytes)

    def _release(self) -> None:
        with self.ledger.open(self.gpus) as mem:
            mem.release(self.owner)

    def start(self) -> None:
        self._claim(self.claim_bytes)

    def sleep(self) -> None:
        self._release()

    def wake(self, tag: str) -> None:
        self._claim(self.part_bytes(tag))

    def stop(self) -> None:
        self._release()

    def held_per_gpu(self) -> int:
        with self.ledger.open(self.gpus) as mem:
            return mem.claims.get(self.owner, {}).get(self.gpus[0], 0) if self.gpus else 0
