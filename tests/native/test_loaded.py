"""Loaded latency's native part: the chase walks its cycle while pinned injectors move bytes."""

import os

import pytest

from numabench.errors import NativeError
from numabench.native import _native

pytestmark = pytest.mark.native

CPUS = sorted(os.sched_getaffinity(0))
SIZE = 4 << 20
LINES = SIZE // 64


@pytest.fixture
def arenas():
    chase = _native.Arena(SIZE)
    chase.populate(CPUS[0])
    chain = _native.chase_build(chase, SIZE, 64, 11)
    inject = _native.Arena(SIZE)
    inject.populate(CPUS[-1])
    yield chain, inject
    del chain
    chase.close()
    inject.close()


@pytest.mark.parametrize("kind", ["read", "rw"])
def test_chase_completes_its_cycle_while_injectors_run(arenas, kind):
    if len(CPUS) < 2:
        pytest.skip("needs two CPUs: one chase, one injector")
    chase, inject = arenas
    seconds, end, moved, inject_seconds = _native.loaded_run(chase, 0, LINES, CPUS[0], inject, SIZE, [CPUS[1]],
                                                              kind, 0)
    assert end == 0  # a single cycle of LINES slots: back at the start
    assert seconds > 0
    assert moved > 0 and moved % 64 == 0  # 64 bytes per cache line touched
    assert inject_seconds > 0


def test_without_injectors_it_is_idle_latency(arenas):
    chase, inject = arenas
    seconds, end, moved, inject_seconds = _native.loaded_run(chase, 0, LINES - 1, CPUS[0], inject, 0, [])
    assert end != 0
    assert moved == 0 and inject_seconds == 0


def test_bad_arguments(arenas):
    chase, inject = arenas
    with pytest.raises(ValueError, match="injection kind"):
        _native.loaded_run(chase, 0, 10, CPUS[0], inject, SIZE, [CPUS[0]], "bogus")
    with pytest.raises(ValueError, match="incomplete"):
        _native.loaded_run(chase, 0, 10, CPUS[0], inject, 256, [CPUS[0]])  # chunk below 512 bytes
    with pytest.raises(NativeError) as info:
        _native.loaded_run(chase, 0, 10, CPUS[0], inject, SIZE, [max(CPUS) + 7])
    assert info.value.syscall == "pthread_setaffinity_np"
