"""Parsing and printing of sizes; everything inside numabench is in bytes."""

from __future__ import annotations

import math
import re

from numabench.errors import UsageError
from numabench.util.cpulist import parse_cpulist

_SUFFIX = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """'1G' -> 1073741824. K/M/G/T are binary (KiB, MiB, ...); a bare number is bytes.

    Raises UsageError on anything else.
    """
    m = _SIZE_RE.match(str(text))
    if not m:
        raise UsageError(f"invalid size {text!r}",
                         "write a number with an optional K, M, G or T suffix, e.g. 512M or 1G")
    value = float(m.group(1)) * _SUFFIX[m.group(2).upper()]
    if not math.isfinite(value) or value < 1 or value != int(value):
        raise UsageError(f"invalid size {text!r}", "sizes must be a whole, positive number of bytes")
    return int(value)


def parse_size_range(text: str) -> list[int]:
    """'16K..2G' -> powers of two from 16 KiB to 2 GiB; '16K,1M,1G' -> those sizes."""
    if ".." in text:
        lo_text, hi_text = text.split("..", 1)
        lo, hi = parse_size(lo_text), parse_size(hi_text)
        if lo > hi:
            raise UsageError(f"invalid size range {text!r}", "write the smaller size first, e.g. 16K..2G")
        sizes = []
        size = lo
        while size <= hi:
            sizes.append(size)
            size *= 2
        if sizes[-1] != hi:
            sizes.append(hi)
        return sizes
    return [parse_size(part) for part in text.split(",") if part.strip()]


def format_size(size_bytes: int) -> str:
    """1073741824 -> '1 GiB'; 1536 -> '1.5 KiB'."""
    for unit, factor in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size_bytes >= factor:
            value = size_bytes / factor
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{size_bytes} B"


def parse_int_list(text: str, what: str) -> list[int]:
    """'0,1' or '0-3' -> sorted, distinct ints, parsed by ``cpulist.parse_cpulist`` (the one
    list parser): a reversed range such as '3-1' is refused, not read as empty.

    Raises:
        UsageError: the text is empty or not a list of non-negative ids; names ``what``.
    """
    try:
        out = list(parse_cpulist(str(text)))
    except ValueError as exc:
        raise UsageError(f"invalid {what} {text!r} ({exc})", f"give {what} ids like 0 or 0,1 or 0-3") from None
    if not out:
        raise UsageError(f"invalid {what} {text!r}", f"give {what} ids like 0 or 0,1 or 0-3")
    return out
