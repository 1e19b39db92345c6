"""JUnit XML, as CI dashboards read it: the file `run --junit` and `test --junit` write."""

from __future__ import annotations

from collections.abc import Sequence

from runner.records import record


@record
class JUnitCase:
    """One test case of a JUnit report."""

    classname: str
    name: str
    failure: str | None = None
    error: str | None = None
    output: str = ""
    file: str | None = None
    line: int | None = None
    seconds: float = 0.0


def junit(suite: str, cases: Sequence[JUnitCase]) -> str:
    """A JUnit XML report, as CI dashboards read it."""
    from xml.etree import ElementTree as ET

    failures = sum(c.failure is not None for c in cases)
    errors = sum(c.error is not None for c in cases)
    root = ET.Element("testsuites", tests=str(len(cases)), failures=str(failures), errors=str(errors))
    node = ET.SubElement(
        root, "testsuite", name=suite, tests=str(len(cases)), failures=str(failures), errors=str(errors)
    )
    for case in cases:
        attrs = {"classname": case.classname, "name": case.name, "time": f"{case.seconds:.3f}"}
        if case.file:
            attrs["file"] = case.file
        if case.line:
            attrs["line"] = str(case.line)
        element = ET.SubElement(node, "testcase", attrs)
        for kind, text in (("failure", case.failure), ("error", case.error)):
            if text is not None:
                ET.SubElement(element, kind, message=text.splitlines()[0] if text else kind).text = text
        if case.output:
            ET.SubElement(element, "system-out").text = case.output
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
