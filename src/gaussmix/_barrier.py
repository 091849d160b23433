"""A barrier between threads inside compiled kernels, for iterations on small data.

Lloyd's iterations on small data run inside one compiled call per thread
(:func:`gaussmix._lloyd_bounded._bounded_run`, :func:`gaussmix.kmeans._delta_run`):
after each assignment every thread raises its flag (an atomic release store)
and waits for the others' (acquire loads and the CPU's spin-wait hint), then
all of them take the same decisions from the same sums. Waking pooled threads
through the operating system instead cost ~0.1 ms an iteration here, as much
as the assignment of 100,000 rows on one core (benchmarks/NOTES.md #108).

(numba's cache watches a kernel's own source file: a change here does not
recompile the kernels that inline these intrinsics; touch those files too.)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

#: Flags of the threads of one run, each on its own cache line; the last slot
#: says that one of them failed.
FLAG_STRIDE = 8


class _LazyIntrinsic:
    """A numba intrinsic built on first compilation (``import gaussmix`` does
    not import numba); kernels naming it get the intrinsic itself."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __call__(self, *args: Any) -> Any:  # pragma: no cover - only compiled code calls it
        raise TypeError("compiled kernels only")

    def dispatcher(self) -> Any:
        if not _INTRINSICS:
            _INTRINSICS.update(_build_intrinsics())
        return _INTRINSICS[self._name]


_INTRINSICS: dict[str, Any] = {}


def _build_intrinsics() -> dict[str, Any]:
    """Atomic loads and stores of int64 array items, and a spin-wait hint."""
    import platform

    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.extending import intrinsic

    def item_pointer(context, builder, aryty, ary, idx):  # type: ignore[no-untyped-def]
        array = context.make_array(aryty)(context, builder, ary)
        return cgutils.get_item_pointer(context, builder, aryty, array, [idx], wraparound=False)

    @intrinsic
    def load_acquire(typingctx, arr, idx):  # type: ignore[no-untyped-def]
        def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
            ptr = item_pointer(context, builder, signature.args[0], args[0], args[1])
            return builder.load_atomic(ptr, "acquire", 8)

        return types.int64(arr, idx), codegen

    @intrinsic
    def store_release(typingctx, arr, idx, value):  # type: ignore[no-untyped-def]
        def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
            ptr = item_pointer(context, builder, signature.args[0], args[0], args[1])
            val = context.cast(builder, args[2], signature.args[2], types.int64)
            builder.store_atomic(val, ptr, "release", 8)
            return context.get_dummy_value()

        return types.void(arr, idx, value), codegen

    x86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")

    @intrinsic
    def pause(typingctx):  # type: ignore[no-untyped-def]
        def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
            if x86:  # the spin-wait hint (elsewhere the loop just spins)
                fn = cgutils.get_or_insert_function(
                    builder.module, ir.FunctionType(ir.VoidType(), []), "llvm.x86.sse2.pause")
                builder.call(fn, [])
            return context.get_dummy_value()

        return types.void(), codegen

    return {"load_acquire": load_acquire, "store_release": store_release, "pause": pause}


load_acquire = _LazyIntrinsic("load_acquire")
store_release = _LazyIntrinsic("store_release")
pause = _LazyIntrinsic("pause")



def usable_cpus() -> int:
    """CPUs this process may run on: threads spinning at a barrier need one each."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1



def run_together(run: Callable[[int, bool, int], tuple[float, int]], threads: int,
                  full: bool, done: int) -> tuple[float, int]:
    """``run(t, full, done)`` for every thread t at once (t = 0 on this one).

    The others get threads of their own for the call (not the shared pool,
    where waiting at a barrier for a task still queued could deadlock).
    """
    helpers = [threading.Thread(target=run, args=(t, full, done), daemon=True)
               for t in range(1, threads)]
    for h in helpers:
        h.start()
    try:
        result = run(0, full, done)
    finally:
        for h in helpers:
            h.join()
    if result[0] == -2.0:
        raise RuntimeError("a thread of the compiled Lloyd iterations failed")
    return result


def new_flags(threads: int) -> np.ndarray:
    """Zeroed flags for ``threads`` threads and the failure slot."""
    return np.zeros((threads + 1) * FLAG_STRIDE, dtype=np.int64)


def run_guarded(fn: Callable[..., tuple[float, int]], flags: np.ndarray, threads: int,
                *args: Any) -> tuple[float, int]:
    """``fn(*args)``; if it raises, the failure flag releases the other threads."""
    try:
        return fn(*args)
    except BaseException:
        flags[threads * FLAG_STRIDE] = 1
        raise
