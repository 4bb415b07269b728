"""The pre-commit hooks, installed and run by a real ``pre-commit try-repo``.

pre-commit installs the hook repository into its own virtualenv (from the package registry for the
build backend and dependencies). To install once for both hooks, the working tree (with any
uncommitted changes) is snapshotted into a temporary git repository and both runs name the same
commit with ``--ref``: pre-commit's store then reuses the one environment.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List

import pytest

REPO = Path(__file__).resolve().parents[1]

BAD = """\
from fastapi import BackgroundTasks, FastAPI

app = FastAPI()


def notify(order_id: int) -> None:
    print("notified", order_id)


@app.post("/orders/{order_id}")
async def create(order_id: int, tasks: BackgroundTasks):
    await tasks.add_task(notify, order_id)
"""


def _git(cwd: Path, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")
    return subprocess.run(["git", *args], cwd=str(cwd), check=True, capture_output=True, text=True, env=env).stdout


def _snapshot(dst: Path) -> str:
    """Copy the working tree (tracked and untracked, not ignored files) into a new repository."""
    listed = _git(REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for rel in filter(None, listed.split("\0")):
        src = REPO / rel
        if src.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)
    _git(dst, "init", "-q")
    _git(dst, "add", "-A")
    _git(dst, "commit", "-q", "-m", "snapshot")
    return _git(dst, "rev-parse", "HEAD").strip()


class TryRepo:
    def __init__(self, hooks: Path, ref: str, home: Path) -> None:
        self.hooks, self.ref, self.home = hooks, ref, home

    def run(self, target: Path, hook: str) -> subprocess.CompletedProcess:
        env = dict(os.environ, PRE_COMMIT_HOME=str(self.home), PRE_COMMIT_COLOR="never")
        env.pop("VIRTUAL_ENV", None)
        return subprocess.run(
            [sys.executable, "-m", "pre_commit", "try-repo", str(self.hooks), hook, "--ref", self.ref, "--all-files"],
            cwd=str(target),
            capture_output=True,
            text=True,
            env=env,
            timeout=900,
        )


@pytest.fixture(scope="module")
def try_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TryRepo]:
    if not (REPO / ".git").exists() or shutil.which("git") is None:
        pytest.skip("needs the bglint sources as a git checkout")
    hooks = tmp_path_factory.mktemp("hooks")
    ref = _snapshot(hooks)
    yield TryRepo(hooks, ref, tmp_path_factory.mktemp("pre-commit-home"))


def _target(tmp_path: Path) -> Path:
    target = tmp_path / "target"
    target.mkdir()
    (target / "app.py").write_text(BAD, encoding="utf-8")
    (target / "clean.py").write_text("x = 1\n", encoding="utf-8")
    _git(target, "init", "-q")
    _git(target, "add", "-A")
    _git(target, "commit", "-q", "-m", "bad")
    return target


def test_check_hook_fails_on_a_bad_file(try_repo: TryRepo, tmp_path: Path) -> None:
    target = _target(tmp_path)
    result = try_repo.run(target, "bglint")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "app.py:12:5: BG302" in result.stdout
    assert (target / "app.py").read_text(encoding="utf-8") == BAD  # the check hook never writes


def test_fix_hook_fixes_and_fails_because_it_changed_files(try_repo: TryRepo, tmp_path: Path) -> None:
    target = _target(tmp_path)
    result = try_repo.run(target, "bglint-fix")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "files were modified by this hook" in result.stdout
    assert (target / "app.py").read_text(encoding="utf-8") == BAD.replace("await tasks.add_task", "tasks.add_task")
    # once fixed, both hooks pass
    assert try_repo.run(target, "bglint-fix").returncode == 0
    assert try_repo.run(target, "bglint").returncode == 0


def _manifest_ids() -> List[str]:
    return re.findall(r"^- id: (\S+)$", (REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"), re.MULTILINE)


def _manifest() -> List[Dict[str, object]]:
    yaml = pytest.importorskip("yaml")  # pre-commit depends on PyYAML
    return yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_manifest_hooks() -> None:
    hooks = {h["id"]: h for h in _manifest()}
    assert set(hooks) == {"bglint", "bglint-fix"} == set(_manifest_ids())
    assert hooks["bglint"]["entry"] == "bglint check"
    assert hooks["bglint-fix"]["entry"] == "bglint check --fix"
    for hook in hooks.values():
        assert hook["language"] == "python" and hook["types"] == ["python"]


def test_readme_snippet_names_hooks_of_the_manifest() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    snippets = re.findall(r"```yaml\n(.*?)```", readme, re.DOTALL)
    config = [s for s in snippets if "repos:" in s]
    assert config, "README shows a .pre-commit-config.yaml snippet"
    yaml = pytest.importorskip("yaml")
    data = yaml.safe_load(config[0])
    repo = data["repos"][0]
    assert repo["rev"]
    ids = [h["id"] for h in repo["hooks"]]
    assert ids and set(ids) <= set(_manifest_ids())
