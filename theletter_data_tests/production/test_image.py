"""The image is reproducible, checked without a Docker engine (there is none here): the
Dockerfile as Docker parses it, the build context .dockerignore leaves, and requirements.lock
against pyproject.toml. The install itself is replayed in a clean virtual environment by
scripts/check-image-install.sh, which a slow test runs; `docker build` is not run here.

One module over 300 lines: the Dockerfile, the build context and the lock are one
reproducibility contract, each check beside the broken variants it must catch.

Each check is a function that lists what is wrong, run on the repository's files and on broken
variants of them (each must be caught).
"""

from __future__ import annotations

import ast
import re
import subprocess
import tomllib
from collections.abc import Iterable
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from theletter_data_tests.support.dockerfile import DOCKERFILE, ROOT, instructions, only

LOCK = ROOT / "requirements.lock"
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
DEPENDENCY_INSTALL = (
    "pip install --require-hashes --no-deps --only-binary :all: -r requirements.lock"
)
PROJECT_INSTALL = "pip install --no-deps --no-build-isolation ."
TARGET_MARKERS = {  # the image: CPython 3.11 on linux/amd64
    "python_version": "3.11",
    "python_full_version": "3.11.14",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}


# --- the Dockerfile ------------------------------------------------------------------------


def base_image_problems(text: str) -> list[str]:
    """The base is pinned by digest, and the `# tag@sha256:...` comment names the same one."""
    froms = only("FROM", text)
    problems = [f"FROM {f.arguments} is not pinned by digest" for f in froms]
    problems = [p for p, f in zip(problems, froms, strict=True) if not DIGEST.search(f.arguments)]
    comments = re.findall(r"^# (\S+@sha256:[0-9a-f]{64})$", text, re.M)
    if not comments:
        problems.append("no `# tag@sha256:...` comment names the base")
    elif froms and froms[0].arguments.split()[0] not in comments:
        problems.append(f"the comment {comments} and FROM {froms[0].arguments} differ")
    return problems


def layer_problems(text: str) -> list[str]:
    """A dependency layer that needs only the lock, installed hash-checked; then the project
    without dependencies; nothing else installed from an index."""
    steps = [i for i in instructions(text) if i.keyword in {"COPY", "ADD", "RUN"}]
    problems: list[str] = []
    installs = [
        i for i, s in enumerate(steps) if s.keyword == "RUN" and "pip install" in s.arguments
    ]
    if not installs:
        return ["nothing is installed"]
    first = installs[0]
    copied_before = [s for s in steps[:first] if s.keyword in {"COPY", "ADD"}]
    if [s.arguments.split() for s in copied_before] != [["requirements.lock", "./"]]:
        problems.append(
            f"the dependency layer copies {[s.arguments for s in copied_before]}, "
            "not requirements.lock alone"
        )
    if steps[first].arguments != DEPENDENCY_INSTALL:
        problems.append(f"the dependency install is `{steps[first].arguments}`")
    for step in (steps[i] for i in installs[1:]):
        commands = [c.strip() for c in step.arguments.split("&&")]
        pip = [c for c in commands if "pip install" in c]
        if pip != [PROJECT_INSTALL]:
            problems.append(f"line {step.line}: installs `{pip}`, not `{PROJECT_INSTALL}`")
    if len(installs) != 2:
        problems.append(f"{len(installs)} install steps, not 2 (dependencies, then the project)")
    return problems


def test_the_base_image_is_pinned_by_digest() -> None:
    text = DOCKERFILE.read_text()
    assert base_image_problems(text) == []
    (base,) = only("FROM", text)
    assert base.arguments.startswith("python:3.11-slim-bookworm@sha256:")


def test_the_dependency_layer_needs_only_the_lock_and_checks_hashes() -> None:
    assert layer_problems(DOCKERFILE.read_text()) == []


@pytest.mark.parametrize(
    ("change", "caught"),
    [
        (("@sha256:", "@sha512:"), "not pinned by digest"),
        (("FROM python:3.11-slim-bookworm@sha256:", "FROM python:3.11-slim@sha256:"), "differ"),
        (("COPY requirements.lock ./", "COPY requirements.lock README.md ./"), "lock alone"),
        (("--require-hashes ", ""), "the dependency install is"),
        (("--no-deps --no-build-isolation .", "--no-build-isolation ."), "installs"),
        (("&& useradd", "&& pip install boto3 && useradd"), "installs"),
    ],
)  # fmt: skip
def test_a_broken_dockerfile_is_caught(change: tuple[str, str], caught: str) -> None:
    text = DOCKERFILE.read_text()
    assert change[0] in text
    broken = text.replace(change[0], change[1])
    problems = base_image_problems(broken) + layer_problems(broken)
    assert any(caught in p for p in problems), problems


# --- the build context -----------------------------------------------------------------------


def _pattern(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go's filepath.Match plus `**`) as a regular expression."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def ignored(path: str, patterns: Iterable[str]) -> bool:
    """Whether Docker leaves `path` out of the context: the last pattern that matches the path
    or one of its parent folders decides; `!` patterns put it back."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    decision = False
    for raw in patterns:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        regex = _pattern(line.removeprefix("!").strip().strip("/"))
        if any(regex.fullmatch(p) for p in prefixes):
            decision = not exception
    return decision


def copy_sources(text: str) -> list[str]:
    return [
        source
        for copy in only("COPY", text)
        if not copy.arguments.startswith("--")
        for source in copy.arguments.split()[:-1]
    ]


LOCAL_STATE = (
    ".venv/bin/python",
    "data/lake/ses-events/2026/11/20/00/x.gz",
    "data/warehouse.duckdb",
    "dagster_home/dagster.yaml",
    "dagster_home/storage/runs.db",
    ".git/HEAD",
    ".git",
    "production.env",
    "theletter_data/__pycache__",
    "theletter_data/__pycache__/definitions.cpython-311.pyc",
    "theletter_data_tests/production/test_image.py",
)


def context_problems(patterns: list[str], dockerfile_text: str) -> list[str]:
    """Every COPY source exists and is in the build context; local state is not."""
    problems = []
    for source in copy_sources(dockerfile_text):
        if not (ROOT / source).exists():
            problems.append(f"COPY {source}: no such file")
        elif ignored(source, patterns):
            problems.append(f"COPY {source}: left out of the context")
    for path in ("theletter_data/definitions.py", "theletter_data/staging/email_events.sql"):
        if (ROOT / path).exists() and ignored(path, patterns):
            problems.append(f"{path}: left out of the context")
    problems += [f"{path} is in the context" for path in LOCAL_STATE if not ignored(path, patterns)]
    return problems


def test_the_build_context_holds_what_the_image_copies_and_not_local_state() -> None:
    patterns = (ROOT / ".dockerignore").read_text().splitlines()
    dockerfile = DOCKERFILE.read_text()
    assert {"requirements.lock", "pyproject.toml", "README.md", "theletter_data"} <= set(
        copy_sources(dockerfile)
    )
    assert context_problems(patterns, dockerfile) == []


@pytest.mark.parametrize(
    ("change", "caught"),
    [
        (("*", None), ".venv/bin/python is in the context"),  # no default exclusion
        (("!theletter_data", None), "COPY theletter_data: left out of the context"),
        (("**/__pycache__", None), "theletter_data/__pycache__ is in the context"),
        (("**/*.pyc", "!*.env"), "production.env is in the context"),
    ],
)
def test_a_broken_dockerignore_is_caught(change: tuple[str, str | None], caught: str) -> None:
    patterns = (ROOT / ".dockerignore").read_text().splitlines()
    assert change[0] in patterns
    broken = [change[1] if p == change[0] else p for p in patterns if p != change[0] or change[1]]
    problems = context_problems(broken, DOCKERFILE.read_text())
    assert any(caught in p for p in problems), problems


def test_the_dockerignore_matcher_follows_docker_s_rules() -> None:
    """The matcher the test above relies on, on Docker's documented examples."""
    assert ignored("a/temp.txt", ["*/temp*"]) and not ignored("a/b/temp.txt", ["*/temp*"])
    assert ignored("a/b/temp.txt", ["*/*/temp*"])
    assert ignored("x/y/z/foo.go", ["**/*.go"]) and ignored("foo.go", ["**/*.go"])
    assert ignored("temp1", ["temp?"]) and not ignored("temp12", ["temp?"])
    assert not ignored("README.md", ["*.md", "!README*.md"]) and ignored("a.md", ["*.md"])
    assert ignored("README-secret.md", ["*.md", "!README*.md", "README-secret.md"])
    assert ignored("data/x/y", ["data"]) and not ignored("database.py", ["data"])


# --- the lock ------------------------------------------------------------------------------


def locked(lock_text: str) -> dict[str, tuple[Version, int]]:
    """name -> (version, number of hashes), one entry per requirement of the lock."""
    entries: dict[str, tuple[Version, int]] = {}
    for block in re.split(r"\n(?=\S)", lock_text):
        block = block.strip()
        if not block or block.startswith("#"):
            continue
        head = block.split("\\", 1)[0].strip()
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", head)
        assert match, f"not pinned with ==: {head!r}"
        hashes = re.findall(r"--hash=sha256:[0-9a-f]{64}", block)
        entries[canonicalize_name(match[1])] = (Version(match[2]), len(hashes))
    return entries


def lock_problems(pyproject_text: str, lock_text: str) -> list[str]:
    """Every runtime dependency and build requirement of pyproject.toml is locked at a version
    its range allows, and every locked requirement carries its hashes."""
    project = tomllib.loads(pyproject_text)
    declared = [
        *project["project"]["dependencies"],
        *project["build-system"]["requires"],
    ]
    entries = locked(lock_text)
    problems = [f"{name} has no hash" for name, (_, hashes) in entries.items() if not hashes]
    for text in declared:
        requirement = Requirement(text)
        if requirement.marker and not requirement.marker.evaluate(TARGET_MARKERS):
            continue
        name = canonicalize_name(requirement.name)
        if name not in entries:
            problems.append(f"{requirement} is not in the lock")
        elif not requirement.specifier.contains(entries[name][0], prereleases=True):
            problems.append(f"{requirement}: the lock has {entries[name][0]}")
    return problems


def test_the_lock_holds_every_declared_dependency_within_its_range_with_hashes() -> None:
    lock_text = LOCK.read_text()
    assert lock_problems((ROOT / "pyproject.toml").read_text(), lock_text) == []
    assert lock_text.startswith("# This file was autogenerated by uv via the following command:")
    assert "bash scripts/lock.sh" in lock_text.splitlines()[1]
    entries = locked(lock_text)
    assert {"dagster", "setuptools", "wheel"} <= set(entries)
    assert not {"pytest", "moto", "ruff", "uv"} & set(entries)  # the image has no test tools


@pytest.mark.parametrize(
    ("change", "caught"),
    [
        (('"pandas>=2.2,<3"', '"pandas>=3,<4"'), "pandas<4,>=3: the lock has 2."),
        (('"jinja2>=3.1,<4",', '"jinja2>=3.1,<4", "polars>=1",'), "polars>=1 is not in the lock"),
        (('"dagster==1.13.27"', '"dagster==1.13.28"'), "dagster==1.13.28: the lock has"),
        (('requires = ["setuptools>=69"', 'requires = ["setuptools>=99"'), "setuptools>=99"),
    ],
)
def test_a_lock_out_of_sync_with_pyproject_is_caught(change: tuple[str, str], caught: str) -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert change[0] in pyproject
    problems = lock_problems(pyproject.replace(change[0], change[1]), LOCK.read_text())
    assert any(caught in p for p in problems), problems


def test_a_lock_entry_without_hashes_is_caught() -> None:
    lock_text = LOCK.read_text()
    unhashed = re.sub(r"(?m)^(jinja2==\S+) \\\n(    --hash=\S+(?: \\)?\n)+", r"\1\n", lock_text)
    assert unhashed != lock_text
    assert lock_problems((ROOT / "pyproject.toml").read_text(), unhashed) == ["jinja2 has no hash"]


def test_the_install_recipe_is_the_image_s() -> None:
    check = (ROOT / "scripts/check-image-install.sh").read_text()
    assert "--require-hashes --no-deps --only-binary :all: -r requirements.lock" in check
    assert '--no-deps --no-build-isolation "$work/src"' in check
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "uv==0.13.8" in pyproject["project"]["optional-dependencies"]["test"]


@pytest.mark.slow
def test_the_image_s_install_replays_in_a_clean_virtual_environment() -> None:
    """The install from the lock alone, hash-checked, then the code location loaded in both
    environments: about 50 s, so it is in the whole suite (CI's), not the fast lane."""
    done = subprocess.run(
        ["bash", "scripts/check-image-install.sh"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    for environment in ("local", "production"):
        assert f"the code location loads (THELETTER_ENV={environment})" in done.stdout
    assert "theletter-data demo says it is a development tool (exit 2)" in done.stdout


def runtime_imports_of_dev_tools(package: Path) -> list[str]:
    """Modules of the runtime package that import the development tools at module level: the
    image copies `theletter_data` alone, so such an import would fail there. Only the CLI may
    name them, inside the functions of the commands that need them."""
    wrong = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.parse(path.read_text(), str(path)).body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                names.append(getattr(node, "module", None) or "")
                if any(n.split(".")[0] == "theletter_data_dev" for n in names):
                    wrong.append(f"{path.relative_to(package.parent)}:{node.lineno}")
    return wrong


def test_the_runtime_package_does_not_import_the_development_tools(tmp_path: Path) -> None:
    assert runtime_imports_of_dev_tools(ROOT / "theletter_data") == []
    assert not (ROOT / "theletter_data" / "generate").exists()
    broken = tmp_path / "theletter_data"
    broken.mkdir()
    (broken / "assets.py").write_text("import dagster\nfrom theletter_data_dev.demo import x\n")
    assert runtime_imports_of_dev_tools(broken) == ["theletter_data/assets.py:2"]
