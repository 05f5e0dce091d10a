"""The shape of the code (README, "Layout"): layers that only import downwards, small functions, a thin site.

``scripts/test`` runs ``lint-imports`` on the tree itself; these tests prove that its contracts do catch an
upward import and a stray Rucio or OIDC import, and keep the limits the architecture issue set.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from radon.complexity import cc_visit

ROOT = Path(__file__).resolve().parents[1]
APPS = ("common", "notifications", "qos", "engagement", "meetings", "portal")
MAX_COMPLEXITY = 15


def app_sources() -> list[Path]:
    """The app code: every Python file of the apps except migrations."""
    return [
        path for app in APPS for path in sorted((ROOT / app).rglob("*.py")) if "migrations" not in path.parts
    ]


def test_no_function_is_more_complex_than_the_limit():
    too_complex = [
        f"{path.relative_to(ROOT)}:{block.lineno} {block.fullname} ({block.complexity})"
        for path in app_sources()
        for block in cc_visit(path.read_text())
        if block.complexity > MAX_COMPLEXITY
    ]
    assert too_complex == [], f"split these (radon cyclomatic complexity above {MAX_COMPLEXITY})"


def test_the_site_package_holds_at_most_a_quarter_of_the_app_code():
    lines = {app: 0 for app in APPS}
    for path in app_sources():
        lines[path.relative_to(ROOT).parts[0]] += len(path.read_text().splitlines())
    assert lines["portal"] <= sum(lines.values()) / 4, lines


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    """The apps and the import contracts, copied to change them freely."""
    for app in APPS:
        shutil.copytree(ROOT / app, tmp_path / app, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"]
    return subprocess.run(command, cwd=tree, capture_output=True, text=True, timeout=300)


def test_the_import_contracts_hold_on_this_tree(tree_copy):
    result = lint_imports(tree_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "planted", "contract"),
    [
        ("qos/planted.py", "from engagement import models\n", "Layers"),
        ("common/planted.py", "def later():\n    from qos import models\n", "Layers"),
        ("engagement/planted.py", "import meetings.models\n", "Layers"),
        ("notifications/planted.py", "from qos.models import RSE\n", "Layers"),
        ("engagement/planted.py", "from rucio.client import Client\n", "Only the Rucio gateway"),
        (
            "meetings/planted.py",
            "from mozilla_django_oidc.auth import OIDCAuthenticationBackend\n",
            "Only the IAM",
        ),
    ],
)
def test_an_import_against_the_contracts_fails_the_check(tree_copy, module, planted, contract):
    (tree_copy / module).write_text(planted)
    result = lint_imports(tree_copy)
    assert result.returncode != 0
    broken = [line for line in result.stdout.splitlines() if " BROKEN" in line]
    assert len(broken) == 1 and broken[0].startswith(contract), result.stdout
