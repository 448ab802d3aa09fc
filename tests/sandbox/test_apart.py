"""The sandbox is a second application beside the shop: its own package, files and URLs."""
from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Imports the sandbox and builds its app, then reports every loaded module of ours.
_PROBE = """
import json, sys, tempfile, os
import sandbox
app = sandbox.create_app({"SANDBOX_DATABASE": os.path.join(tempfile.mkdtemp(), "probe.sqlite3"),
                          "SANDBOX_AUTOSTART": False})
with app.test_client() as client:
    sdk = client.get("/v1/iamport.js")
    status, body = sdk.status_code, sdk.get_data(as_text=True)
app.extensions["sandbox"].stop()
print(json.dumps({"modules": sorted(m for m in sys.modules if m.split(".")[0] in ("storefront", "sandbox")),
                  "sdk_status": status, "sdk_has_imp": "IMP" in body}))
"""


def test_the_sandbox_imports_nothing_of_the_storefront():
    result = subprocess.run([sys.executable, "-c", _PROBE], cwd=REPO, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["sdk_status"] == 200 and report["sdk_has_imp"]
    assert "sandbox.api" in report["modules"]
    assert [m for m in report["modules"] if m.split(".")[0] == "storefront"] == []


def test_the_shop_serves_none_of_the_sandbox(client):
    for path in ("/static/sandbox/iamport.js", "/static/sandbox/window.js", "/static/sandbox/operator.css"):
        with client.get(path) as response:
            assert response.status_code == 404, path
    # The shop's own files are still there.
    with client.get("/static/css/style.css") as response:
        assert response.status_code == 200


def test_the_sandbox_serves_its_sdk_and_window_files(sandbox):
    sdk = sandbox.http.get(sandbox.sdk_url, timeout=10)
    assert sdk.status_code == 200 and "IMP" in sdk.text
    operator = sandbox.http.get(f"{sandbox.url}/_sandbox", timeout=10)
    assert operator.status_code == 200
    # Every stylesheet and script the operator page links to is served by the sandbox itself.
    links = re.findall(r'(?:href|src)="(/[^"]+\.(?:css|js))"', operator.text)
    assert links
    for link in links:
        assert sandbox.http.get(f"{sandbox.url}{link}", timeout=10).status_code == 200, link


def _imports_between_modules() -> dict[str, set[str]]:
    """Each sandbox module -> the sandbox modules it imports (type-checking imports included)."""
    package = REPO / "sandbox"
    names = {path.stem for path in package.glob("*.py")}
    graph: dict[str, set[str]] = {}
    for path in package.glob("*.py"):
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    imported.add(node.module.split(".")[0])
                else:
                    imported.update(alias.name for alias in node.names if alias.name in names)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sandbox":
                imported.add((node.module.split(".") + ["__init__"])[1])
        graph[path.stem] = imported & names - {path.stem}
    return graph


def test_the_sandbox_modules_import_each_other_without_a_circle():
    graph = _imports_between_modules()
    # The package's __init__ builds the app from all the others; a module importing it back
    # would be a circle too.
    assert not [m for m, imported in graph.items() if "__init__" in imported and m != "__main__"]
    del graph["__init__"], graph["__main__"]
    circles: list[list[str]] = []

    def walk(module: str, path: list[str]) -> None:
        for other in sorted(graph[module]):
            if other in path:
                circles.append(path[path.index(other):] + [other])
            elif other in graph:
                walk(other, path + [other])

    for module in sorted(graph):
        walk(module, [module])
    assert circles == []
