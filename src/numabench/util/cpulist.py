"""The kernel's CPU and node list formats.

Two formats appear in sysfs and /proc:

- the *list* format (``cpulist``, ``Cpus_allowed_list``, ``cpuset.cpus``): ``0-3,8,10-11``;
- the *mask* format (``cpumap``, ``Cpus_allowed``): comma-separated 32-bit hex words, most
  significant word first, e.g. ``ff,00000001`` is CPUs 0 and 32-39.

Both describe node lists too (``has_memory``, ``Mems_allowed``). See the kernel's
``Documentation/admin-guide/cputopology.rst`` and ``bitmap_parselist()``.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["parse_cpulist", "format_cpulist", "parse_cpumask", "clean_list_text", "MAX_LIST_ID"]

# The largest id a list may name. Linux's NR_CPUS tops out at 8192 (x86 MAXSMP) and node ids
# at 1024 (NODES_SHIFT 10); 1 << 20 leaves room for the future while refusing "0-4294967295",
# which would otherwise be materialised as four billion ints.
MAX_LIST_ID = 1 << 20


def clean_list_text(text: str) -> str:
    """``text`` without NUL bytes and surrounding whitespace.

    Kernels from 2.6.23 to about 3.x (and some later arm64 ones) end sysfs lists with
    ``"0-3\\n\\0"``; hwloc reads them, so do we.
    """
    return text.replace("\0", "").strip()


def parse_cpulist(text: str, max_id: int = MAX_LIST_ID) -> tuple[int, ...]:
    """Parse a list such as ``"0-3,8,10-11"`` into sorted, distinct ids.

    Empty or whitespace-only text gives ``()`` (an empty cpuset, or a node without CPUs).
    NUL bytes and surrounding whitespace are dropped first (see ``clean_list_text``).
    The kernel's stride form ``0-15:2/4`` (used, e.g., in ``isolcpus``) is accepted too.
    This is numabench's one list parser: CLI options such as ``--cpu-node`` use it too.

    Raises:
        ValueError: the text is not a list of non-negative integers and ranges, a range ends
            before it starts (``3-1``), or an id exceeds ``max_id``; the message quotes the
            text and the bad part.
    """
    text = clean_list_text(text)
    if not text:
        return ()
    ids: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise ValueError(f"malformed CPU/node list {text!r}: empty item between commas")
        try:
            ids.update(_parse_item(part, max_id))
        except ValueError as exc:
            raise ValueError(f"malformed CPU/node list {text!r}: {exc}") from None
    return tuple(sorted(ids))


def _parse_item(part: str, max_id: int) -> range | list[int]:
    stride_used: int | None = None
    stride_group: int | None = None
    if ":" in part:  # "a-b:used/group"
        part, _, stride = part.partition(":")
        used, sep, group = stride.partition("/")
        if not sep:
            raise ValueError(f"bad stride {stride!r} in {part!r} (expected used/group)")
        stride_used, stride_group = _int(used), _int(group)
        if stride_group == 0 or stride_used > stride_group:
            raise ValueError(f"bad stride {stride!r} (need 0 < used <= group)")
    lo_s, sep, hi_s = part.partition("-")
    lo = _int(lo_s)
    hi = _int(hi_s) if sep else lo
    if hi < lo:
        raise ValueError(f"range {part!r} ends before it starts")
    if hi > max_id:
        raise ValueError(f"id {hi} is above the largest possible id {max_id}")
    if stride_group is None or stride_used is None:
        return range(lo, hi + 1)
    return [i for i in range(lo, hi + 1) if (i - lo) % stride_group < stride_used]


def _int(s: str) -> int:
    s = s.strip()
    if not s.isdigit():
        raise ValueError(f"{s!r} is not a non-negative integer")
    return int(s)


def format_cpulist(ids: Iterable[int]) -> str:
    """Format ids as the kernel does: sorted, ranges collapsed (``[0,1,2,3,8] -> "0-3,8"``).

    An empty iterable gives ``""``. Duplicates are dropped.

    Raises:
        ValueError: an id is negative.
    """
    ordered = sorted(set(int(i) for i in ids))
    if ordered and ordered[0] < 0:
        raise ValueError(f"negative id {ordered[0]} in a CPU/node list")
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def parse_cpumask(text: str) -> tuple[int, ...]:
    """Parse a hex mask such as ``"ff,00000001"`` (``cpumap``, ``Cpus_allowed``) into ids.

    Words are separated by commas, the most significant first; each word but the first is 32
    bits. Empty text gives ``()``.

    Raises:
        ValueError: a word is not hexadecimal, a lower word is wider than 32 bits, or the mask
            is wider than ``MAX_LIST_ID`` bits.
    """
    text = clean_list_text(text)
    if not text:
        return ()
    words = text.split(",")
    if len(words) * 32 > MAX_LIST_ID:
        raise ValueError(f"malformed CPU/node mask: {len(words)} words is above {MAX_LIST_ID} bits")
    ids: list[int] = []
    for index, word in enumerate(reversed(words)):
        word = word.strip()
        if word.lower().startswith("0x"):
            word = word[2:]
        if not word or any(c not in "0123456789abcdefABCDEF" for c in word):
            raise ValueError(f"malformed CPU/node mask {text!r}: {word!r} is not a hex word")
        if index < len(words) - 1 and len(word) > 8:
            raise ValueError(f"malformed CPU/node mask {text!r}: word {word!r} is over 32 bits")
        value = int(word, 16)
        base = 32 * index
        bit = 0
        while value:
            if value & 1:
                ids.append(base + bit)
            value >>= 1
            bit += 1
    return tuple(sorted(ids))
