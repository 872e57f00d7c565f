"""One obvious place for everything, checked by reading the source with `ast` (nothing is imported).

- Test modules sit in a folder per app (tests/<app>/test_<topic>.py) or in tests/cross, tests/browser,
  tests/faults; every folder is a package, since module names repeat across folders.
- A test module never imports another test module, nor a conftest: what several modules share lives in
  `tests/scenarios/` (builders) or a `conftest.py` (fixtures). ruff reports such an import too (TID251,
  banned-api in pyproject.toml), as long as its list covers every test module, which is checked here.
- The apps form layers, and an app imports only from the layers below it:

      igo  <-  providers  <-  pregnancies  <-  billing, quality  <-  neutrality  <-  demo, bench  (<- tests)

  billing and quality stand side by side and may each use one part of the other: billing scores a
  contract's quality agreements with the indicator definitions (`quality.indicators`), quality shows the
  agreements' targets on its dashboard (`billing.models`). demo and bench do not import each other, and no
  app imports from `tests`. Imports inside functions count; migrations are left out.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"

LAYER = {
    "igo": 0,
    "providers": 1,
    "pregnancies": 2,
    "billing": 3,
    "quality": 3,
    "neutrality": 4,
    "whatif": 4,
    "fhir_io": 4,
    "demo": 5,
    "bench": 5,
    "tests": 6,
}

# The folders of tests/ that hold test modules: one per app, and those across apps.
TEST_FOLDERS = {app for app in LAYER if app != "tests"} | {"cross", "browser", "faults"}

# What an app may import from an app on its own layer.
PEER_PARTS: dict[tuple[str, str], tuple[str, ...]] = {
    ("billing", "quality"): ("quality.indicators",),
    ("quality", "billing"): ("billing.models",),
}

# Imports that go against the layers today, each with the reason it stays for now. Every entry must still
# be needed (test_every_allowed_exception_is_still_used), so the list only shrinks.
ALLOWED: dict[tuple[str, str], str] = {
    # Creating an IGO seeds its catalogue of care events. Turning this around needs a hook that the
    # pregnancies app registers with igo (or tenant_create moving up a layer).
    ("igo/services.py", "pregnancies.catalogue"): "tenant_create seeds the new IGO's event catalogue",
}


@dataclass(frozen=True)
class Import:
    path: str  # relative to the repository root
    line: int
    statement: str  # as written, e.g. "from quality import indicators"
    targets: tuple[str, ...]  # the dotted names it reaches: module, or module.name for each name

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.statement}"


def python_files(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*.py")):
        if "migrations" not in path.parts and "__pycache__" not in path.parts:
            yield path


def package_of(path: Path) -> list[str]:
    """The package a module belongs to (for a package's __init__.py, the package itself)."""
    return list(path.relative_to(ROOT).parent.parts)


def imports_of(path: Path) -> Iterator[Import]:
    """Every import in the file, at the top or inside a function, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    rel = str(path.relative_to(ROOT))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = tuple(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = package_of(path)
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, base] if base else package)
            targets = tuple(f"{base}.{alias.name}" for alias in node.names if alias.name != "*") or (base,)
        else:
            continue
        yield Import(rel, node.lineno, ast.unparse(node), targets)


def within(target: str, module: str) -> bool:
    return target == module or target.startswith(module + ".")


def test_no_test_module_imports_a_test_module_or_a_conftest() -> None:
    offending = []
    for path in python_files(TESTS):
        for imp in imports_of(path):
            for target in imp.targets:
                parts = target.split(".")
                if parts[0] != "tests":
                    continue
                # The module part of the name: for `from tests.x import y`, y may be a module or a name.
                shared = [p for p in parts[1:] if p.startswith("test_") or p == "conftest"]
                if shared:
                    offending.append(f"{imp}  (imports {'.'.join(parts[: parts.index(shared[0]) + 1])})")
                    break
    assert not offending, (
        "A test module imports another test module or a conftest; move what it needs to tests/scenarios/ "
        "(builders) or tests/conftest.py (fixtures):\n  " + "\n  ".join(offending)
    )


def test_test_modules_sit_in_a_folder_per_app_or_across_apps() -> None:
    misplaced = [
        str(path.relative_to(ROOT))
        for path in python_files(TESTS)
        if path.name.startswith("test_")
        and (path.parent == TESTS or path.relative_to(TESTS).parts[0] not in TEST_FOLDERS)
    ]
    assert not misplaced, (
        f"Test modules belong in tests/<app>/ or tests/cross|browser|faults/ ({sorted(TEST_FOLDERS)}):\n  "
        + "\n  ".join(misplaced)
    )


def test_every_folder_of_tests_is_a_package() -> None:
    folders = sorted({path.parent for path in python_files(TESTS)})
    missing = [str(folder.relative_to(ROOT)) for folder in folders if not (folder / "__init__.py").exists()]
    assert not missing, "These folders need an __init__.py (module names repeat across folders):\n  " + (
        "\n  ".join(missing)
    )


def test_ruff_bans_importing_every_test_module_and_conftest() -> None:
    """banned-api matches a module or a parent of it, not a pattern: a new test folder must be added there."""
    with (ROOT / "pyproject.toml").open("rb") as f:
        banned = tomllib.load(f)["tool"]["ruff"]["lint"]["flake8-tidy-imports"]["banned-api"]
    assert "tests" not in banned and not any(within(name, "tests.scenarios") for name in banned)
    uncovered = [
        module
        for path in python_files(TESTS)
        if path.name.startswith("test_") or path.name == "conftest.py"
        for module in [".".join(path.relative_to(ROOT).with_suffix("").parts)]
        if not any(within(module, name) for name in banned)
    ]
    assert not uncovered, (
        "Add these modules (or their folder) to [tool.ruff.lint.flake8-tidy-imports.banned-api]:\n  "
        + "\n  ".join(uncovered)
    )


def layer_violations() -> Iterator[tuple[Import, str, str]]:
    """(import, target, why) for every import of an app that reaches above its layer or into a peer."""
    for app in LAYER:
        if app == "tests":
            continue
        for path in python_files(ROOT / app):
            for imp in imports_of(path):
                for target in imp.targets:
                    other = target.split(".")[0]
                    if other == app or other not in LAYER or LAYER[other] < LAYER[app]:
                        continue
                    peer_parts = PEER_PARTS.get((app, other), ())
                    if LAYER[other] == LAYER[app] and any(within(target, part) for part in peer_parts):
                        continue
                    if LAYER[other] > LAYER[app]:
                        why = f"{app} (layer {LAYER[app]}) imports {other}, a layer above it"
                    elif peer_parts:
                        why = f"{app} may use only {', '.join(peer_parts)} of its peer {other}"
                    else:
                        why = f"{app} and {other} share a layer and do not import each other"
                    yield imp, target, why


def allowed(imp: Import, target: str) -> tuple[str, str] | None:
    for key in ALLOWED:
        path, module = key
        if imp.path == path and within(target, module):
            return key
    return None


def test_apps_import_only_from_the_layers_below_them() -> None:
    offending = sorted(
        {f"{imp}  ({why})" for imp, target, why in layer_violations() if allowed(imp, target) is None}
    )
    assert not offending, (
        "An import goes against the layers igo <- providers <- pregnancies <- billing, quality <- whatif, neutrality "
        "<- demo, bench "
        "(see docs/architecture.md, Module map):\n  " + "\n  ".join(offending)
    )


def test_every_allowed_exception_is_still_used() -> None:
    used = {allowed(imp, target) for imp, target, _ in layer_violations()}
    stale = [f"{path} -> {module}" for path, module in ALLOWED if (path, module) not in used]
    assert not stale, "These ALLOWED entries no longer match an import; remove them:\n  " + "\n  ".join(stale)
