"""One way in for every file numabench reads that another program wrote (results, kubelet state and
config, pod/experiment/node/spec YAML, captured JSON).

Each step has a limit, so no input can give a traceback, a hang or a memory blow-up:

- reading: regular files only (a FIFO would block, a device never ends: both refused after an
  ``O_NONBLOCK`` open), at most ``max_bytes``; every ``OSError`` becomes one line naming the file and
  what the errno means (a directory, a symlink loop, permission denied, an I/O error);
- decoding: UTF-8, or an error naming the byte offset;
- JSON: NaN/Infinity and numbers that overflow a float refused, integers of more than
  ``MAX_INT_DIGITS`` digits refused (Python's own limit is a ValueError at 4,300), nesting past
  ``MAX_DEPTH`` refused (the callers' walkers are recursive);
- YAML: the safe loader, with nesting past ``MAX_DEPTH`` refused while composing, aliases whose
  expansion would exceed ``MAX_YAML_NODES`` nodes refused ("billion laughs"), recursive aliases
  refused, ``.inf``/``.nan`` and huge integers refused, optionally a key given twice refused;
- types: ``expect`` names the place ("expected a mapping at spec.checks, got a list").

Every function raises the caller's error class (a ``NumabenchError`` subclass: ``ResultError``,
``CheckpointError``, ``SpecError``, ``UsageError``; all exit 2), so each loader keeps its own
error and fix while sharing the limits.
"""

from __future__ import annotations

import errno as _errno
import json
import math
import os
import stat
from typing import Any, Callable, Mapping

from numabench.errors import NumabenchError, UsageError

MAX_BYTES = 64 << 20  # no result, checkpoint or manifest comes near this
MAX_DEPTH = 64  # results nest about 6 deep, Kubernetes objects about 12
MAX_INT_DIGITS = 64  # a uint64 has 20 digits; Kubernetes quantities fewer
MAX_YAML_NODES = 1_000_000  # nodes after alias expansion; a large pod list is ~10,000
MAX_YAML_BYTES = 4 << 20  # libyaml reads about 1.5 MB/s here: a bigger file would look like a hang

ErrorClass = type[NumabenchError]

# The one open() of this module, a name tests can replace (as root, chmod 0 does not deny a read).
_open = os.open

# What an errno means to someone who gave us a path (strerror says "Is a directory" etc. too, but
# these name what to do about it).
_ERRNO_WORDS = {
    _errno.ENOENT: "no such file",
    _errno.EISDIR: "is a directory, not a file",
    _errno.ELOOP: "a symbolic link loop",
    _errno.EACCES: "permission denied",
    _errno.EPERM: "operation not permitted",
    _errno.EIO: "an I/O error (the disk or file system failed)",
    _errno.ENOTDIR: "a path component is not a directory",
    _errno.ENAMETOOLONG: "the path is too long",
    _errno.ENXIO: "no such device",
    _errno.EAGAIN: "not ready to be read (a FIFO or socket)",
}


def describe_oserror(exc: OSError) -> str:
    """A few words for an ``OSError``'s errno ("a symbolic link loop", "permission denied")."""
    if exc.errno in _ERRNO_WORDS:
        return _ERRNO_WORDS[exc.errno]
    return exc.strerror or type(exc).__name__


def _kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "is a directory, not a file"
    if stat.S_ISFIFO(mode):
        return "is a FIFO (named pipe), not a regular file"
    if stat.S_ISSOCK(mode):
        return "is a socket, not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device, not a regular file"
    return "is not a regular file"


def read_bytes(path: str, *, what: str = "file", error: ErrorClass = UsageError, fix: str | None = None,
               max_bytes: int = MAX_BYTES, fixes: Mapping[int, str] | None = None) -> bytes:
    """The content of the regular file ``path``, at most ``max_bytes`` bytes.

    Opened with ``O_NONBLOCK`` and checked with ``fstat`` before reading, so a FIFO, socket or device
    is refused at once instead of blocking or never ending.

    ``fixes`` maps an errno to its own fix (ENOENT: "pass --dir"), ``fix`` is for the rest.

    Raises:
        error: the path cannot be opened (the message says why: missing, a directory, a symlink loop,
            permission denied, EIO ...), is not a regular file, or is larger than ``max_bytes``.
    """
    fix = fix or f"give the path of a {what}"
    if not isinstance(path, str) or not path or "\0" in path:
        raise error(f"{path!r} is not a usable path for the {what}", fix)
    try:
        fd = _open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise error(f"cannot read the {what} {path}: {describe_oserror(exc)}",
                    (fixes or {}).get(exc.errno or 0, fix)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            eisdir = (fixes or {}).get(_errno.EISDIR, fix) if stat.S_ISDIR(st.st_mode) else fix
            raise error(f"cannot read the {what} {path}: it {_kind_of(st.st_mode)}", eisdir)
        if st.st_size > max_bytes:
            raise error(f"the {what} {path} is {st.st_size} bytes, more than the {max_bytes} allowed", fix)
        chunks, size = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:  # grew while we read it (or lied about its size: procfs)
                raise error(f"the {what} {path} is more than the {max_bytes} bytes allowed", fix)
        return b"".join(chunks)
    except OSError as exc:
        raise error(f"cannot read the {what} {path}: {describe_oserror(exc)}", fix) from None
    finally:
        os.close(fd)


def decode_utf8(blob: bytes, source: str, *, error: ErrorClass = UsageError, fix: str | None = None) -> str:
    """``blob`` as UTF-8 text (a leading BOM dropped). Raises ``error`` naming the first bad byte."""
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{source} is not UTF-8 text (byte {exc.start}); it is not the file meant",
                    fix or "give a text file") from None
    return text[1:] if text.startswith("\ufeff") else text


def read_text(path: str, *, what: str = "file", error: ErrorClass = UsageError, fix: str | None = None,
              max_bytes: int = MAX_BYTES) -> str:
    """``read_bytes`` then ``decode_utf8``: the file's text. Raises ``error`` (see both)."""
    return decode_utf8(read_bytes(path, what=what, error=error, fix=fix, max_bytes=max_bytes), path,
                       error=error, fix=fix)


# --------------------------------------------------------------------------- structure checks


def check_depth(doc: Any, source: str, *, error: ErrorClass = UsageError, max_depth: int = MAX_DEPTH,
                fix: str | None = None) -> Any:
    """``doc`` unchanged when its lists/mappings nest at most ``max_depth`` deep (walked without
    recursion). Raises ``error`` otherwise, or on a structure that contains itself."""
    stack: list[tuple[Any, int]] = [(doc, 1)]
    on_path: set[int] = set()
    while stack:
        node, depth = stack.pop()
        if depth < 0:  # a marker: leaving the container -depth stands for
            on_path.discard(id(node))
            continue
        if not isinstance(node, (dict, list, tuple)):
            continue
        if depth > max_depth:
            raise error(f"{source} is nested more than {max_depth} deep", fix or "flatten the document")
        if id(node) in on_path:
            raise error(f"{source} contains itself (a recursive alias)", fix or "remove the recursive alias")
        on_path.add(id(node))
        stack.append((node, -1))
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list, tuple)))
    return doc


# --------------------------------------------------------------------------- JSON


class _TooDeep(ValueError):
    pass


def loads_json(text: str, *, max_depth: int = MAX_DEPTH, max_int_digits: int = MAX_INT_DIGITS,
               parse_int: Callable[[str], Any] | None = None, parse_float: Callable[[str], Any] | None = None,
               object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None) -> Any:
    """``json.loads`` with the limits, for callers with their own messages (``parse_json`` maps them
    to one error). ``parse_int``/``parse_float``/``object_pairs_hook`` are passed on, after the digit
    and finiteness checks, for callers that keep Go's number semantics.

    Raises:
        json.JSONDecodeError: not JSON. ValueError: NaN/Infinity, a float that overflows, an integer
            of more than ``max_int_digits`` digits, nesting deeper than ``max_depth``.
    """

    def _int(s: str) -> Any:
        if len(s.lstrip("-")) > max_int_digits:
            raise ValueError(f"an integer of {len(s)} digits (at most {max_int_digits})")
        return parse_int(s) if parse_int else int(s)

    def _float(s: str) -> Any:
        if not math.isfinite(float(s)):
            raise ValueError(f"{s[:20]} overflows a 64-bit float")
        return parse_float(s) if parse_float else float(s)

    def _constant(s: str) -> Any:
        raise ValueError(f"{s} is not a JSON number")

    try:
        doc = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant,
                         object_pairs_hook=object_pairs_hook)
    except RecursionError:
        raise _TooDeep(f"nested more than {max_depth} deep") from None
    try:
        return check_depth(doc, "the document", error=UsageError, max_depth=max_depth)
    except UsageError:
        raise _TooDeep(f"nested more than {max_depth} deep") from None


def parse_json(text: str, source: str, *, error: ErrorClass = UsageError, fix: str | None = None,
               **limits: Any) -> Any:
    """``loads_json`` (keyword ``limits`` passed on), its failures as one ``error`` naming ``source``.

    Raises:
        error: not JSON (with line and column; "truncated" when it ends early), NaN/Infinity, a float
            that overflows, an integer over the digit cap, nesting past the depth cap.
    """
    try:
        return loads_json(text, **limits)
    except json.JSONDecodeError as exc:
        what = "truncated" if exc.pos >= len(text.rstrip()) else "not valid JSON"
        raise error(f"{source} is {what} ({exc.msg} at line {exc.lineno} column {exc.colno})",
                    fix or "give a complete JSON file") from None
    except _TooDeep as exc:
        raise error(f"{source} is {exc}", fix or "flatten the document") from None
    except ValueError as exc:
        raise error(f"{source} is not usable JSON: {exc}", fix or "give a complete JSON file") from None


def load_json(path: str, *, what: str = "JSON file", error: ErrorClass = UsageError, fix: str | None = None,
              max_bytes: int = MAX_BYTES, **limits: Any) -> Any:
    """``read_text`` then ``parse_json`` (keyword ``limits`` go to ``parse_json``). Raises ``error``."""
    text = read_text(path, what=what, error=error, fix=fix, max_bytes=max_bytes)
    return parse_json(text, path, error=error, fix=fix, **limits)


# --------------------------------------------------------------------------- YAML (see _yamlsafe)


def parse_yaml(text: str, source: str, *, error: ErrorClass = UsageError, fix: str | None = None,
               all_documents: bool = False, unique_keys: bool = False, max_depth: int = MAX_DEPTH,
               max_nodes: int = MAX_YAML_NODES, max_int_digits: int = MAX_INT_DIGITS) -> Any:
    """Decode YAML text with the safe loader and the limits above. With ``all_documents`` a list of
    the non-empty documents; otherwise the one document (None for an empty file).

    Raises:
        error: not YAML (with line and column), several documents where one is meant, nesting
            deeper than ``max_depth``, aliases expanding past ``max_nodes`` nodes or into themselves,
            ``.inf``/``.nan``, an integer over ``max_int_digits`` digits, a key twice (``unique_keys``).
    """
    from numabench.util import _yamlsafe  # PyYAML is imported only by commands that read YAML

    limits = _yamlsafe.Limits(max_depth=max_depth, max_nodes=max_nodes, max_int_digits=max_int_digits,
                              unique_keys=unique_keys)
    try:
        docs = _yamlsafe.load_all(text, limits)
    except _yamlsafe.LimitExceeded as exc:
        raise error(f"{source}: {exc}", fix or "simplify the YAML") from None
    except _yamlsafe.YAMLError as exc:
        raise error(f"{source} is not valid YAML{_yamlsafe.where(exc)}: {_yamlsafe.problem(exc)}",
                    fix or "fix the YAML syntax") from None
    except (ValueError, OverflowError) as exc:  # a scalar the constructor cannot convert
        raise error(f"{source} is not usable YAML: {exc}", fix or "fix the YAML") from None
    except RecursionError:
        raise error(f"{source} is nested more than {max_depth} deep", fix or "flatten the document") from None
    if all_documents:
        return [d for d in docs if d is not None]
    present = [d for d in docs if d is not None]
    if len(present) > 1:
        raise error(f"{source} holds {len(present)} YAML documents, where one is meant",
                    fix or "give a file with exactly one document")
    return present[0] if present else None


def load_document(path: str, *, what: str = "file", error: ErrorClass = UsageError, fix: str | None = None,
                  all_documents: bool = False, unique_keys: bool = False, max_bytes: int | None = None) -> Any:
    """A JSON (by a ``.json`` name) or YAML file's content, through ``read_text`` and
    ``parse_json``/``parse_yaml``. With ``all_documents`` a list (a JSON file is one document).

    Raises:
        error: see ``read_bytes``, ``decode_utf8``, ``parse_json`` and ``parse_yaml``.
    """
    is_json = path.endswith(".json")
    cap = max_bytes if max_bytes is not None else (MAX_BYTES if is_json else MAX_YAML_BYTES)
    text = read_text(path, what=what, error=error, fix=fix, max_bytes=cap)
    if is_json:
        doc = parse_json(text, path, error=error, fix=fix)
        return [doc] if all_documents else doc
    return parse_yaml(text, path, error=error, fix=fix, all_documents=all_documents, unique_keys=unique_keys)


# --------------------------------------------------------------------------- types

_TYPE_WORDS: dict[type, str] = {dict: "a mapping", list: "a list", str: "a string", int: "an integer",
                                float: "a number", bool: "a boolean", type(None): "nothing"}


def type_word(value: Any) -> str:
    """"a mapping", "a list", "a string" ... for messages."""
    for kind, word in _TYPE_WORDS.items():
        if type(value) is kind:
            return word
    return type(value).__name__


def expect(value: Any, kind: type | tuple[type, ...], where: str, *, error: ErrorClass = UsageError,
           fix: str | None = None) -> Any:
    """``value`` when it is a ``kind`` (a bool is never an int or float here).

    Raises:
        error: "expected a mapping at <where>, got a list".
    """
    kinds = kind if isinstance(kind, tuple) else (kind,)
    ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
    if ok and isinstance(value, float) and not math.isfinite(value):
        ok = False
    if not ok:
        wanted = " or ".join(_TYPE_WORDS.get(k, k.__name__) for k in kinds)
        raise error(f"expected {wanted} at {where}, got {type_word(value)}", fix)
    return value
