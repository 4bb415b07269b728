"""Runs over several projects: each project is analysed on its own, in one process or several, with
the same result."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bglint.checking import _projects
from bglint.cli import main

from ._cli import runner

API = """\
from fastapi import BackgroundTasks, FastAPI

from {pkg}.tasks import work

app = FastAPI()


@app.post("/")
async def ep(tasks: BackgroundTasks):
    tasks.add_task(work)
"""
TASKS = "import time\n\n\nasync def work():\n    time.sleep(1)\n    await other()\n"


@pytest.fixture
def projects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("one", "two", "three"):
        root = tmp_path / name
        pkg = root / f"{name}_app"
        pkg.mkdir(parents=True)
        (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
        (pkg / "__init__.py").write_text("")
        (pkg / "api.py").write_text(API.format(pkg=f"{name}_app"))
        (pkg / "tasks.py").write_text(TASKS)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_files_are_grouped_by_project(projects: Path) -> None:
    files = sorted(projects.rglob("*.py"))
    groups = _projects(files)
    assert sorted(sorted(p.parent.parent.name for p in g) for _, g in groups) == [["one"] * 3, ["three"] * 3, ["two"] * 3]
    assert sorted(root.name for root, _ in groups) == ["one", "three", "two"]


def test_grouping_resolves_folders_as_resolve_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # _projects resolves each folder once (one lstat per new folder) instead of resolve() per file:
    # the same groups and roots as the definition, through symlinked folders and files too
    from bglint.report import package_root, project_root

    monkeypatch.chdir(tmp_path)
    files = {
        "one/pyproject.toml": "",
        "one/one_app/__init__.py": "",
        "one/one_app/api.py": "",
        "one/one_app/sub/__init__.py": "",
        "one/one_app/sub/deep.py": "",
        "loose/script.py": "",
        "pkgonly/p/__init__.py": "",
        "pkgonly/p/q/__init__.py": "",
        "pkgonly/p/q/m.py": "",
        "two/setup.cfg": "",
        "two/lib/t.py": "",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / "linkdir").symlink_to(tmp_path / "one" / "one_app", target_is_directory=True)
    (tmp_path / "two" / "lnk").mkdir()
    (tmp_path / "two" / "lnk" / "api.py").symlink_to(tmp_path / "one" / "one_app" / "api.py")
    paths = sorted(Path(p) for p in tmp_path.rglob("*.py")) + [Path("linkdir/api.py"), Path("loose/../pkgonly/p/q/m.py")]
    want: dict = {}
    for path in paths:
        root = project_root(path)
        want.setdefault((root, root or package_root(path)), []).append(path)
    got = _projects(paths)
    key = lambda pair: (str(pair[0]), [str(p) for p in pair[1]])  # noqa: E731 (None sorts too)
    assert sorted(got, key=key) == sorted(((root, files_) for (root, _), files_ in want.items()), key=key)
    assert (tmp_path / "one").resolve() in [root for root, _ in got] and None in [root for root, _ in got]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_every_project_is_checked_the_same_way_in_one_process_or_several(projects: Path, jobs: str) -> None:
    result = runner().invoke(main, ["check", "--no-cache", "--output-format", "concise", "-j", jobs, "one", "two", "three"])
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines == sorted(lines)
    assert [line.split(":")[0] for line in lines if "BG201" in line] == [f"{n}/{n}_app/tasks.py" for n in ("one", "three", "two")]
    single = runner().invoke(main, ["check", "--no-cache", "--output-format", "concise", "-j", "1", "one", "two", "three"])
    assert single.stdout == result.stdout


def test_a_warm_run_replays_every_project_without_starting_processes(projects: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bglint.checking as checking

    args = ["check", "--output-format", "concise", "-j", "2", "one", "two", "three"]
    first = runner().invoke(main, args)
    assert first.exit_code == 1, first.output

    def no_pool(*a: object) -> None:
        raise AssertionError("a process pool was started for projects the cache answers")

    monkeypatch.setattr(checking, "_in_processes", no_pool)
    again = runner().invoke(main, args)
    assert again.exit_code == 1, again.output
    assert again.stdout == first.stdout
    # one project changed: only it is analysed (in this process: a pool for one project is not worth it)
    tasks = projects / "two" / "two_app" / "tasks.py"
    tasks.write_text(tasks.read_text() + "\n\nasync def more():\n    time.sleep(2)\n")
    changed = runner().invoke(main, args)
    assert changed.exit_code == 1, changed.output
    assert changed.stdout == first.stdout


def test_errors_keep_the_project_order_when_some_projects_are_replayed(projects: Path) -> None:
    for name in ("one", "two", "three"):
        (projects / name / f"{name}_app" / "broken.py").write_text("def f(:\n    create_task(x)\n")
    args = ["check", "--output-format", "concise", "-j", "2", "one", "two", "three"]
    first = runner().invoke(main, args)
    errors = [line.split(":")[0] for line in first.stderr.splitlines() if "error" in line]
    assert errors == [f"{n}/{n}_app/broken.py" for n in ("one", "two", "three")]
    # "one" changes: it is analysed again, the others replayed; the order stays
    tasks = projects / "one" / "one_app" / "tasks.py"
    tasks.write_text(tasks.read_text() + "\n# touched\n")
    again = runner().invoke(main, args)
    assert again.stderr == first.stderr and again.stdout == first.stdout


def test_a_task_module_named_through_a_symlink_of_another_name_is_linted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the engine resolves only the files that can be a task's module: those named like one, and
    # symlinks (whose target can have another name)
    pkg = tmp_path / "one_app"
    pkg.mkdir()
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (pkg / "__init__.py").write_text("")
    (pkg / "api.py").write_text(API.format(pkg="one_app"))
    (pkg / "tasks.py").write_text(TASKS)
    (tmp_path / "alias.py").symlink_to(pkg / "tasks.py")
    monkeypatch.chdir(tmp_path)
    result = runner().invoke(main, ["check", "--no-cache", "--output-format", "concise", "one_app/api.py", "alias.py"])
    assert result.exit_code == 1, result.output
    assert [line.split(":")[0] for line in result.output.splitlines() if "BG201" in line] == ["one_app/tasks.py"]  # shown where it leads


def test_the_last_project_of_a_process_that_ends_is_left_to_its_end(projects: Path, tmp_path: Path) -> None:
    """Freeing an analysis object by object is time before the process's last output; a process
    that ends with os._exit (the bglint command, a pool's worker) keeps the analysis of the last
    project it checks instead. A run that does not end the process frees everything."""
    import subprocess
    import sys

    import bglint.checking as checking

    code = (
        "import sys\n"
        "from bglint import checking, entry\n"
        "leave, out = checking._leave, sys.argv[1]\n"
        "def noted(*analysis):\n"
        "    open(out, 'a').write(type(analysis[1]).__name__ + '\\n')\n"
        "    leave(*analysis)\n"
        "checking._leave = noted\n"
        "sys.argv = ['bglint', 'check', '--no-cache', '-j', '1', *sys.argv[2:]]\n"
        "entry.run()\n"
    )
    noted = tmp_path / "noted"
    done = subprocess.run([sys.executable, "-c", code, str(noted), "one", "two", "three"], capture_output=True, text=True)
    assert done.returncode == 1 and "BG201" in done.stdout, done.stderr
    assert noted.read_text() == "Project\n"  # the third project's, not the first two

    result = runner().invoke(main, ["check", "--no-cache", "-j", "1", "one", "two", "three"])
    assert result.exit_code == 1 and checking._LEFT == []
    # a pool's worker: a project's analysis stays until the worker takes the next one
    args = [(checking.load_settings([], None), [Path(name) / f"{name}_app" / "tasks.py"], False, False, False, True, projects / name) for name in ("one", "two")]
    try:
        first = checking._run_project_and_release(*args[0])
        kept = checking._LEFT[0]
        second = checking._run_project_and_release(*args[1])
        assert len(checking._LEFT) == 1 and checking._LEFT[0] is not kept
        assert [f.code for f in first.findings] == [f.code for f in second.findings] == ["BG201"]
    finally:
        import gc

        gc.unfreeze()
        checking._LEFT.clear()


def test_a_package_root_found_with_the_memo_of_other_folders_is_the_one_found_alone(tmp_path: Path) -> None:
    """package_root_at ends a way up at a package an earlier way passed (the rest of the way is
    the same): in any order of the folders, each answer is the one found from scratch."""
    import random

    from bglint.report import package_root_at

    packages = ["a", "a/b", "a/b/c", "a/b/c/d", "a/ns/e", "a/ns/e/f", "x-y/p", "x-y/p/q", "proj/src/pkg", "proj/src/pkg/sub", "proj/stray"]
    folders = packages + ["a/ns", "a/b/c/d/plain", "x-y", "x-y/free", "x-y/p/q/not-ident", "proj", "proj/src", "loose/dir"]
    for name in folders:
        (tmp_path / name).mkdir(parents=True, exist_ok=True)
    for name in packages:
        (tmp_path / name / "__init__.py").write_text("")
    (tmp_path / "proj" / "pyproject.toml").write_text("")
    (tmp_path / "proj" / "__init__.py").write_text("")  # a stray one beside the project's marker
    alone = {name: package_root_at(tmp_path / name, {}) for name in folders}
    assert alone["a/b/c/d/plain"] == tmp_path and alone["a/ns/e/f"] == tmp_path  # through a namespace folder
    assert alone["proj/src/pkg/sub"] == tmp_path / "proj" / "src" and alone["x-y/free"] == tmp_path / "x-y" / "free"
    for seed in range(20):
        order = list(folders)
        random.Random(seed).shuffle(order)
        memo: dict = {}
        assert {name: package_root_at(tmp_path / name, memo) for name in order} == alone


def test_a_cold_run_over_several_projects_starts_its_workers_before_listing_the_files(projects: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The workers load the engine while the files are listed and grouped; the findings are
    those of one process. Not for a run the cache may answer, one project's folders, one
    folder, or one core."""
    import multiprocessing

    import bglint.checking as checking

    made: list = []
    used: list = []
    early, in_processes = checking._early_pool, checking._in_processes
    monkeypatch.setattr(checking, "_early_pool", lambda *a: made.append(early(*a)) or made[-1])
    monkeypatch.setattr(checking, "_in_processes", lambda args, workers, started=None: used.append(started) or in_processes(args, workers, started))
    args = ["check", "--output-format", "concise", "one", "two", "three"]
    alone = runner().invoke(main, [*args[:3], "--no-cache", "-j", "1", *args[3:]])
    assert made == [None] and used == []
    pooled = runner().invoke(main, [*args[:3], "--no-cache", "-j", "2", *args[3:]])
    assert (pooled.exit_code, pooled.stdout) == (alone.exit_code, alone.stdout) and alone.exit_code == 1
    assert made[1] is not None and used == [made[1][0]]
    assert multiprocessing.active_children() == []  # its workers are gone

    (projects / "one" / "one_app" / "more").mkdir()
    first = runner().invoke(main, ["check", "-j", "2", "one", "two"])  # no cache folder yet: a pool
    assert first.exit_code == 1 and made[-1] is not None
    for options, paths in ((["-j", "2"], ["one", "two"]), (["--no-cache", "-j", "2"], ["one/one_app", "one/one_app/more"]), (["--no-cache", "-j", "2"], ["one"])):
        made.clear()
        runner().invoke(main, ["check", *options, *paths])
        assert made == [None], (options, paths)
    # a pool made for folders of several projects, where one project has no file: unused, ended
    (projects / "empty").mkdir()
    made.clear()
    used.clear()
    result = runner().invoke(main, ["check", "--no-cache", "-j", "2", "one", "empty"])
    assert result.exit_code == 1 and made[0] is not None and used == []
    assert multiprocessing.active_children() == []


def test_a_worker_left_busy_shares_the_rest_of_its_project_once_the_other_is_idle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two projects in two workers: the small one done, the worker linting the big one forks a
    process for the files it has not linted yet (bglint.sharing.share); the findings are those
    of one process, and the next run starts with no worker told so."""
    import multiprocessing
    import sys
    import tempfile

    from bglint import sharing

    if not sys.platform.startswith("linux"):
        pytest.skip("work is shared by fork: Linux only")
    big = tmp_path / "big" / "big_app"
    big.mkdir(parents=True)
    (big.parent / "pyproject.toml").write_text("[project]\nname = 'big'\n")
    (big / "__init__.py").write_text("")
    for i in range(40):
        (big / f"api_{i}.py").write_text(API.format(pkg="big_app").replace(".tasks import", f".tasks_{i} import"))
        (big / f"tasks_{i}.py").write_text(TASKS)
    small = tmp_path / "small"
    small.mkdir()
    (small / "pyproject.toml").write_text("[project]\nname = 'small'\n")
    (small / "plain.py").write_text("x = 1\n")
    monkeypatch.chdir(tmp_path)
    marks = tmp_path / "marks"
    marks.mkdir()
    share = sharing.share

    def noted(items, work, finish):  # type: ignore[no-untyped-def]
        os.close(tempfile.mkstemp(prefix=f"{len(items)}-", dir=marks)[0])  # in the worker (forked from here: it has this)
        return share(items, work, finish)

    monkeypatch.setattr(sharing, "share", noted)
    args = ["check", "--no-cache", "--output-format", "concise", "big", "small"]
    pooled = runner().invoke(main, [*args, "-j", "2"])
    assert sharing._IDLE_IN_POOL is None and multiprocessing.active_children() == []
    shared = [int(name.split("-")[0]) for name in os.listdir(marks)]
    assert len(shared) == 1 and 1 < shared[0] <= 80, shared  # the files of big it had not linted (of 80)
    alone = runner().invoke(main, [*args, "-j", "1"])
    assert len(os.listdir(marks)) == 1  # not shared in one process
    assert pooled.exit_code == alone.exit_code == 1
    assert pooled.stdout == alone.stdout and pooled.stdout.count("BG201") == 40

    # with the cache: what the forked process read and found is stored too, so the next run,
    # after an edit, redoes only what the edit affects and finds what a run without it finds
    cached = [a for a in args if a != "--no-cache"]
    first = runner().invoke(main, [*cached, "-j", "2"])
    assert first.stdout == alone.stdout and len(os.listdir(marks)) == 2
    (big / "tasks_3.py").write_text(TASKS.replace("async def work", "def work").replace("    await other()\n", ""))
    again = runner().invoke(main, [*cached, "-j", "2"])
    fresh = runner().invoke(main, [*args, "-j", "1"])
    assert again.stdout == fresh.stdout and fresh.stdout.count("BG201") == 39


DIED = "two/two_app/api.py: error: internal error in bglint: the process checking this file died"


def _dying_on_two(monkeypatch: pytest.MonkeyPatch, after: float = 0.0) -> None:
    """The worker that takes project "two" ends abruptly (``after`` seconds in), as a crash in
    native code would end it; patched here, before the pool's workers are forked from here."""
    import time

    import bglint.checking as checking

    run_project = checking._run_project

    def dying(settings, files, *a, **k):  # type: ignore[no-untyped-def]
        if any("two_app" in str(f) for f in files):
            time.sleep(after)
            os._exit(70)
        return run_project(settings, files, *a, **k)

    monkeypatch.setattr(checking, "_run_project", dying)


def test_a_worker_that_dies_leaves_its_files_reported_unchecked(projects: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash in native code ends the worker: the run ends, each file of the projects it took
    is named as unchecked (an internal error: exit status 2), and the next run starts clean."""
    import multiprocessing

    from bglint import sharing

    _dying_on_two(monkeypatch)
    result = runner().invoke(main, ["check", "--no-cache", "--output-format", "concise", "-j", "2", "one", "two", "three"])
    assert result.exit_code == 2, result.output
    assert DIED in result.stderr
    assert sharing._IDLE_IN_POOL is None and multiprocessing.active_children() == []


def test_a_worker_that_dies_while_the_other_is_told_it_is_idle_is_still_reported(projects: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pool breaks between the first project done and the idle worker's release: the run
    still names the dead worker's files and reports the other project's findings."""
    import time

    from bglint import sharing

    _dying_on_two(monkeypatch, after=0.3)
    monkeypatch.setattr(sharing, "pool_half_idle", lambda: time.sleep(1.0))  # here, after "one" is done
    result = runner().invoke(main, ["check", "--no-cache", "--output-format", "concise", "-j", "2", "one", "two"])
    assert result.exit_code == 2, result.output
    assert DIED in result.stderr
    assert "one/one_app/tasks.py" in result.stdout


def test_an_idle_worker_frees_its_last_analysis_and_the_caches_that_outlive_a_project() -> None:
    import functools
    import gc

    import bglint.checking as checking

    @functools.lru_cache(maxsize=None)
    def cached(n: int) -> int:
        return n

    cached(1)
    checking._leave(object())
    try:
        checking._release()  # before a worker's next project: the caches stay
        assert checking._LEFT == [] and cached.cache_info().currsize == 1
        checking._leave(object())
        checking._release(idle=True)
        assert checking._LEFT == [] and cached.cache_info().currsize == 0
        cached(2)
        checking._release(idle=True)  # with no analysis left, the caches are emptied all the same
        assert cached.cache_info().currsize == 0
    finally:
        gc.unfreeze()
