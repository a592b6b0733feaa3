import xml.etree.ElementTree as ET

from numabench.render.junit import Case, junit_xml, write_junit


def test_junit_counts_and_failure_text(tmp_path):
    cases = [Case("latency cpu0 mem0", "numabench.compare", True, details="+1.0%"),
             Case("bandwidth cpu0 mem1", "numabench.compare", False, "regressed -12%", "p=0.001"),
             Case("hugepages", "numabench.qualify", False, "no pool", skipped=True)]
    root = ET.fromstring(junit_xml("gate", cases))
    suite = root.find("testsuite")
    assert suite.get("tests") == "3" and suite.get("failures") == "1" and suite.get("skipped") == "1"
    failed = suite.findall("testcase")[1]
    assert failed.find("failure").get("message") == "regressed -12%"
    assert failed.find("failure").text == "p=0.001"
    assert suite.findall("testcase")[2].find("skipped") is not None
    path = tmp_path / "out.xml"
    write_junit(str(path), "gate", cases)
    assert ET.parse(path).getroot().tag == "testsuites"
