"""Cached direct launch of the Triton kernels (default since v2.7; VIG_TRITON_LAUNCH=jit: the normal path).

``kernel[grid](*args, **kw)`` goes through ``JITFunction.run`` on every call: the binder calls
``native_specialize_impl`` once per argument (32-40 here), builds the cache key string, checks the
kernel's globals, builds the launch metadata, and the C launcher calls the (empty) enter / exit
hook chains. On the GPU host this is ~40-130 us per launch (cProfile, results/2026-11-25c-h100/
profile/cprofile-442f49f.log) for kernels of ~0.1-0.4 ms.

``launch(fn, grid, args, kw)`` does the same launch with a key computed here:
  * every int argument by its exact value (finer than Triton's specialisation: == 1, % 16,
    i32 / i64 / u64 range), a bool by (type, value), a float by its type (Triton never
    specialises non-constexpr floats);
  * every tensor by (dtype, data_ptr % 16 == 0) (Triton's pointer-alignment specialisation);
  * the keyword arguments (constexprs and launch options: num_warps, maxnreg, ...) by value;
  * the kernel and the current CUDA device.
Triton's own cache key is a function of these (its specialisation of each argument plus the
options), so a CompiledKernel obtained by the normal path for one key is the kernel Triton would
pick for every call with that key. On a miss the normal path runs (it compiles / launches as
before) and its returned CompiledKernel is kept; on a hit the CompiledKernel's launcher is called
directly with the same positional arguments Triton passes (grid, stream, function,
packed_metadata, launch metadata, hooks, then every kernel parameter in signature order,
constexprs and defaults included), the stream being the current torch stream of the current
device (Triton's driver reads the same two).
The calling convention is checked once per process against the installed Triton's
``JITFunction.run`` source (3.6 on the GPU, 3.8 here): if it differs, or a CompiledKernel lacks
the attributes used, ``RuntimeError`` is raised (no silent fallback). Launch hooks registered
(a profiler, proton): the normal path is used for that call. Triton's debug / instrumentation
knobs are assumed fixed for the process (they are part of Triton's key, not of this one).
Never used in the interpreter (TRITON_INTERPRET=1). ``launch_all(fn, grid, args, kws)`` launches once per
keyword dict over the same arguments (a kernel's MODE 1 / MODE 2 passes), computing the arguments' part of the key
once (session 22).
"""
from __future__ import annotations

import inspect

import torch

_CALL = ("kernel.run(grid_0, grid_1, grid_2, stream, kernel.function, kernel.packed_metadata, "
         "launch_metadata,")
_checked = False
_rt = None  # triton.knobs.runtime (set by _check_triton)
_MAX = 512  # entries per kernel; the cache is dropped when it grows past this (new lengths)
_caches: dict = {}  # JITFunction -> {key: (launcher, function, packed_metadata, tail)}
_tails: dict = {}  # JITFunction -> (parameter names, {name: default})
stats = {"hit": 0, "miss": 0, "hooked": 0}


def _check_triton():
    """Raise unless the installed Triton launches the way this module assumes."""
    global _checked, _rt
    from triton import knobs
    from triton.runtime.jit import JITFunction

    src = inspect.getsource(JITFunction.run)
    if _CALL not in src or "knobs.runtime.launch_enter_hook, knobs.runtime.launch_exit_hook, " \
            "*bound_args.values())" not in src:
        import triton
        raise RuntimeError(
            f"VIG_TRITON_LAUNCH=direct: triton {triton.__version__}'s JITFunction.run does not "
            "launch as kernel.run(grid_0, grid_1, grid_2, stream, kernel.function, "
            "kernel.packed_metadata, launch_metadata, enter_hook, exit_hook, *bound_args); "
            "unset VIG_TRITON_LAUNCH")
    _rt = knobs.runtime
    _checked = True


def _signature(fn):
    names = list(fn.arg_names)
    params = inspect.signature(fn.fn).parameters
    defaults = {n: p.default for n, p in params.items() if p.default is not inspect.Parameter.empty}
    return names, defaults


def _hooks_empty() -> bool:
    for h in (_rt.launch_enter_hook, _rt.launch_exit_hook):
        if h is None:
            continue
        calls = getattr(h, "calls", None)
        if calls is None or calls:  # a plain callable, or a chain with hooks: not ours to skip
            return False
    return True


def _argkey(args) -> tuple:
    """The part of the key that the positional arguments give (see the module docstring)."""
    key = [torch.cuda.current_device()]
    for a in args:
        t = type(a)
        if t is int:
            key.append(a)
        elif t is float:
            key.append(float)
        elif isinstance(a, torch.Tensor):
            key.append((a.dtype, a.data_ptr() % 16 == 0))
        else:
            key.append((t, a))
    return tuple(key)


def launch_all(fn, grid, args, kws):
    """fn[grid](*args, **kw) for each kw of kws in turn (one kernel's MODE 1 / MODE 2 launches over the same
    arguments), the arguments' part of the key computed once."""
    akey = _argkey(args)
    for kw in kws:
        launch(fn, grid, args, kw, akey)


def launch(fn, grid, args, kw, akey=None):
    """fn[grid](*args, **kw), through the cache described above (GPU only); ``akey``: _argkey(args), where
    the caller has it."""
    if akey is None:
        akey = _argkey(args)
    dev = akey[0]
    key = (akey, tuple(kw.items()))
    cache = _caches.get(fn)
    if cache is None:
        cache = _caches[fn] = {}
    hit = cache.get(key)
    if hit is not None:
        if not _hooks_empty():
            stats["hooked"] += 1
            return fn[grid](*args, **kw)
        run, function, packed, tail = hit
        g1 = grid[1] if len(grid) > 1 else 1
        g2 = grid[2] if len(grid) > 2 else 1
        run(grid[0], g1, g2, torch._C._cuda_getCurrentRawStream(dev), function, packed,
            None, None, None, *args, *tail)
        stats["hit"] += 1
        return None
    # miss: the normal path (compiles if needed, launches), then keep what it launched
    if not _checked:
        _check_triton()
    kernel = fn[grid](*args, **kw)
    stats["miss"] += 1
    if hasattr(kernel, "result"):  # a future (async compile): the normal path resolved it
        kernel = kernel.result()
    for attr in ("run", "function", "packed_metadata"):
        if getattr(kernel, attr, None) is None:
            raise RuntimeError(f"VIG_TRITON_LAUNCH=direct: the CompiledKernel of {fn.__name__} "
                               f"has no {attr!r} after its launch; unset VIG_TRITON_LAUNCH")
    sig = _tails.get(fn)
    if sig is None:
        sig = _tails[fn] = _signature(fn)
    names, defaults = sig
    tail = []
    for n in names[len(args):]:
        if n in kw:
            tail.append(kw[n])
        elif n in defaults:
            tail.append(defaults[n])
        else:
            raise RuntimeError(f"VIG_TRITON_LAUNCH=direct: {fn.__name__}: parameter {n!r} "
                               "neither passed nor defaulted")
    if len(cache) >= _MAX:
        cache.clear()
    cache[key] = (kernel.run, kernel.function, kernel.packed_metadata, tuple(tail))
    return None
