"""A barrier between threads inside compiled kernels, for iterations on small data.

Lloyd's iterations on small data run inside one compiled call per thread
(:func:`gaussmix._lloyd_bounded._bounded_run`, :func:`gaussmix.kmeans._delta_run`):
after each assignment every thread calls :func:`barrier`: it raises its flag
(an atomic release store) and waits for the others' (acquire loads, the CPU's
spin-wait hint, then the operating system's yield), then all of them take the
same decisions from the same sums. Waking pooled threads
through the operating system instead cost ~0.1 ms an iteration here, as much
as the assignment of 100,000 rows on one core (benchmarks/NOTES.md #108).

(numba's cache watches a kernel's own source file: a change here does not
recompile the kernels that call :func:`barrier`; touch their files too.)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from ._jit import kernel

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

    windows = platform.system() == "Windows"

    @intrinsic
    def yield_cpu(typingctx):  # type: ignore[no-untyped-def]
        def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
            # the operating system's yield: another runnable thread (one this
            # barrier waits for, on fewer CPUs than threads) gets the CPU
            name = "SwitchToThread" if windows else "sched_yield"
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.IntType(32), []), name)
            builder.call(fn, [])
            return context.get_dummy_value()

        return types.void(), codegen

    return {"load_acquire": load_acquire, "store_release": store_release, "pause": pause,
            "yield_cpu": yield_cpu}


load_acquire = _LazyIntrinsic("load_acquire")
store_release = _LazyIntrinsic("store_release")
pause = _LazyIntrinsic("pause")
yield_cpu = _LazyIntrinsic("yield_cpu")

# Spin-wait hints before a waiting thread yields its CPU at each check (~0.1 ms:
# about the wake-up this barrier saves; a thread waiting longer is most likely
# waiting for one that has no CPU).
_SPINS = 2048


@kernel
def barrier(flags, stride, me, it):  # type: ignore[no-untyped-def]
    """Raise thread ``me``'s flag to ``it + 1``, then wait until every thread's is.

    ``flags`` holds one int64 flag per thread every ``stride`` items and a
    failure flag last. The release store publishes what this thread wrote
    before it; the acquire load that sees another thread's flag sees what
    that one wrote. Returns False, without waiting longer, when the failure
    flag is up.
    """
    threads = flags.shape[0] // stride - 1
    store_release(flags, me * stride, it + 1)
    for other in range(threads):
        spins = 0
        while load_acquire(flags, other * stride) <= it:
            if load_acquire(flags, threads * stride) != 0:
                return False
            if spins < _SPINS:
                pause()
                spins += 1
            else:
                yield_cpu()
    return True


def usable_cpus() -> int:
    """CPUs this process may run on: threads spinning at a barrier want one each."""
    count = getattr(os, "process_cpu_count", None)  # Python 3.13
    if count is not None:
        return int(count() or 1)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def new_flags(threads: int) -> np.ndarray:
    """Zeroed flags for ``threads`` threads and the failure flag (see :func:`barrier`)."""
    return np.zeros((threads + 1) * FLAG_STRIDE, dtype=np.int64)


def run_together(run: Callable[[int], tuple[float, int]], threads: int,
                 flags: np.ndarray) -> tuple[float, int]:
    """``run(t)`` for every thread t at once (t = 0 on this one), meeting at :func:`barrier`.

    The others get threads of their own for the call (not the shared pool,
    where waiting at a barrier for a task still queued could deadlock). Any
    exception, in any thread or while starting them, raises the failure flag
    so that no thread waits for ever; it is then raised here. A run returns
    ``(value, iterations)``, value -2 when it stopped on the failure flag.
    """
    failed: list[BaseException] = []
    fail = threads * FLAG_STRIDE

    def helper(t: int) -> None:
        try:
            run(t)
        except BaseException as exc:  # (re-raised below, on the calling thread)
            failed.append(exc)
            flags[fail] = 1

    helpers = [threading.Thread(target=helper, args=(t,), daemon=True)
               for t in range(1, threads)]
    try:
        for h in helpers:
            h.start()
        result = run(0)
    except BaseException:
        flags[fail] = 1
        raise
    finally:
        for h in helpers:
            if h.ident is not None:  # started
                h.join()
    if failed:
        raise RuntimeError("a thread of the compiled iterations failed") from failed[0]
    if result[0] == -2.0:
        raise RuntimeError("a thread of the compiled iterations failed")
    return result
