"""Property tests for every parser of outside input: whatever the text (or decoded document), the
answer is a value or numabench's own error (a NumabenchError: one line, exit 2), never another
exception, in bounded time (hypothesis deadlines) and memory (inputs are bounded; a parser that
built a list from '0-4294967295' would blow the deadline and memory).

Documented exceptions: the pure list parsers (``parse_cpulist``, ``parse_cpumask``) and
``parse_numa_maps`` raise ValueError by contract, quoting the text; every caller maps it to its own
error (the CLI fuzz in tests/fuzz checks that end to end). Nothing else is allowed from them."""

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from numabench.errors import NumabenchError
from numabench.host.cgroups import parse_mountinfo, parse_proc_cgroup
from numabench.host.numamaps import parse_numa_maps
from numabench.host.numastat import parse_numastat
from numabench.host.topology import parse_meminfo
from numabench.kube.resources import parse_quantity
from numabench.util.cpulist import parse_cpulist, parse_cpumask
from numabench.util.units import parse_int_list, parse_size, parse_size_range

# Deadlines generous for a loaded 2-vCPU CI machine; a parser that materialised a huge range takes far longer.
SETTINGS = settings(max_examples=300, deadline=3000, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
DATA = os.path.join(os.path.dirname(__file__), "..", "data")

# Text that looks like what the parsers read: digits, separators, suffixes, and anything else.
LISTY = st.text(alphabet="0123456789-,: xXabcdefKMGTiEPmnu.+\n\t\x00²٣", max_size=60)
ANY_TEXT = st.text(max_size=200)
TEXTS = st.one_of(LISTY, ANY_TEXT)


def value_or_own_error(fn, *args, allowed=()):
    try:
        return fn(*args)
    except NumabenchError as exc:
        return exc
    except allowed as exc:
        return exc


@SETTINGS
@given(TEXTS)
def test_cpulist(text):
    out = value_or_own_error(parse_cpulist, text, allowed=(ValueError,))
    if isinstance(out, tuple):
        assert len(out) <= 1 << 16 and list(out) == sorted(set(out))


@SETTINGS
@given(st.integers(0, 1 << 64), st.integers(0, 1 << 64))
def test_cpulist_huge_ranges_are_refused_not_built(lo, hi):
    out = value_or_own_error(parse_cpulist, f"{lo}-{hi}", allowed=(ValueError,))
    assert isinstance(out, (tuple, ValueError))


@SETTINGS
@given(st.one_of(TEXTS, st.text(alphabet="0123456789abcdefABCDEF,x \n", max_size=120)))
def test_cpumask(text):
    value_or_own_error(parse_cpumask, text, allowed=(ValueError,))


@SETTINGS
@given(TEXTS)
def test_sizes(text):
    out = value_or_own_error(parse_size, text)
    if isinstance(out, int):
        assert out >= 1
    value_or_own_error(parse_size_range, text)
    value_or_own_error(parse_int_list, text, "--delays")


@SETTINGS
@given(st.one_of(TEXTS, st.integers(), st.floats(allow_nan=True), st.none(), st.lists(st.integers(), max_size=3)))
def test_quantities(value):
    value_or_own_error(parse_quantity, value, "memory")


@SETTINGS
@given(st.one_of(TEXTS, st.lists(st.text(max_size=80), max_size=5).map("\n".join)))
def test_numa_maps(text):
    value_or_own_error(parse_numa_maps, text, allowed=(ValueError,))


@SETTINGS
@given(TEXTS)
def test_numastat(text):
    value_or_own_error(parse_numastat, text)


@SETTINGS
@given(TEXTS)
def test_meminfo(text):
    value_or_own_error(parse_meminfo, text)


@SETTINGS
@given(TEXTS)
def test_cgroup_files(text):
    value_or_own_error(parse_mountinfo, text)
    value_or_own_error(parse_proc_cgroup, text)
