"""JUnit XML for CI systems: one test suite, one test case per check."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from numabench.util.atomicfile import write_atomic


@dataclass(frozen=True)
class Case:
    """One check: `message` is the one-line verdict, `details` the longer text."""

    name: str
    classname: str
    passed: bool
    message: str = ""
    details: str = ""
    skipped: bool = False
    seconds: float = 0.0


def junit_xml(suite: str, cases: list[Case]) -> str:
    """The JUnit XML document (the schema Jenkins, GitLab and GitHub reporters read)."""
    failures = sum(1 for c in cases if not c.passed and not c.skipped)
    skipped = sum(1 for c in cases if c.skipped)
    root = ET.Element("testsuites", name=suite, tests=str(len(cases)), failures=str(failures))
    node = ET.SubElement(root, "testsuite", name=suite, tests=str(len(cases)), failures=str(failures),
                         errors="0", skipped=str(skipped),
                         time=f"{sum(c.seconds for c in cases):.3f}")
    for c in cases:
        case = ET.SubElement(node, "testcase", name=c.name, classname=c.classname, time=f"{c.seconds:.3f}")
        if c.skipped:
            ET.SubElement(case, "skipped", message=c.message)
        elif not c.passed:
            failure = ET.SubElement(case, "failure", message=c.message)
            failure.text = c.details or c.message
        elif c.details:
            ET.SubElement(case, "system-out").text = c.details
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(path: str, suite: str, cases: list[Case]) -> None:
    """Write atomically (temporary file, then rename)."""
    write_atomic(path, junit_xml(suite, cases), fix="choose a writable --junit path")
