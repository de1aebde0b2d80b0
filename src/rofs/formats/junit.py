"""JUnit XML, as CI systems show test results (GitLab's test reports, Jenkins, Azure Pipelines):
one test suite per file read, one failing test case per active finding (its rule and where), a
passing case for a file with none; an unreadable file is an error case.  Suppressed findings are
skipped cases, with the reason."""

from __future__ import annotations

import re
from xml.etree import ElementTree as ET

from rofs.results import AuditResult

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # XML 1.0 takes none of these


def _x(text: object) -> str:
    """*text* as XML can hold it: names and messages come from the files, control bytes and all."""
    return _NOT_XML.sub("\ufffd", str(text))


def render(result: AuditResult) -> str:
    suites = ET.Element("testsuites", name="rofs audit")
    by_file: dict[str, list] = {}
    for f in result.findings:
        by_file.setdefault(f.location.path, []).append(f)
    total = failures = errors = skipped = 0
    for source in result.files:
        if source.skipped:
            continue
        suite = ET.SubElement(suites, "testsuite", name=_x(source.path))
        cases = failed = skipped_here = 0
        for f in by_file.get(source.path, []):
            who = f"{f.kind}/{f.object}" + (f" [{f.container}]" if f.container else "")
            case = ET.SubElement(suite, "testcase", classname=_x(source.path), name=_x(f"{f.rule} {f.name}: {who}"),
                                 file=_x(f.location.path), line=str(f.location.line))
            cases += 1
            if f.suppressed is not None:
                ET.SubElement(case, "skipped", message=_x(f"suppressed: {f.suppressed}"))
                skipped_here += 1
                continue
            failure = ET.SubElement(case, "failure", message=_x(f.message), type=f.severity.value)
            failure.text = _x(f"{f.location}: {f.rule} {f.message}" + (f"\nfix: {f.fix}" if f.fix else ""))
            failed += 1
        for error in source.errors:
            case = ET.SubElement(suite, "testcase", classname=_x(source.path), name="read the file", file=_x(source.path))
            ET.SubElement(case, "error", message=_x(error.message)).text = _x(error)
            cases += 1
            errors += 1
        if cases == 0:
            ET.SubElement(suite, "testcase", classname=_x(source.path), name="no finding", file=_x(source.path))
            cases = 1
        suite.set("tests", str(cases))
        suite.set("failures", str(failed))
        suite.set("errors", str(len(source.errors)))
        suite.set("skipped", str(skipped_here))
        total += cases
        failures += failed
        skipped += skipped_here
    suites.set("tests", str(total))
    suites.set("failures", str(failures))
    suites.set("errors", str(errors))
    suites.set("skipped", str(skipped))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
