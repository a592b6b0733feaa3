"""Every fix hint names an option that exists (issue 10: 'pass --procfs-root' named none).

Hints are the string literals of numabench's sources. Each ``--option`` in them must be an option
of some numabench command, and each ``numabench <command> ... --option`` must be an option of
that very command. The topology readers' hints are held to that strictly; the whole source tree
is checked for options that exist nowhere.
"""

import ast
import os
import re

import click
import pytest

from numabench.cli import main

SRC = os.path.join(os.path.dirname(__file__), "..", "..", "src", "numabench")
TOPOLOGY_SOURCES = ["host/topology.py", "host/cgroups.py", "util/cpulist.py", "util/units.py",
                    "cli/topology_cmd.py", "cli/common.py"]
_OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")
# Text about another tool's options (the kubelet's --root-dir, kubectl's --ignore-daemonsets, ...).
_OTHER_TOOL = re.compile(r"kubelet's|kubectl|crictl|\bMLC\b|collector's")
_COMMAND_OPTION = re.compile(r"numabench ((?:[a-z][a-z-]* )+?)(--[a-z][a-z0-9-]*)")


def commands(group=main, prefix=()):
    """{('pod', 'plan'): click command, ...}, every command and group of the CLI (loading the lazy ones)."""
    out = {prefix: group}
    if isinstance(group, click.Group):
        ctx = click.Context(group)
        for name in group.list_commands(ctx):
            out.update(commands(group.get_command(ctx, name), prefix + (name,)))
    return out


COMMANDS = commands()


def options_of(cmd):
    names = {"--help"}
    for p in cmd.params:
        if isinstance(p, click.Option):
            names.update(o for o in p.opts + p.secondary_opts if o.startswith("--"))
    return names


ALL_OPTIONS = set().union(*(options_of(c) for c in COMMANDS.values()))


def strings_of(rel):
    with open(os.path.join(SRC, rel)) as f:
        tree = ast.parse(f.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value
        elif isinstance(node, ast.JoinedStr):  # f-strings: their literal parts, joined
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
            yield node.lineno, text


def hint_problems(rel):
    problems = []
    for line, text in strings_of(rel):
        if '"""' in text or text.count("\n") > 2:
            continue  # docstrings describe, they do not hint
        for option in [] if _OTHER_TOOL.search(text) else _OPTION.findall(text):
            if option not in ALL_OPTIONS:
                problems.append(f"{rel}:{line}: {option} is no option of any command: {text!r}")
        for words, option in _COMMAND_OPTION.findall(text):
            path = tuple(words.split())
            cmd = COMMANDS.get(path)
            if cmd is not None and option not in options_of(cmd):
                problems.append(f"{rel}:{line}: `numabench {words}{option}`: no such option: {text!r}")
    return problems


@pytest.mark.parametrize("rel", TOPOLOGY_SOURCES)
def test_topology_hints_name_existing_options(rel):
    assert hint_problems(rel) == []


def test_topology_command_has_the_options_its_hints_name():
    opts = options_of(COMMANDS[("topology",)])
    assert {"--sysfs-root", "--capture", "--json"} <= opts
    assert "--procfs-root" not in ALL_OPTIONS  # the hint that named it is gone


def test_hint_checker_catches_a_made_up_option(tmp_path, monkeypatch):
    fake = tmp_path / "fake.py"
    fake.write_text('X = "pass --procfs-root to a captured tree"\nY = "numabench topology --bogus"\n')
    monkeypatch.setattr(__import__(__name__), "SRC", str(tmp_path))
    problems = hint_problems("fake.py")
    assert "--procfs-root" in problems[0] and all("--bogus" in p for p in problems[1:])
    assert any("`numabench topology --bogus`: no such option" in p for p in problems)


def test_every_source_names_only_existing_options():
    rels = [os.path.relpath(os.path.join(d, f), SRC) for d, _, fs in os.walk(SRC) for f in fs if f.endswith(".py")]
    problems = [p for rel in sorted(rels) for p in hint_problems(rel)]
    assert problems == []


def _write(root, files):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return str(root)


@pytest.mark.parametrize("files, needle", [
    ({"sys/devices/system/cpu/online": "0-1\n"}, "memory of node 0 is unknown"),  # hwloc's 2ps3-2t
    ({"sys/devices/system/node/online": "0\n", "sys/devices/system/node/node0/meminfo": "MemTotal: 1 kB\n"},
     "cannot read the CPUs of node 0"),
    ({"sys/devices/system/node/online": "0\n", "sys/devices/system/node/node0/cpulist": "0-x\n",
      "sys/devices/system/node/node0/meminfo": "Node 0 MemTotal: 1 kB\n"}, "0-x"),
    ({"sys/devices/system/node/online": "0\n", "sys/devices/system/node/node0/cpulist": "0\n",
      "sys/devices/system/node/node0/meminfo": "Node 0 MemTotal: 1 kB\n",
      "sys/devices/system/node/node0/distance": "10 20\n"}, "lists 2 distances"),
])
def test_errors_on_damaged_trees_hint_at_options_of_topology(tmp_path, cli, files, needle):
    root = _write(tmp_path / "t", files)
    line = cli.one_line_error(cli("topology", "--sysfs-root", root), needle)
    hinted = set(_OPTION.findall(line))
    assert hinted, line  # every such error says how to get a readable tree
    assert hinted <= options_of(COMMANDS[("topology",)]), line
