"""Build of the native core: csrc/*.c and the Cython boundary in one extension.

Only the C compiler, the kernel's uapi headers (linux-libc-dev, part of every
C toolchain on Debian) and pthreads are needed: mbind/move_pages are called
through syscall(2), so libnuma is needed neither to build nor to run.
"""

from glob import glob

from Cython.Build import cythonize
from setuptools import Extension, setup

extension = Extension(
    "numabench.native._native",
    sources=["src/numabench/native/_native.pyx", *sorted(glob("csrc/*.c"))],
    include_dirs=["csrc"],
    # Headers too: nb_bw_kernels.h is a template included per ISA, so editing it must rebuild.
    depends=sorted(glob("csrc/*.h")),
    # -fno-tree-loop-distribute-patterns: keep the copy kernel a loop, never memcpy.
    # No -march: vector kernels are chosen at run time from the CPU's flags.
    # -fvisibility=hidden: the C core's functions are internal to the module (only PyInit is
    # exported), so calls between them are direct, not through the PLT.
    extra_compile_args=["-O2", "-std=gnu11", "-fno-tree-loop-distribute-patterns", "-fvisibility=hidden", "-Wall"],
    libraries=["pthread"],
)

setup(ext_modules=cythonize([extension], language_level=3))
