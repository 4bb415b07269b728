"""Plans made ahead in a forked process are the plans this process would make."""

from __future__ import annotations

import ast
import os
import pickle
import sys
import threading
import time
from pathlib import Path
from typing import Any, List, Sequence

import pytest

from bglint import planner, planning, sharing
from bglint.cli import main
from bglint.report import PREFILTER

from ._cli import runner

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the planner forks: Linux only")

REPO = Path(__file__).resolve().parents[1]

TEXTS = [
    # imports read from ast, defs left out, a class with a method left out, a hand-off kept
    "import asyncio\nfrom fastapi import BackgroundTasks\n\n\ndef helper():\n    return 1\n\n\n"
    "class Jobs:\n    def quiet(self):\n        return 2\n\n    async def start(self, tasks: BackgroundTasks):\n"
    "        tasks.add_task(helper)\n\n\nasync def spawn():\n    asyncio.create_task(helper())\n",
    "def f(:\n    pass\n",  # does not parse: no plan (libcst's own verdict)
    "import os\rx = 1\n",  # a lone CR ends a line for Python: no plan
    "import asyncio\n\n\nasync def main():\n    asyncio.ensure_future(main())\n",
    # a big nested def left out of the function holding the hand-off
    "import asyncio\n\n\nasync def main():\n    def render():\n" + "        x = 1\n" * 200 + "\n    asyncio.ensure_future(main())\n",
]


def _comparable(plan: Any) -> Any:
    if plan is None:
        return None
    text, pending, blanked, shadowed, methods, nested, indented, line_map, imports, aliases = plan
    return (
        text,
        pending,
        blanked,
        shadowed,
        methods,
        nested,
        indented,
        (line_map.starts, line_map.removed),
        [ast.dump(i) for i in imports],
        aliases.pattern if aliases is not None else None,
    )


def _all_taken_there(ahead: planner.Planner, but: Sequence[int] = ()) -> None:
    """Until the planner has taken every text (``but`` those: taken here), else this process
    takes those it asks for."""
    deadline = time.monotonic() + 30
    while not all(ahead._claims.holder(i) == sharing.THERE for i in range(len(ahead._order)) if i not in but):
        assert time.monotonic() < deadline, "the planner took nothing"
        time.sleep(0.01)


def test_plans_made_ahead_equal_plans_made_here() -> None:
    assert [planning.plan(text, PREFILTER) is None for text in TEXTS] == [False, True, True, False, False]
    assert planning.plan(TEXTS[4], PREFILTER)[5] == {"main": {"render": (5, 205)}}  # type: ignore[index]
    opened = sorted(os.listdir("/proc/self/fd"))
    ahead = planner.Planner(TEXTS + [TEXTS[0]], PREFILTER)  # a copy of a file is planned once
    try:
        _all_taken_there(ahead)
        for text in TEXTS:
            assert _comparable(ahead.plan(text)) == _comparable(planning.plan(text, PREFILTER))
        assert ahead.plan(TEXTS[0]) is planning.PLAN_HERE  # asked again: planned here
        assert ahead.plan("import os\n") is planning.PLAN_HERE  # not a text it was given
    finally:
        ahead.close()
    assert sorted(os.listdir("/proc/self/fd")) == opened and ahead._process.exitcode is not None


def test_a_text_whose_planning_fails_is_planned_here_and_the_others_there() -> None:
    """The forked process says so at once (the parent does not wait for the rest), and the
    parent fails the same way, where the error is reported."""
    deep = "x = " + "+".join(["1"] * 20_000) + "\n"  # CPython refuses the tree: planning raises
    with pytest.raises(Exception):
        planning.plan(deep, PREFILTER)
    ahead = planner.Planner([deep, TEXTS[0]], PREFILTER)
    try:
        _all_taken_there(ahead)
        assert ahead.plan(deep) is planning.PLAN_HERE
        assert _comparable(ahead.plan(TEXTS[0])) == _comparable(planning.plan(TEXTS[0], PREFILTER))
    finally:
        ahead.close()


def test_a_text_asked_for_before_the_planner_took_it_is_planned_here_only() -> None:
    """The search asks for a candidate further on (it follows an import): rather than wait for
    the planner to reach it, this process takes it, and the planner passes over it."""
    import multiprocessing

    gate = multiprocessing.get_context("fork").Event()  # the planner takes nothing before it is set
    work_there = sharing._work_there

    def gated(*args: Any) -> None:
        gate.wait()
        work_there(*args)

    sharing._work_there = gated  # type: ignore[assignment]  # the fork copies it as it is now
    try:
        ahead = planner.Planner(TEXTS, PREFILTER)
    finally:
        sharing._work_there = work_there  # type: ignore[assignment]
    opens = threading.Timer(20, gate.set)  # a planner that would wait for this text fails, not hangs
    opens.start()
    try:
        assert ahead.plan(TEXTS[3]) is planning.PLAN_HERE  # not taken yet: taken here
        gate.set()
        _all_taken_there(ahead, but=[3])
        assert _comparable(ahead.plan(TEXTS[0])) == _comparable(planning.plan(TEXTS[0], PREFILTER))  # planned there
        ahead._process.join(30)
        sent = set(ahead._plans)
        try:
            while ahead._reader.poll():
                sent.add(ahead._reader.recv()[0])
        except EOFError:  # all read: the process closed its end
            pass
        assert sent == {1, 2, 4}  # the planner planned the others, not the text taken here
    finally:
        opens.cancel()
        ahead.close()


def test_the_planner_sends_more_plans_than_a_default_pipe_holds_before_any_is_read() -> None:
    """It plans while this process imports libcst, reading nothing: a pipe of 64 KiB (two plans
    of a big module) would stop it until this process asks."""
    import fcntl

    # modules whose plans keep most of their text: module-level names, one def left out
    texts = [f"import asyncio\n\n\ndef helper_{i}():\n    return {i}\n\n\n" + "".join(f"NAME_{i}_{k} = {k}\n" for k in range(2_000)) for i in range(10)]
    assert sum(len(pickle.dumps(planning.plan(text, PREFILTER))) for text in texts) > 4 * 65_536
    set_size, get_size = getattr(fcntl, "F_SETPIPE_SZ", 1031), getattr(fcntl, "F_GETPIPE_SZ", 1032)
    probe = os.pipe()
    try:
        fcntl.fcntl(probe[1], set_size, sharing.PIPE_BYTES)
    except OSError:  # pragma: no cover (a system that refuses pipes that big)
        pytest.skip("the system keeps pipes at their default size")
    finally:
        os.close(probe[0])
        os.close(probe[1])
    ahead = planner.Planner(texts, PREFILTER)
    try:
        assert fcntl.fcntl(ahead._reader.fileno(), get_size) >= sharing.PIPE_BYTES
        ahead._process.join(30)
        assert ahead._process.exitcode == 0  # it sent every plan and ended, nothing read yet
        assert all(_comparable(ahead.plan(text)) == _comparable(planning.plan(text, PREFILTER)) for text in texts)
    finally:
        ahead.close()


def _die(texts: List[str], work: Any, finish: Any, writer: Any, claims: Any, *order: Any) -> None:
    writer.close()
    os._exit(1)


def test_a_planner_that_dies_leaves_the_plans_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sharing, "_work_there", _die)
    ahead = planner.Planner(TEXTS, PREFILTER)
    try:
        assert all(ahead.plan(text) is planning.PLAN_HERE for text in TEXTS)
    finally:
        ahead.close()


def test_a_run_with_an_idle_core_plans_ahead_and_finds_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """One project and two cores: the candidates are planned in another process (here every
    run is one, whatever the size of its texts); the findings are those of ``--jobs 1``."""
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(planner, "MIN_TEXT", 0)
    started: List[int] = []
    start = planner.start
    monkeypatch.setattr(planner, "start", lambda texts, *rest: started.append(len(texts)) or start(texts, *rest))
    args = ["check", "--no-cache", "--select", "ALL", "--output-format", "concise", "examples/"]
    alone = runner().invoke(main, [*args[:-1], "--jobs", "1", args[-1]])
    assert started == []
    ahead = runner().invoke(main, [*args[:-1], "--jobs", "2", args[-1]])
    assert started and started[0] > 1
    assert (ahead.exit_code, ahead.stdout) == (alone.exit_code, alone.stdout) and alone.exit_code == 1
    # and with every plan made there before the search starts: the files the candidates import too
    used: List[Any] = []
    plan_of_other = planner.Planner._plan_of_other
    monkeypatch.setattr(planner.Planner, "_plan_of_other", lambda self, text, path: used.append((path, plan_of_other(self, text, path))) or used[-1][1])

    def ended(*a: Any) -> Any:
        made = start(*a)
        made._process.join(30)
        return made

    monkeypatch.setattr(planner, "start", ended)
    ahead = runner().invoke(main, [*args[:-1], "--jobs", "2", args[-1]])
    # the modules main.py imports, looked into by the search and the rules
    shop = REPO / "examples" / "shop" / "app"
    assert {shop / "db.py", shop / "tasks.py"} <= {path for path, plan in used if plan is not planning.PLAN_HERE}
    assert (ahead.exit_code, ahead.stdout) == (alone.exit_code, alone.stdout)


def test_the_planner_is_forked_before_libcst_is_imported(tmp_path: Path) -> None:
    """Planning needs CPython's ``ast`` only: the planner plans while the run imports libcst."""
    import subprocess

    code = (
        "import sys\n"
        "from bglint import planner, sharing\n"
        "from bglint.cli import main\n"
        "planner.MIN_TEXT = 0\n"
        "work_there = sharing._work_there\n"
        "def noted(items, *args):\n"
        "    if isinstance(items[0], str):  # the planner's: texts (the lint's are paths)\n"
        "        open(sys.argv[1], 'w').write(str('libcst' in sys.modules))\n"
        "    work_there(items, *args)\n"
        "sharing._work_there = noted\n"
        "try:\n"
        "    main(['check', '--no-cache', '--jobs', '2', sys.argv[2]])\n"
        "except SystemExit as e:\n"
        "    print(e.code, 'libcst' in sys.modules)\n"
    )
    noted = tmp_path / "noted"
    done = subprocess.run([sys.executable, "-c", code, str(noted), str(REPO / "examples")], capture_output=True, text=True, cwd=tmp_path)
    assert done.stdout.splitlines()[-1] == "1 True", done.stderr  # findings, with libcst
    assert noted.read_text() == "False"


def test_the_files_the_candidates_import_come_first() -> None:
    files = [
        (Path("proj/app/routes.py"), "from .tasks import send\nfrom app.models import User\nimport app.util.clock as clock\n"),
        (Path("proj/app/admin/views.py"), "from ..models import User\nfrom .. import tasks\nfrom app.models import (\n    Role,  # roles\n)\n"),
    ]
    others = [
        (Path("proj/app/unrelated.py"), ""),
        (Path("proj/app/tasks.py"), ""),
        (Path("proj/app/models/__init__.py"), ""),
        (Path("proj/app/util/clock.py"), ""),
        (Path("proj/app/models/role.py"), ""),
        (Path("proj/app/models/Role.py"), ""),
    ]
    # imported by both files: tasks (relative, and as a name imported from the package), models;
    # then by one: clock (`import a.b as c`), Role (a name imported from a package may be its
    # module); not the file nobody imports, nor role.py
    assert [str(others[k][0]) for k in planner.imported_first(files, others)] == [
        "proj/app/tasks.py",
        "proj/app/models/__init__.py",
        "proj/app/util/clock.py",
        "proj/app/models/Role.py",
    ]


def test_the_files_the_candidates_import_are_planned_there_after_them(tmp_path: Path) -> None:
    app, tasks, jobs, other = (tmp_path / f"{name}.py" for name in ("app", "tasks", "jobs", "other"))
    app.write_text(TEXTS[0].replace("import asyncio\n", "import asyncio\nfrom tasks import later\nimport jobs\n"))
    for path in (tasks, jobs):
        path.write_text("import time\n\n\ndef later():\n    time.sleep(1)\n")
    other.write_text("def nothing():\n    return 0\n")
    opened = sorted(os.listdir("/proc/self/fd"))
    ahead = planner.Planner([app.read_text()], PREFILTER, [app], [(path, path.read_text()) for path in (tasks, jobs, other)])
    try:
        ahead._process.join(30)
        assert ahead._process.exitcode == 0
        assert _comparable(ahead.plan(app.read_text())) == _comparable(planning.plan(app.read_text(), PREFILTER))
        assert ahead.plan("import os\n", other.resolve()) is planning.PLAN_HERE  # reads to the end of the pipe
        assert not ahead._open
        ahead.close()  # what it sent stays; its pipe and shared memory are closed
        assert sorted(os.listdir("/proc/self/fd")) == opened
        assert ahead.plan(other.read_text(), other.resolve()) is planning.PLAN_HERE  # not imported: not planned
        # known by its resolved path, with the text it was planned with (not a text changed since)
        assert ahead.plan(jobs.read_text() + "\n", jobs.resolve()) is planning.PLAN_HERE
        assert _comparable(ahead.plan(tasks.read_text(), tasks.resolve())) == _comparable(planning.plan(tasks.read_text(), PREFILTER))
        assert ahead.plan(tasks.read_text(), tasks.resolve()) is planning.PLAN_HERE  # taken once
    finally:
        ahead.close()
