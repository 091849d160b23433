"""Compiled kernels: numba, imported on first use and cached on disk.

A fused loop over a block of rows (distances, argmin, accumulation in one
pass through cache) is what NumPy cannot express without temporaries. Kernels
are written as plain Python over arrays and compiled by :func:`kernel` the
first time they are called, so ``import gaussmix`` does not pay for importing
numba. Compiled code is cached next to the module (or in numba's user cache
when that is not writable), so a later process loads it in milliseconds.
Kernels release the GIL: the thread pool of :mod:`gaussmix.execution` runs
them on several row blocks at once.

A kernel may call other kernels: when it is compiled, the kernels its code
names are compiled first and it is compiled against them (numba then
inlines or links their code). numba's cache notices a change of the
caller's source file only, so a kernel calls kernels of its own module (one
exception: :func:`gaussmix._barrier.barrier` and its intrinsics, whose callers
must be touched when they change).
"""

from __future__ import annotations

import functools
import threading
import types
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_lock = threading.RLock()  # re-entered: compiling a kernel compiles the kernels it calls


def _with_compiled_callees(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn``, or a copy whose globals name the compiled kernels ``fn`` calls."""
    callees = {name: g for name in fn.__code__.co_names
               if callable(g := fn.__globals__.get(name)) and hasattr(g, "dispatcher")}
    if not callees:
        return fn
    scope = dict(fn.__globals__)
    scope.update({name: g.dispatcher() for name, g in callees.items()})
    copy = types.FunctionType(fn.__code__, scope, fn.__name__, fn.__defaults__, fn.__closure__)
    copy.__qualname__, copy.__module__, copy.__doc__ = fn.__qualname__, fn.__module__, fn.__doc__
    return copy


def kernel(fn: F | None = None, *, reassociate: bool = False, contract: bool = False) -> Any:
    """Compile ``fn`` with ``numba.njit(nogil=True, cache=True)`` on its first call.

    ``error_model="numpy"`` gives IEEE results (inf/nan) instead of a Python
    exception check on every division. ``reassociate=True`` lets the compiler
    reorder sums (so ``s += x[j] * x[j]`` over a row is vectorised with
    several accumulators instead of waiting on one add per element) and fuse
    multiply-adds; infinities and NaN keep their IEEE meaning. Leave it off
    where a sum must be sequential. ``contract=True`` alone fuses multiply-adds
    (one rounding instead of two, never a reordering): for polynomials. The
    pure-Python function stays available as ``.py_func`` (useful in tests on
    tiny inputs).
    """
    if fn is None:
        return functools.partial(kernel, reassociate=reassociate, contract=contract)
    flags = {"reassoc", "contract"} if reassociate else {"contract"} if contract else set()
    compiled: Any = None

    def dispatcher() -> Any:
        """The numba dispatcher (compiles on its first call, or loads the cache)."""
        nonlocal compiled
        if compiled is None:
            with _lock:  # one compilation even when pool threads race here
                if compiled is None:
                    import numba

                    compiled = numba.njit(nogil=True, cache=True, error_model="numpy",
                                          fastmath=flags)(_with_compiled_callees(fn))
        return compiled

    @functools.wraps(fn)
    def call(*args: Any) -> Any:
        return (compiled or dispatcher())(*args)

    call.py_func = fn  # type: ignore[attr-defined]
    call.dispatcher = dispatcher  # type: ignore[attr-defined]
    call.is_compiled = lambda: compiled is not None  # type: ignore[attr-defined]
    return call  # type: ignore[return-value]
