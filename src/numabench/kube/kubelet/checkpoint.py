"""The kubelet's resource-manager checkpoints: ``memory_manager_state`` and ``cpu_manager_state``.

Read as the kubelet reads them, checksums included. Sources (kubernetes/kubernetes):
``pkg/kubelet/cm/memorymanager/state/{checkpoint.go,state.go}``,
``pkg/kubelet/cm/cpumanager/state/checkpoint.go``, ``pkg/kubelet/checkpointmanager/checksum``,
``k8s.io/utils/dump`` and github.com/davecgh/go-spew ``spew/format.go``.

Formats:

- legacy (memory v1/v2, cpu v1/v2/v3): the JSON object itself, with ``checksum`` = FNV-32a of
  ``dump.ForHash(&checkpoint)`` computed with the checksum field set to 0. ``ForHash`` is go-spew's
  ``%#v`` with ``SortKeys`` and ``DisableMethods``: the Go value printed with its type names, e.g.
  ``(*state.MemoryManagerCheckpoint){PolicyName:(string)static MachineState:(state.NUMANodeMap)
  map[0:<*>{...}] ...}``. The text depends on the Go struct's name and fields, so each kubelet
  release hashes the same JSON differently; the kubelet tries the names its versions wrote
  (``MemoryManagerCheckpoint``, ``...V1``, ``...V2``), and so do we. A checksum of 0 is accepted
  by the v1 readers ("old file backend").
- data (memory v3, cpu v4): ``data`` holds the JSON of the state as a string and ``dataChecksum``
  = FNV-32a of ``(string)`` + data; that pair is authoritative and the legacy fields beside it are
  ignored.

Decoding follows Go's ``encoding/json`` where it matters for the checksum and for refusal: keys
match struct fields exactly or else case-insensitively; unknown keys are ignored; ``null`` leaves
strings and numbers unchanged and makes maps and slices nil (printed ``<nil>``, not ``map[]``);
integers must be integer literals in range; any type mismatch makes the whole file unreadable to
the kubelet. Verified against the vectors of the kubelet's ``state_checkpoint_test.go`` files
(tests/unit/test_checkpoint.py).
"""

from __future__ import annotations

import errno
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

from numabench.errors import CheckpointError, GoDecodeError
from numabench.util import docload
from numabench.util.cpulist import parse_cpulist

__all__ = [
    "CPU_STATE_FILE",
    "MEMORY_STATE_FILE",
    "CheckpointError",
    "ChecksumCheck",
    "CpuManagerState",
    "MemoryManagerState",
    "dump_cpu_manager_state",
    "dump_memory_manager_state",
    "fnv32a",
    "load_cpu_manager_state",
    "load_memory_manager_state",
    "parse_cpu_manager_state",
    "parse_memory_manager_state",
    "recovery_steps",
    "spew_for_hash",
]

MEMORY_STATE_FILE = "memory_manager_state"
CPU_STATE_FILE = "cpu_manager_state"
# State files are a few KiB; anything this large was not written by the kubelet.
MAX_STATE_BYTES = 64 << 20


def recovery_steps(path: str) -> str:
    """The documented recovery for a checkpoint the kubelet refuses (one line)."""
    return (
        "the kubelet refuses to start with it; recover: drain the node "
        "(kubectl drain NODE --ignore-daemonsets), stop the kubelet (systemctl stop kubelet), "
        f"remove {path}, start the kubelet (systemctl start kubelet), uncordon (kubectl uncordon NODE)"
    )


# --------------------------------------------------------------------------- FNV and go-spew


def fnv32a(data: bytes) -> int:
    """FNV-1a, 32 bits (Go's ``hash/fnv.New32a``)."""
    h = 0x811C9DC5
    for b in data:
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


class _Num:
    """A JSON number kept as its literal, so integer fields can reject 1.0 and 1e3 as Go does."""

    __slots__ = ("lit",)

    def __init__(self, lit: str):
        self.lit = lit


def _go_str(s: str) -> str:
    # Go's decoder turns an unpaired surrogate escape into U+FFFD; Python keeps it.
    return re.sub("[\ud800-\udfff]", "\ufffd", s)


def _fold(name: str) -> str:
    # encoding/json matches keys case-insensitively with Unicode simple folding; the two
    # non-ASCII letters that fold onto ASCII ones are the long s and the Kelvin sign.
    return name.replace("\u017f", "s").replace("\u212a", "k").lower()


def _kind(raw: Any) -> str:
    if isinstance(raw, _Obj):
        return "object"
    if isinstance(raw, list):
        return "array"
    if isinstance(raw, str):
        return "string"
    if isinstance(raw, _Num):
        return "number " + raw.lit
    if isinstance(raw, bool):
        return "bool"
    return "null"


class _Obj(list):
    """A JSON object as its (key, value) pairs in file order (duplicates kept, as Go sees them)."""


_CPUSET_RE = re.compile(r"^\s*(?:\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*)?\s*$")
# No machine has this many CPUs; a larger id means a hostile or corrupt file (and a huge set).
_MAX_CPU_ID = 1 << 16


def _parse_kubelet_cpuset(text: str) -> tuple[int, ...]:
    """``k8s.io/utils/cpuset.Parse`` syntax: ``0-3,8``; no strides. ValueError otherwise."""
    if not _CPUSET_RE.match(text):
        raise ValueError("expected CPU ids and ranges such as 0-3,8")
    for num in re.findall(r"\d+", text):
        if len(num) > 6 or int(num) > _MAX_CPU_ID:
            raise ValueError(f"CPU id {num[:12]} is beyond any machine ({_MAX_CPU_ID})")
    return parse_cpulist(text)


class _GoType:
    go: str

    def zero(self):
        return None

    def decode(self, raw, cur, where: str):
        raise NotImplementedError

    def spew(self, value, out: list[str], ignore_type: bool) -> None:
        raise NotImplementedError

    def _mismatch(self, raw, where: str) -> GoDecodeError:
        return GoDecodeError(f"cannot unmarshal {_kind(raw)} into {where} of Go type {self.go}")


class _Str(_GoType):
    def __init__(self, go: str = "string"):
        self.go = go

    def zero(self):
        return ""

    def decode(self, raw, cur, where):
        if raw is None:
            return cur
        if not isinstance(raw, str):
            raise self._mismatch(raw, where)
        return _go_str(raw)

    def parse_key(self, key: str, where: str):
        return _go_str(key)

    def spew(self, value, out, ignore_type):
        if not ignore_type:
            out.append(f"({self.go})")
        out.append(value)


class _Int(_GoType):
    def __init__(self, go: str, lo: int, hi: int):
        self.go, self.lo, self.hi = go, lo, hi

    def zero(self):
        return 0

    def _parse(self, lit: str, what: str):
        if not re.fullmatch(r"-?[0-9]+", lit) or (self.lo == 0 and lit.startswith("-")):
            raise GoDecodeError(f"cannot unmarshal {what} into Go type {self.go}")
        if len(lit.lstrip("-")) > 20:
            raise GoDecodeError(f"{what} overflows Go type {self.go}")
        v = int(lit)
        if not self.lo <= v <= self.hi:
            raise GoDecodeError(f"{what} overflows Go type {self.go}")
        return v

    def decode(self, raw, cur, where):
        if raw is None:
            return cur
        if not isinstance(raw, _Num):
            raise self._mismatch(raw, where)
        return self._parse(raw.lit, f"number {raw.lit[:40]} in {where}")

    def parse_key(self, key: str, where: str):
        # encoding/json parses integer map keys with strconv.ParseInt(key, 10, 64): a sign is allowed.
        lit = key.removeprefix("+")
        return self._parse(lit, f"map key {key[:40]!r} in {where}")

    def spew(self, value, out, ignore_type):
        if not ignore_type:
            out.append(f"({self.go})")
        out.append(str(value))


_INT = _Int("int", -(1 << 63), (1 << 63) - 1)
_U64 = _Int("uint64", 0, (1 << 64) - 1)
_CHECKSUM = _Int("checksum.Checksum", 0, (1 << 64) - 1)


class _Slice(_GoType):
    def __init__(self, go: str, elem: _GoType):
        self.go, self.elem = go, elem

    def decode(self, raw, cur, where):
        if raw is None:
            return None
        if not isinstance(raw, list) or isinstance(raw, _Obj):
            raise self._mismatch(raw, where)
        return [self.elem.decode(x, self.elem.zero(), f"{where}[{i}]") for i, x in enumerate(raw)]

    def spew(self, value, out, ignore_type):
        if not ignore_type:
            out.append(f"({self.go})")
        if value is None:
            out.append("<nil>")
            return
        out.append("[")
        for i, x in enumerate(value):
            if i:
                out.append(" ")
            self.elem.spew(x, out, True)
        out.append("]")


class _Map(_GoType):
    def __init__(self, go: str, key, val: _GoType):
        self.go, self.key, self.val = go, key, val

    def decode(self, raw, cur, where):
        if raw is None:
            return None
        if not isinstance(raw, _Obj):
            raise self._mismatch(raw, where)
        out = dict(cur) if cur is not None else {}  # Go decodes into an existing map
        for k, v in raw:
            key = self.key.parse_key(k, where)
            out[key] = self.val.decode(v, self.val.zero(), f"{where}[{k[:40]!r}]")
        return out

    def spew(self, value, out, ignore_type):
        if not ignore_type:
            out.append(f"({self.go})")
        if value is None:
            out.append("<nil>")
            return
        out.append("map[")
        for i, k in enumerate(sorted(value)):  # SortKeys: numeric for ints, bytewise for strings
            if i:
                out.append(" ")
            self.key.spew(k, out, True)
            out.append(":")
            self.val.spew(value[k], out, True)
        out.append("]")


class _Ptr(_GoType):
    def __init__(self, elem: _GoType):
        self.elem = elem
        self.go = "*" + elem.go

    def decode(self, raw, cur, where):
        if raw is None:
            return None
        return self.elem.decode(raw, self.elem.zero() if cur is None else cur, where)

    def spew(self, value, out, ignore_type):
        if value is None:
            out.append("<nil>" if ignore_type else f"({self.go})<nil>")
            return
        out.append("<*>" if ignore_type else f"(*{self.elem.go})")
        self.elem.spew(value, out, True)


class _Struct(_GoType):
    def __init__(self, go: str, fields: list[tuple[str, str, _GoType]]):
        self.go, self.fields = go, fields

    def zero(self):
        return {name: t.zero() for name, _, t in self.fields}

    def _field(self, key: str):
        for name, jname, t in self.fields:
            if key == jname:
                return name, t
        fk = _fold(key)
        for name, jname, t in self.fields:
            if fk == _fold(jname):
                return name, t
        return None, None

    def decode(self, raw, cur, where):
        if raw is None:
            return cur
        if not isinstance(raw, _Obj):
            raise self._mismatch(raw, where)
        out = dict(cur)
        for k, v in raw:
            name, t = self._field(k)
            if name is None:
                continue  # unknown fields are ignored
            out[name] = t.decode(v, out[name], f"{self.go}.{name}" if where == "" else f"{where}.{name}")
        return out

    def spew(self, value, out, ignore_type):
        if not ignore_type:
            out.append(f"({self.go})")
        out.append("{")
        for i, (name, _, t) in enumerate(self.fields):
            if i:
                out.append(" ")
            out.append(name + ":")
            t.spew(value[name], out, False)
        out.append("}")


class _CpuSetEntry(_GoType):
    """cpumanager ``state.PodEntry``: JSON ``{"cpuSet": "7-9"}`` via its own UnmarshalJSON, Go value
    ``{CPUSet cpuset.CPUSet}`` where ``cpuset.CPUSet`` is ``struct{ elems map[int]struct{} }``."""

    go = "state.PodEntry"

    def zero(self):
        return ()

    def decode(self, raw, cur, where):
        text = ""
        if raw is not None:
            if not isinstance(raw, _Obj):
                raise self._mismatch(raw, where)
            for k, v in raw:
                if _fold(k) == "cpuset":
                    text = _Str().decode(v, text, where)
        try:
            return _parse_kubelet_cpuset(text)
        except ValueError as exc:
            raise GoDecodeError(f"{where}: cpuSet {text[:40]!r}: {exc}") from None

    def spew(self, value, out, ignore_type):
        if not ignore_type:
            out.append(f"({self.go})")
        elems = " ".join(f"{c}:{{}}" for c in sorted(value))
        out.append("{CPUSet:(cpuset.CPUSet){elems:(map[int]struct {})map[" + elems + "]}}")


# Memory manager types (memorymanager/state/state.go).
_RESOURCE = _Str("v1.ResourceName")
_MEMORY_TABLE = _Struct("state.MemoryTable", [
    ("TotalMemSize", "total", _U64), ("SystemReserved", "systemReserved", _U64),
    ("Allocatable", "allocatable", _U64), ("Reserved", "reserved", _U64), ("Free", "free", _U64),
])
_NUMA_NODE_STATE = _Struct("state.NUMANodeState", [
    ("NumberOfAssignments", "numberOfAssignments", _INT),
    ("MemoryMap", "memoryMap", _Map("map[v1.ResourceName]*state.MemoryTable", _RESOURCE, _Ptr(_MEMORY_TABLE))),
    ("Cells", "cells", _Slice("[]int", _INT)),
])
_NUMA_NODE_MAP = _Map("state.NUMANodeMap", _INT, _Ptr(_NUMA_NODE_STATE))
_BLOCK = _Struct("state.Block", [
    ("NUMAAffinity", "numaAffinity", _Slice("[]int", _INT)), ("Type", "type", _RESOURCE), ("Size", "size", _U64),
])
_BLOCKS = _Slice("[]state.Block", _BLOCK)
_CONTAINER_MEMORY = _Map("state.ContainerMemoryAssignments", _Str(), _Map("map[string][]state.Block", _Str(), _BLOCKS))
_POD_MEMORY = _Map("state.PodMemoryAssignments", _Str(),
                   _Struct("state.PodEntry", [("MemoryBlocks", "memoryBlocks", _BLOCKS)]))

_MEM_FIELDS_V1 = [("PolicyName", "policyName", _Str()), ("MachineState", "machineState", _NUMA_NODE_MAP),
                  ("Entries", "entries", _CONTAINER_MEMORY)]
_MEM_FIELDS_V2 = _MEM_FIELDS_V1 + [("PodEntries", "podEntries", _POD_MEMORY)]
_CHECKSUM_FIELD = ("Checksum", "checksum", _CHECKSUM)
_DATA_FIELDS = [("Data", "data", _Str()), ("DataChecksum", "dataChecksum", _CHECKSUM)]

# CPU manager types (cpumanager/state/checkpoint.go, state.go).
_CPU_ENTRIES_V1 = _Map("map[string]string", _Str(), _Str())
_CPU_ENTRIES_V2 = _Map("map[string]map[string]string", _Str(), _Map("map[string]string", _Str(), _Str()))
_POD_CPU = _Map("state.PodCPUAssignments", _Str(), _CpuSetEntry())
_CPU_FIELDS_V1 = [("PolicyName", "policyName", _Str()), ("DefaultCPUSet", "defaultCpuSet", _Str()),
                  ("Entries", "entries", _CPU_ENTRIES_V1)]
_CPU_FIELDS_V2 = _CPU_FIELDS_V1[:2] + [("Entries", "entries", _CPU_ENTRIES_V2)]
_CPU_FIELDS_V3 = _CPU_FIELDS_V2 + [("PodEntries", "podEntries", _POD_CPU)]


@dataclass(frozen=True)
class _Layout:
    name: str  # "v1", "v2", ...
    struct: _Struct
    initial: dict  # what the kubelet's constructor sets before decoding (non-nil empty maps)
    type_names: tuple[str, ...]  # struct names kubelet releases hashed this layout under


def _layout(name, go_names, fields, init_maps):
    st = _Struct("state." + go_names[0], fields + [_CHECKSUM_FIELD])
    initial = st.zero()
    for f in init_maps:
        initial[f] = {}
    return _Layout(name, st, initial, go_names)


_MEM_LAYOUTS = (
    _layout("v1", ("MemoryManagerCheckpoint", "MemoryManagerCheckpointV1"), _MEM_FIELDS_V1,
            ("MachineState", "Entries")),
    _layout("v2", ("MemoryManagerCheckpoint", "MemoryManagerCheckpointV2"), _MEM_FIELDS_V2,
            ("MachineState", "Entries", "PodEntries")),
)
_CPU_LAYOUTS = (
    _layout("v1", ("CPUManagerCheckpoint", "CPUManagerCheckpointV1"), _CPU_FIELDS_V1, ("Entries",)),
    _layout("v2", ("CPUManagerCheckpoint", "CPUManagerCheckpointV2"), _CPU_FIELDS_V2, ("Entries",)),
    _layout("v3", ("CPUManagerCheckpoint", "CPUManagerCheckpointV3"), _CPU_FIELDS_V3, ("Entries", "PodEntries")),
)
_MEM_DATA = _Struct("state.MemoryManagerCheckpointData", _MEM_FIELDS_V2)
_CPU_DATA = _Struct("state.CPUManagerCheckpointData", _CPU_FIELDS_V3)


def spew_for_hash(struct: _Struct, value: dict, type_name: str | None = None) -> str:
    """``dump.ForHash(&value)``: go-spew ``%#v`` of a pointer to the struct (checksum already 0)."""
    out = [f"(*state.{type_name})" if type_name else f"(*{struct.go})"]
    struct.spew(value, out, True)
    return "".join(out)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ChecksumCheck:
    """What the stored checksum was checked against."""

    field: str  # "checksum" or "dataChecksum"
    stored: int
    verified: bool
    detail: str  # how it was verified, or why not

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "stored": self.stored, "verified": self.verified, "detail": self.detail}


@dataclass
class MemoryManagerState:
    """memory_manager_state, decoded. Sizes in bytes."""

    path: str
    format: str  # "v1", "v2" or "v3 (data)"
    policy_name: str
    # node -> {"number_of_assignments", "cells", "memory": {resource: {total, systemReserved, ...}}}
    machine_state: dict[int, dict[str, Any]]
    # pod uid -> container -> [{"numa_affinity": [...], "type": str, "size_bytes": int}]
    entries: dict[str, dict[str, list[dict[str, Any]]]]
    pod_entries: dict[str, list[dict[str, Any]]]  # pod uid -> blocks (pod-level resource managers)
    checksum: ChecksumCheck

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "policy_name": self.policy_name,
            "machine_state": {str(n): v for n, v in sorted(self.machine_state.items())},
            "entries": self.entries,
            "pod_entries": self.pod_entries,
            "checksum": self.checksum.to_dict(),
        }


@dataclass
class CpuManagerState:
    """cpu_manager_state, decoded."""

    path: str
    format: str  # "v1", "v2", "v3" or "v4 (data)"
    policy_name: str
    default_cpuset: tuple[int, ...]
    # pod uid -> container -> CPUs; a v1 file maps container ids straight to CPUs: pod uid "" then
    entries: dict[str, dict[str, tuple[int, ...]]]
    pod_entries: dict[str, tuple[int, ...]]
    checksum: ChecksumCheck
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "policy_name": self.policy_name,
            "default_cpuset": list(self.default_cpuset),
            "entries": {p: {c: list(v) for c, v in cs.items()} for p, cs in self.entries.items()},
            "pod_entries": {p: list(v) for p, v in self.pod_entries.items()},
            "checksum": self.checksum.to_dict(),
            "notes": list(self.notes),
        }


# --------------------------------------------------------------------------- reading


def _load_json(text: str) -> Any:
    return docload.loads_json(text, parse_int=_Num, parse_float=_Num, object_pairs_hook=_Obj)


def _read_blob(path: str) -> str:
    """The file's text. Raises CheckpointError (missing, unreadable, a directory, not UTF-8, huge)."""
    blob = docload.read_bytes(path, what="kubelet checkpoint", error=CheckpointError, max_bytes=MAX_STATE_BYTES,
                              fix=recovery_steps(path), fixes={
                                  errno.ENOENT: "pass the kubelet's --root-dir with --dir (default /var/lib/kubelet)",
                                  errno.EACCES: "run as root (the kubelet's files are root-only): "
                                                "sudo numabench kubelet state",
                                  errno.EIO: "check the path and the disk"})
    try:
        return blob.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CheckpointError(f"{path} is corrupt: not UTF-8 text (byte {exc.start})", recovery_steps(path)) from None


def _parse_top(text: str, path: str):
    if not text.strip():
        raise CheckpointError(f"{path} is corrupt: empty (unexpected end of JSON input)", recovery_steps(path))
    try:
        raw = _load_json(text)
    except json.JSONDecodeError as exc:
        what = "truncated" if exc.pos >= len(text.rstrip()) else "not valid JSON"
        raise CheckpointError(f"{path} is corrupt: {what} ({exc.msg} at line {exc.lineno} column {exc.colno})",
                              recovery_steps(path)) from None
    except (ValueError, RecursionError) as exc:
        msg = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise CheckpointError(f"{path} is corrupt: not valid JSON ({msg})", recovery_steps(path)) from None
    if not isinstance(raw, _Obj):
        raise CheckpointError(f"{path} is corrupt: the top level is {_kind(raw)}, not a JSON object",
                              recovery_steps(path))
    return raw


def _has_key(raw: _Obj, *names: str) -> bool:
    folded = {_fold(n) for n in names}
    return any(_fold(k) in folded for k, _ in raw)


def _decode(struct: _Struct, raw, initial: dict, path: str) -> dict:
    try:
        return struct.decode(raw, dict(initial), "")
    except GoDecodeError as exc:
        raise CheckpointError(f"{path} is corrupt: {exc}", recovery_steps(path)) from None
    except RecursionError:
        raise CheckpointError(f"{path} is corrupt: nested too deeply", recovery_steps(path)) from None


def _verify_legacy(raw: _Obj, layouts: tuple[_Layout, ...], path: str) -> tuple[_Layout, dict, ChecksumCheck]:
    """Decode with each layout the JSON fits, and find the one whose checksum matches."""
    decoded: list[tuple[_Layout, dict]] = []
    first_error: GoDecodeError | None = None
    for lay in layouts:
        try:
            decoded.append((lay, lay.struct.decode(raw, dict(lay.initial), "")))
        except GoDecodeError as exc:
            first_error = first_error or exc
        except RecursionError:
            raise CheckpointError(f"{path} is corrupt: nested too deeply", recovery_steps(path)) from None
    if not decoded:
        raise CheckpointError(f"{path} is corrupt: {first_error}", recovery_steps(path))
    stored = decoded[0][1]["Checksum"]
    if stored == 0:
        lay, value = decoded[0]
        return lay, value, ChecksumCheck(
            "checksum", 0, False,
            "checksum 0: not verified (kubelets accept 0 from their old file backend; there is nothing to check)")
    computed = []
    for lay, value in decoded:
        zeroed = dict(value, Checksum=0)
        for name in lay.type_names:
            cs = fnv32a(spew_for_hash(lay.struct, zeroed, name).encode("utf-8"))
            computed.append(f"{cs} ({lay.name} as {name})")
            if cs == stored:
                return lay, value, ChecksumCheck(
                    "checksum", stored, True,
                    f"verified: FNV-32a of the go-spew print of state.{name} ({lay.name} layout)")
    raise CheckpointError(
        f"{path} is corrupt: checksum {stored} does not match its content (computed {', '.join(computed)})",
        recovery_steps(path))


def _verify_data(raw: _Obj, outer_fields, data_struct: _Struct, data_initial: dict, path: str):
    outer = _Struct("state.Checkpoint", outer_fields + [_CHECKSUM_FIELD] + _DATA_FIELDS)
    top = _decode(outer, raw, outer.zero(), path)
    data = top["Data"]
    try:
        inner_raw = _load_json(data) if data.strip() else None
    except (ValueError, RecursionError) as exc:
        raise CheckpointError(f"{path} is corrupt: its data field is not valid JSON ({str(exc)[:80]})",
                              recovery_steps(path)) from None
    if inner_raw is None:
        raise CheckpointError(f"{path} is corrupt: the data field is empty (unexpected end of JSON input)",
                              recovery_steps(path))
    if not isinstance(inner_raw, _Obj):
        raise CheckpointError(f"{path} is corrupt: its data field holds {_kind(inner_raw)}, not a JSON object",
                              recovery_steps(path))
    value = _decode(data_struct, inner_raw, data_initial, path)
    stored = top["DataChecksum"]
    computed = fnv32a(("(string)" + data).encode("utf-8"))
    if computed != stored:
        raise CheckpointError(
            f"{path} is corrupt: dataChecksum {stored} does not match its data (computed {computed})",
            recovery_steps(path))
    return value, ChecksumCheck("dataChecksum", stored, True,
                                "verified: FNV-32a of the data string (authoritative; legacy fields ignored)")


def _blocks(blocks) -> list[dict[str, Any]]:
    return [
        {"numa_affinity": list(b["NUMAAffinity"] or []), "type": b["Type"], "size_bytes": b["Size"]}
        for b in (blocks or [])
    ]


def parse_memory_manager_state(text: str, path: str = MEMORY_STATE_FILE) -> MemoryManagerState:
    """Decode and verify memory_manager_state text. ``path`` names the file in messages.

    Raises:
        CheckpointError: the kubelet would refuse it (bad JSON, wrong types, checksum mismatch);
            the message names ``path`` and the recovery steps.
    """
    raw = _parse_top(text, path)
    if _has_key(raw, "data", "dataChecksum"):
        init = _MEM_DATA.zero()
        init.update(MachineState={}, Entries={}, PodEntries={})
        value, check = _verify_data(raw, _MEM_FIELDS_V1, _MEM_DATA, init, path)
        fmt = "v3 (data)"
    else:
        lay, value, check = _verify_legacy(raw, _MEM_LAYOUTS, path)
        fmt = lay.name
    machine: dict[int, dict[str, Any]] = {}
    for node, st in (value["MachineState"] or {}).items():
        st = st or _NUMA_NODE_STATE.zero()
        machine[node] = {
            "number_of_assignments": st["NumberOfAssignments"],
            "cells": list(st["Cells"] or []),
            "memory": {
                res: ({"total": t["TotalMemSize"], "systemReserved": t["SystemReserved"],
                       "allocatable": t["Allocatable"], "reserved": t["Reserved"], "free": t["Free"]}
                      if t is not None else None)
                for res, t in sorted((st["MemoryMap"] or {}).items())
            },
        }
    entries = {pod: {c: _blocks(bl) for c, bl in (cs or {}).items()} for pod, cs in (value["Entries"] or {}).items()}
    pod_entries = {pod: _blocks(pe["MemoryBlocks"]) for pod, pe in (value.get("PodEntries") or {}).items()}
    return MemoryManagerState(path, fmt, value["PolicyName"], machine, entries, pod_entries, check)


def _cpus(text: str, what: str, path: str) -> tuple[int, ...]:
    try:
        return _parse_kubelet_cpuset(text)
    except ValueError as exc:
        raise CheckpointError(f"{path} is corrupt: {what} {text[:40]!r} is not a CPU list ({exc})",
                              recovery_steps(path)) from None


def parse_cpu_manager_state(text: str, path: str = CPU_STATE_FILE) -> CpuManagerState:
    """Decode and verify cpu_manager_state text (v1 to v4). ``path`` names the file in messages.

    Raises:
        CheckpointError: the kubelet would refuse it; the message names ``path`` and the recovery.
    """
    raw = _parse_top(text, path)
    notes: list[str] = []
    if _has_key(raw, "data", "dataChecksum"):
        init = _CPU_DATA.zero()
        init.update(Entries={}, PodEntries={})
        value, check = _verify_data(raw, _CPU_FIELDS_V3, _CPU_DATA, init, path)
        fmt = "v4 (data)"
    else:
        lay, value, check = _verify_legacy(raw, _CPU_LAYOUTS, path)
        fmt = lay.name
    entries: dict[str, dict[str, tuple[int, ...]]] = {}
    for pod, cs in (value["Entries"] or {}).items():
        if isinstance(cs, str):  # v1: container id -> cpuset
            entries.setdefault("", {})[pod] = _cpus(cs, f"entry {pod[:40]!r}", path)
            continue
        entries[pod] = {c: _cpus(s, f"cpuset of {pod[:40]}/{c[:40]}", path) for c, s in (cs or {}).items()}
    if fmt == "v1" and entries:
        notes.append("v1 format: entries are keyed by container id, not pod uid and container name; "
                     "current kubelets refuse it (remove the file as for a corrupt one)")
    pod_entries = dict(value.get("PodEntries") or {})
    default = _cpus(value["DefaultCPUSet"], "defaultCpuSet", path)
    return CpuManagerState(path, fmt, value["PolicyName"], default, entries, pod_entries, check, notes)


def load_memory_manager_state(path: str) -> MemoryManagerState:
    """Read ``path`` (a memory_manager_state file). Raises CheckpointError as the parser does,
    and when the file is missing, unreadable, a directory, not UTF-8, or over 64 MiB."""
    return parse_memory_manager_state(_read_blob(path), path)


def load_cpu_manager_state(path: str) -> CpuManagerState:
    """Read ``path`` (a cpu_manager_state file). Raises CheckpointError like load_memory_manager_state."""
    return parse_cpu_manager_state(_read_blob(path), path)


def state_paths(kubelet_dir: str) -> tuple[str, str]:
    """(memory_manager_state, cpu_manager_state) paths under the kubelet's root directory."""
    return os.path.join(kubelet_dir, MEMORY_STATE_FILE), os.path.join(kubelet_dir, CPU_STATE_FILE)


# --------------------------------------------------------------------------- writing
#
# The reverse of the readers, for ``pod plan --write-checkpoints``: the file the kubelet's
# ``MarshalCheckpoint`` writes (``checksum.New`` over the go-spew print with the checksum at 0,
# then ``json.Marshal``: struct fields in order, ``omitempty`` entries left out when empty, map
# keys sorted as strings, HTML-safe string escapes). The layout is the oldest one that holds the
# content (memory v1 / cpu v2 without pod-level entries; memory v2 / cpu v3 with them), hashed
# under the type names ``MemoryManagerCheckpoint`` / ``CPUManagerCheckpoint``: what a kubelet of
# that layout writes, and what newer kubelets still verify (their V1/V2 fallbacks).


def _go_json(value: Any) -> str:
    """``encoding/json`` Marshal of a decoded value: dict keys sorted as strings, compact."""
    if isinstance(value, dict):
        items = sorted((str(k), v) for k, v in value.items())
        return "{" + ",".join(_go_json(k) + ":" + _go_json(v) for k, v in items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_go_json(v) for v in value) + "]"
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                        ("\u2029", "\\u2029")):
            text = text.replace(ch, esc)
        return text
    return str(int(value))


def _struct_json(fields: list[tuple[str, Any, bool]]) -> str:
    """A struct's JSON from (json name, value, omitempty) in field order."""
    parts = [_go_json(name) + ":" + (raw if isinstance(raw, _Raw) else _go_json(raw))
             for name, raw, omit in fields if not (omit and not raw)]
    return "{" + ",".join(parts) + "}"


class _Raw(str):
    """Already-encoded JSON."""


def _go_blocks(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"NUMAAffinity": [int(n) for n in b["numa_affinity"]], "Type": str(b["type"]), "Size": int(b["size_bytes"])}
            for b in blocks]


def _blocks_json(blocks: list[dict[str, Any]]) -> _Raw:
    return _Raw("[" + ",".join(_struct_json([("numaAffinity", b["NUMAAffinity"], False), ("type", b["Type"], False),
                                               ("size", b["Size"], False)]) for b in blocks) + "]")


_TABLE_FIELDS = (("total", "TotalMemSize"), ("systemReserved", "SystemReserved"), ("allocatable", "Allocatable"),
                 ("reserved", "Reserved"), ("free", "Free"))


def dump_memory_manager_state(policy_name: str, machine_state: dict[int, dict[str, Any]],
                              entries: dict[str, dict[str, list[dict[str, Any]]]],
                              pod_entries: dict[str, list[dict[str, Any]]] | None = None) -> str:
    """memory_manager_state text, checksum included, from the shapes ``MemoryManagerState`` holds
    (``machine_state``: node -> {number_of_assignments, cells, memory: {type: {total, systemReserved,
    allocatable, reserved, free}}}; ``entries``: pod uid -> container -> [{numa_affinity, type,
    size_bytes}]; ``pod_entries``: pod uid -> blocks). Sizes in bytes."""
    machine: dict[int, dict[str, Any]] = {int(n): {"NumberOfAssignments": int(st["number_of_assignments"]),
                        "MemoryMap": {str(r): {go: int(t[js]) for js, go in _TABLE_FIELDS}
                                      for r, t in st["memory"].items()},
                        "Cells": [int(c) for c in st["cells"]]}
               for n, st in machine_state.items()}
    go_entries = {str(p): {str(c): _go_blocks(bl) for c, bl in cs.items()} for p, cs in entries.items()}
    go_pods = {str(p): {"MemoryBlocks": _go_blocks(bl)} for p, bl in (pod_entries or {}).items()}
    lay = _MEM_LAYOUTS[1] if go_pods else _MEM_LAYOUTS[0]
    value: dict[str, Any] = {"PolicyName": policy_name, "MachineState": machine, "Entries": go_entries,
                             "Checksum": 0}
    if go_pods:
        value["PodEntries"] = go_pods
    checksum = fnv32a(spew_for_hash(lay.struct, value, "MemoryManagerCheckpoint").encode("utf-8"))
    machine_json = _Raw("{" + ",".join(
        _go_json(str(n)) + ":" + _struct_json([
            ("numberOfAssignments", st["NumberOfAssignments"], False),
            ("memoryMap", _Raw("{" + ",".join(_go_json(r) + ":" + _struct_json([(js, t[go], False)
                                                                               for js, go in _TABLE_FIELDS])
                                               for r, t in sorted(st["MemoryMap"].items())) + "}"), False),
            ("cells", st["Cells"], False)])
        for n, st in sorted(machine.items(), key=lambda kv: str(kv[0]))) + "}")
    entries_json = _Raw("{" + ",".join(
        _go_json(p) + ":{" + ",".join(_go_json(c) + ":" + _blocks_json(bl) for c, bl in sorted(cs.items())) + "}"
        for p, cs in sorted(go_entries.items())) + "}") if go_entries else _Raw("")
    fields: list[tuple[str, Any, bool]] = [("policyName", policy_name, False), ("machineState", machine_json, False),
                                           ("entries", entries_json, True)]
    if go_pods:
        fields.append(("podEntries", _Raw("{" + ",".join(
            _go_json(p) + ":" + _struct_json([("memoryBlocks", _blocks_json(pe["MemoryBlocks"]), False)])
            for p, pe in sorted(go_pods.items())) + "}"), True))
    fields.append(("checksum", checksum, False))
    return _struct_json(fields)


def dump_cpu_manager_state(policy_name: str, default_cpuset: tuple[int, ...] | list[int],
                           entries: dict[str, dict[str, tuple[int, ...]]],
                           pod_entries: dict[str, tuple[int, ...]] | None = None) -> str:
    """cpu_manager_state text, checksum included (v2 layout: pod uid -> container -> CPUs; v3 when
    ``pod_entries`` has pods). CPU sets are written as ``cpuset.CPUSet.String()`` does (``0-3,8``)."""
    from numabench.util.cpulist import format_cpulist

    go_entries = {str(p): {str(c): format_cpulist(sorted(v)) for c, v in cs.items()} for p, cs in entries.items()}
    go_pods = {str(p): tuple(sorted(v)) for p, v in (pod_entries or {}).items()}
    lay = _CPU_LAYOUTS[2] if go_pods else _CPU_LAYOUTS[1]
    value: dict[str, Any] = {"PolicyName": policy_name, "DefaultCPUSet": format_cpulist(sorted(default_cpuset)),
                             "Entries": go_entries, "Checksum": 0}
    if go_pods:
        value["PodEntries"] = go_pods
    checksum = fnv32a(spew_for_hash(lay.struct, value, "CPUManagerCheckpoint").encode("utf-8"))
    fields: list[tuple[str, Any, bool]] = [("policyName", policy_name, False),
                                           ("defaultCpuSet", value["DefaultCPUSet"], False),
                                           ("entries", go_entries, True)]
    if go_pods:
        fields.append(("podEntries", _Raw(_go_json({p: {"cpuSet": format_cpulist(v)} for p, v in go_pods.items()})),
                       True))
    fields.append(("checksum", checksum, False))
    return _struct_json(fields)
