"""Kubernetes resource quantities and the kubelet constants numabench relies on, defined once.

Quantities follow ``k8s.io/apimachinery/pkg/api/resource`` (``quantity.go``, ``suffix.go``):
``[+-]<digits>[.<digits>]`` then a binary suffix ``Ki Mi Gi Ti Pi Ei``, a decimal suffix
``n u m k M G T P E`` or a decimal exponent (``1e3``, ``5E-1``). Uppercase ``K`` is not a suffix.
As ``ParseQuantity`` does, a non-zero value is rounded up (away from zero) to a whole nano unit,
and a value with a binary suffix is capped at 2^63-1; numbers are otherwise exact (``Fraction``),
however many digits they have (Go keeps them in an ``inf.Dec``). Byte counts round up to a whole
byte, as ``Quantity.Value()`` does.

Two limits of our own, so that no input makes arithmetic hang: at most ``MAX_DIGITS`` digits in
the number and an exponent of at most ``MAX_EXPONENT`` in magnitude ("out of range" beyond).
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Any

from numabench.errors import QuantityError, UsageError

__all__ = [
    "CPU",
    "MEMORY",
    "HUGEPAGES_PREFIX",
    "CPU_MANAGER_POLICIES",
    "MEMORY_MANAGER_POLICIES",
    "TOPOLOGY_MANAGER_POLICIES",
    "TOPOLOGY_MANAGER_SCOPES",
    "MAX_NUMA_NODES",
    "DEFAULT_EVICTION_HARD_MEMORY_BYTES",
    "parse_quantity",
    "quantity_bytes",
    "format_quantity",
    "hugepage_size_bytes",
    "hugepage_resource_name",
]

# Resource names (pkg/apis/core/types.go).
CPU = "cpu"
MEMORY = "memory"
HUGEPAGES_PREFIX = "hugepages-"

# kubelet policies (pkg/kubelet/cm/...): the names the KubeletConfiguration accepts, case included.
CPU_MANAGER_POLICIES = ("none", "static")
MEMORY_MANAGER_POLICIES = ("None", "Static", "BestEffort")
TOPOLOGY_MANAGER_POLICIES = ("none", "best-effort", "restricted", "single-numa-node")
TOPOLOGY_MANAGER_SCOPES = ("container", "pod")
MAX_NUMA_NODES = 8  # topologymanager defaultMaxAllowableNUMANodes
# evictionHard memory.available default (pkg/kubelet/eviction/defaults_linux.go): 100Mi
DEFAULT_EVICTION_HARD_MEMORY_BYTES = 100 << 20

MAX_DIGITS = 1000
MAX_EXPONENT = 99999
_MAX_BINARY = (1 << 63) - 1  # quantity.go maxAllowed
_NANO = 10**9

_BINARY = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "Pi": 1 << 50, "Ei": 1 << 60}
_DECIMAL = {"n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000), "": Fraction(1),
            "k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9), "T": Fraction(10**12),
            "P": Fraction(10**15), "E": Fraction(10**18)}
_QUANTITY_RE = re.compile(
    r"^(?P<sign>[+-]?)(?P<num>\d+(?:\.\d*)?|\.\d+)"
    r"(?:(?P<bin>Ki|Mi|Gi|Ti|Pi|Ei)|(?P<exp>[eE][+-]?\d+)|(?P<dec>[numkMGTPE]?))$"
)
_FIX = "write a Kubernetes quantity such as 2, 500m, 1.5, 512Mi or 1Gi"


def _why_not(text: str) -> str:
    """A hint for the commonest mistakes."""
    if re.match(r"^[+-]?[\d.]+K", text):
        return " (Kubernetes has no K suffix: write k for 1000 or Ki for 1024)"
    if re.match(r"^[+-]?[\d.]+[A-Za-z]+$", text):
        return " (suffixes: Ki Mi Gi Ti Pi Ei, or k M G T P E, or m)"
    return ""


def _round_up_to_nano(q: Fraction) -> Fraction:
    """``amount.Round(amount, Nano, inf.RoundUp)`` on the magnitude: 0.1n becomes 1n."""
    if (q * _NANO).denominator == 1:
        return q
    return Fraction(math.ceil(q * _NANO), _NANO)


def parse_quantity(value: Any, what: str = "quantity") -> Fraction:
    """A Kubernetes quantity (``"500m"``, ``"1Gi"``, ``"1e3"``, ``2``, ``0.5``) as an exact Fraction.

    Raises:
        QuantityError: not a quantity, or out of range; the message names ``what``
            (e.g. ``container app: limits.cpu``).
    """
    if isinstance(value, bool) or value is None:
        raise QuantityError(f"{what}: {value!r} is not a quantity", _FIX)
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise QuantityError(f"{what}: {value!r} is not a quantity", _FIX)
        value = repr(value)
    if not isinstance(value, str):
        raise QuantityError(f"{what}: {value!r} is not a quantity", _FIX)
    text = value.strip()
    m = _QUANTITY_RE.match(text)
    if not m:
        raise QuantityError(f"{what}: {text!r} is not a quantity{_why_not(text)}", _FIX)
    exp = m.group("exp")
    if len(m.group("num")) > MAX_DIGITS or (exp and abs(int(exp[1:])) > MAX_EXPONENT):
        raise QuantityError(f"{what}: {text[:60]!r} is out of range", _FIX)
    magnitude = Fraction(m.group("num"))
    if m.group("bin"):
        magnitude *= _BINARY[m.group("bin")]
    elif exp:
        magnitude *= Fraction(10) ** int(exp[1:])
    else:
        magnitude *= _DECIMAL[m.group("dec") or ""]
    magnitude = _round_up_to_nano(magnitude)
    if m.group("bin"):
        magnitude = min(magnitude, Fraction(_MAX_BINARY))  # "the max is just a simple cap"
    return -magnitude if m.group("sign") == "-" else magnitude


def quantity_bytes(value: Any, what: str) -> int:
    """A size quantity in whole bytes, rounded up as ``Quantity.Value()`` does.

    Raises:
        QuantityError: not a quantity.
        UsageError: negative.
    """
    q = parse_quantity(value, what)
    if q < 0:
        raise UsageError(f"{what}: {value!r} is negative", "sizes must be zero or more")
    return math.ceil(q)


def format_quantity(value: Fraction | int) -> str:
    """A quantity as the API prints bytes, exactly: the largest binary suffix that divides it
    (``1178599424 -> "1124Mi"``, ``2097152 -> "2Mi"``), else the plain number (``1500``); a
    fraction as a short decimal (``0.5``)."""
    value = Fraction(value)
    if value.denominator != 1:
        return f"{float(value):g}"
    n = int(value)
    for suffix, factor in sorted(_BINARY.items(), key=lambda kv: -kv[1]):
        if n and n % factor == 0:
            return f"{n // factor}{suffix}"
    return str(n)


def hugepage_size_bytes(resource: str) -> int:
    """``"hugepages-2Mi"`` -> 2097152.

    Raises:
        UsageError: not a hugepages resource name with a page size.
    """
    if not resource.startswith(HUGEPAGES_PREFIX):
        raise UsageError(f"{resource!r} is not a hugepages resource", "write e.g. hugepages-2Mi or hugepages-1Gi")
    size = quantity_bytes(resource[len(HUGEPAGES_PREFIX):], f"page size of {resource}")
    if size <= 0:
        raise UsageError(f"{resource!r} has no page size", "write e.g. hugepages-2Mi or hugepages-1Gi")
    return size


def hugepage_resource_name(page_size_bytes: int) -> str:
    """2097152 -> ``"hugepages-2Mi"`` (``corehelper.HugePageResourceName``)."""
    return HUGEPAGES_PREFIX + format_quantity(page_size_bytes)
