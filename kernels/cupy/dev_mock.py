"""Development / tests only: run the backend's plan launcher (plan_forward / plan_backward, the one
launcher of bigla_tc.cu) on CPU tensors without a GPU or driver. The plans are built as on the GPU
(kernels, grids, blocks, shared memory, defines, the packed argument block); only the cupy Function
each planned launch calls is replaced, and the stream / device lookups. Shared by dev_emu.py (which
runs every launch through the host emulator) and tests/test_cupy_compile.py (which records them)."""
from __future__ import annotations

import contextlib
import ctypes


class Kern:
    """What the mocked ``_MODULES.kernel_defs`` returns: the kernel's name and its defines."""
    __slots__ = ("func", "defines")

    def __init__(self, func, defines):
        self.func, self.defines = func, defines


@contextlib.contextmanager
def host_plans(m, run=None, max_seg=None, sms=132):
    """Within the block, the plans of module ``m`` (vig_kernels.cupy) launch on the host: each launch
    is appended to the yielded list as (func, grid, block, smem, defines, slot values) (the argument
    block's uint64 slots as the driver would read them) and, when ``run`` is given, passed on as
    ``run(func, grid, block, smem, defines, args)`` (``args``: a ctypes void* array of the slots'
    addresses, the kernelParams the driver gets). ``max_seg``: TC_MAX_SEG = TC_BWD_SEG inside;
    ``sms``: the SM count sm_count reports (v39w's wave rule).
    Everything is restored and the plan cache cleared on exit (plans hold the mocked Functions)."""
    launches = []

    def function(kern, dev):
        def fn(grid, block, cargs, smem, stream):
            vals = [ctypes.c_uint64.from_address(c.ptr).value for c in cargs]
            launches.append((kern.func, tuple(grid), tuple(block), smem, kern.defines, vals))
            if run is not None:
                args = (ctypes.c_void_p * len(cargs))(*[c.ptr for c in cargs])
                run(kern.func, tuple(grid), tuple(block), smem, kern.defines, args)
        return fn

    saved = (m._MODULES.kernel_defs, m._MODULES.stream, m._function, m._current_device,
             m.TC_MAX_SEG, m.TC_BWD_SEG, m.sm_count)
    m._PLANS.clear()
    try:
        m._MODULES.kernel_defs = lambda src, func, dev, defines, smem: Kern(func, defines)
        m._MODULES.stream = lambda dev: None
        m._function = function
        m._current_device = lambda: -1  # CPU tensors: get_device() == -1, no device switch
        m.sm_count = lambda dev: sms  # the device the plans are made for (an H100's 132 SMs by default)
        if max_seg:
            m.TC_MAX_SEG = m.TC_BWD_SEG = max_seg
        yield launches
    finally:
        (m._MODULES.kernel_defs, m._MODULES.stream, m._function, m._current_device,
         m.TC_MAX_SEG, m.TC_BWD_SEG, m.sm_count) = saved
        m._PLANS.clear()
