# SPDX-License-Identifier: Apache-2.0
"""`gatehouse check -f PATH`: exit 0 on valid manifests (examples/quickstart),
exit 1 with exactly one `file:line:col: Kind ns/name: field: message` line
per problem on invalid ones (fixtures in data/gateway/check, in the style of
tests/data/invalid: the first line says `# expect: <line>`), and `-o json`
printing a v1 List with statuses when the option exists."""
import json
import os
import re
import shutil
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(HERE, "data", "gateway", "check")
QUICKSTART = os.path.join(ROOT, "examples", "quickstart")
DIAG = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<kind>\w+) "
                  r"(?P<ns>[^/ ]*)/(?P<name>\S+): (?P<rest>.*)$")


def check(binary, *args, cwd=None):
    p = subprocess.run([binary, "check", *args], capture_output=True, text=True, timeout=60,
                       cwd=cwd)
    for mark in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
        assert mark not in p.stderr, f"sanitizer report from check {args}:\n{p.stderr[-4000:]}"
    return p


def diag_lines(text):
    return [ln for ln in text.splitlines() if DIAG.match(ln)]


def expected_of(path):
    with open(path) as f:
        first = f.readline()
    assert first.startswith("# expect: "), path
    return first[len("# expect: "):].rstrip("\n")


INVALID = sorted(n for n in os.listdir(os.path.join(DATA, "invalid")) if n.endswith(".yaml"))


def test_quickstart_is_valid(gatehouse):
    p = check(gatehouse, "-f", QUICKSTART)
    assert p.returncode == 0, f"exit {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}"
    assert diag_lines(p.stdout + p.stderr) == []


def test_quickstart_files_one_by_one(gatehouse):
    args = []
    for n in sorted(os.listdir(QUICKSTART)):
        args += ["-f", os.path.join(QUICKSTART, n)]
    p = check(gatehouse, *args)
    assert p.returncode == 0, p.stdout + p.stderr


def test_quiet_valid_prints_nothing(gatehouse):
    p = check(gatehouse, "-q", "-f", QUICKSTART)
    assert p.returncode == 0
    assert p.stdout.strip() == "", p.stdout


@pytest.mark.parametrize("name", INVALID)
def test_invalid_manifest_exact_line(gatehouse, name, tmp_path):
    # relative path: the file name as given must start the line
    shutil.copy(os.path.join(DATA, "invalid", name), tmp_path / name)
    p = check(gatehouse, "-q", "-f", name, cwd=str(tmp_path))
    assert p.returncode == 1, f"exit {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}"
    want = expected_of(tmp_path / name)
    got = diag_lines(p.stdout + p.stderr)
    assert got == [want], f"\nwanted: {want}\ngot:    {got}\nstdout: {p.stdout}"


def test_invalid_absolute_path_is_printed_as_given(gatehouse):
    path = os.path.join(DATA, "invalid", "gateway-unknown-field.yaml")
    p = check(gatehouse, "-f", path)
    assert p.returncode == 1
    want = expected_of(path).replace("gateway-unknown-field.yaml", path, 1)
    assert want in p.stdout.splitlines(), p.stdout


def test_json_manifest_position(gatehouse, tmp_path):
    shutil.copy(os.path.join(DATA, "invalid", "route-json.json"), tmp_path / "route.json")
    p = check(gatehouse, "-q", "-f", "route.json", cwd=str(tmp_path))
    assert p.returncode == 1, p.stdout + p.stderr
    want = ('route.json:8:31: HTTPRoute e2e/json: spec.rules[0].matches[0].method: '
            'Unsupported value: "FETCH": supported values: "GET", "HEAD", "POST", "PUT", '
            '"DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"')
    assert diag_lines(p.stdout) == [want], p.stdout


def test_directory_reports_every_error_and_exits_1(gatehouse, tmp_path):
    d = tmp_path / "m"
    shutil.copytree(os.path.join(DATA, "multi"), d)
    p = check(gatehouse, "-q", "-f", "m", cwd=str(tmp_path))
    assert p.returncode == 1, p.stdout + p.stderr
    want = {
        "m/bad-a.yaml:10:5: HTTPRoute default/a: spec.hostnames[0]: Invalid value: "
        "\"foo.*.example.com\": should match "
        "'^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'",
        "m/bad-b.yaml:7:3: Gateway default/b: spec.gatewayClassName: Required value",
    }
    got = diag_lines(p.stdout)
    assert set(got) == want and len(got) == 2, "\n".join(got)


def test_yaml_syntax_error_has_a_position(gatehouse, tmp_path):
    (tmp_path / "broken.yaml").write_text(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n"
        "  name: x\n  namespace: e2e\nspec:\n  rules: [\n    {matches: }\n")
    p = check(gatehouse, "-q", "-f", "broken.yaml", cwd=str(tmp_path))
    assert p.returncode == 1, p.stdout + p.stderr
    assert re.search(r"^broken\.yaml:\d+:\d+: ", p.stdout + p.stderr, re.M), \
        f"no file:line:col in {p.stdout!r} {p.stderr!r}"


def test_usage_error_exits_2(gatehouse):
    p = check(gatehouse)
    assert p.returncode == 2, p.stdout + p.stderr
    p = check(gatehouse, "--no-such-option", "-f", QUICKSTART)
    assert p.returncode == 2, p.stdout + p.stderr


def _has_output_option(binary):
    p = subprocess.run([binary, "check", "--help"], capture_output=True, text=True, timeout=10)
    return re.search(r"(^|\s)(-o\b|--output\b)", p.stdout + p.stderr) is not None


def test_output_json_is_a_v1_list_with_statuses(gatehouse):
    if not _has_output_option(gatehouse):
        if os.environ.get("GW_E2E_REQUIRE_RUN") == "1":
            pytest.fail("check --help lists no -o/--output option")
        pytest.skip("check has no -o/--output option yet")
    p = check(gatehouse, "-o", "json", "-f", QUICKSTART)
    assert p.returncode == 0, p.stdout + p.stderr
    doc = json.loads(p.stdout)
    assert doc.get("apiVersion") == "v1" and doc.get("kind") == "List", doc.keys()
    items = doc["items"]
    kinds = {(i["kind"], i["metadata"].get("namespace", ""), i["metadata"]["name"]): i
             for i in items}
    gw = kinds.get(("Gateway", "default", "quickstart"))
    assert gw is not None, sorted(kinds)
    conds = {c["type"]: c["status"] for c in gw["status"]["conditions"]}
    assert conds.get("Accepted") == "True", gw["status"]
    route = kinds.get(("HTTPRoute", "default", "web"))
    assert route is not None, sorted(kinds)
    parents = route["status"]["parents"]
    assert parents and parents[0]["controllerName"] == "gatehouse.dev/gateway-controller"
    pconds = {c["type"]: c["status"] for c in parents[0]["conditions"]}
    assert pconds.get("Accepted") == "True", parents
    assert pconds.get("ResolvedRefs") == "True", parents
    gc = kinds.get(("GatewayClass", "", "gatehouse"))
    assert gc is not None, sorted(kinds)
    assert {c["type"]: c["status"] for c in gc["status"]["conditions"]}.get("Accepted") == "True"
