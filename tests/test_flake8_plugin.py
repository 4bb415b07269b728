"""The flake8 plugin, run through a real ``flake8`` process that finds it by its entry point."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set, Tuple

import pytest

from bglint import codes, flake8_plugin
from bglint.model import Rule, Severity
from bglint.rules import ALL_RULES

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"

_LINE = re.compile(r"^(?P<path>.+?):(?P<line>\d+):(?P<col>\d+): (?P<code>BG\d+) (?P<message>.*)$")

APP = """\
from fastapi import BackgroundTasks, FastAPI

from pkg import jobs

app = FastAPI()


@app.post("/signup")
async def signup(email: str, tasks: BackgroundTasks):
    tasks.add_task(jobs.sender_for(email))
    tasks.add_task(jobs.send_email(email))
    await tasks.add_task(jobs.send_email, email)
"""

JOBS = """\
import functools


def send_email(to: str) -> None:
    print("sending to", to)


def sender_for(email: str):
    return functools.partial(send_email, email)
"""


def _run(args: Sequence[str], cwd: Path, stdin: str = "") -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, *args], cwd=str(cwd), input=stdin, capture_output=True, text=True, env=env, timeout=300)


def _findings(output: str) -> Set[Tuple[str, int, int, str, str]]:
    out = set()
    for line in output.splitlines():
        m = _LINE.match(line)
        if m:
            out.add((Path(m["path"]).as_posix(), int(m["line"]), int(m["col"]), m["code"], m["message"]))
    return out


def _flake8(cwd: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return _run(["-m", "flake8", "--isolated", *args], cwd, stdin)


def _bglint(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return _run(["-m", "bglint", "check", "--output-format", "concise", *args], cwd)


@pytest.fixture(autouse=True)
def _no_freeze(monkeypatch: pytest.MonkeyPatch) -> None:
    """The plugin in this process must not freeze pytest's objects (see flake8_plugin._load_engine;
    test_a_process_that_loads_the_engine_freezes_its_objects_once runs it in a process of its own)."""
    monkeypatch.setattr(flake8_plugin, "_FROZEN", True)


def _project(tmp_path: Path, files: Dict[str, str], config: str = "") -> Path:
    root = tmp_path / "proj"
    (root / "pkg").mkdir(parents=True)
    (root / "pyproject.toml").write_text(f"[project]\nname = 'proj'\n{config}", encoding="utf-8")
    for name, text in files.items():
        (root / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def test_flake8_finds_the_plugin_by_its_entry_point() -> None:
    result = _run(["-m", "flake8", "--version"], REPO)
    assert "bglint: " in result.stdout


def test_flake8_equals_bglint_on_the_examples() -> None:
    # flake8's default selection shows bglint's default rules
    flake8 = _flake8(REPO, "examples/")
    bglint = _bglint(REPO, "examples/")
    assert flake8.returncode == 1, flake8.stderr
    assert _findings(flake8.stdout), "the examples have findings"
    assert _findings(flake8.stdout) == _findings(bglint.stdout)
    # an explicit `--select BG` beats flake8's default ignore list: every rule, as `--select ALL`
    selected = _findings(_flake8(REPO, "--select", "BG", "examples/").stdout)
    assert selected == _findings(_bglint(REPO, "--select", "ALL", "examples/").stdout)


def test_flake8_equals_bglint_across_modules(tmp_path: Path) -> None:
    root = _project(tmp_path, {"pkg/__init__.py": "", "pkg/app.py": APP, "pkg/jobs.py": JOBS})
    flake8 = _flake8(root, "--select", "BG", "pkg/")
    bglint = _bglint(root, "--select", "ALL", "pkg/")
    found = _findings(flake8.stdout)
    # the factory in another module returns the task (silent); the plain function is called (BG301)
    assert {(f[1], f[3]) for f in found} == {(11, "BG301"), (12, "BG302")}
    assert found == _findings(bglint.stdout)


TASK_IN_ENDPOINT = """\
import time

from fastapi import BackgroundTasks, FastAPI

app = FastAPI()


async def pause() -> None:
    time.sleep(1)


@app.post("/")
async def ep(tasks: BackgroundTasks):
    tasks.add_task(pause)
"""


@pytest.mark.parametrize("order", [("a.py", "b.py"), ("b.py", "a.py")])
def test_outside_a_project_each_file_is_linted_on_its_own(tmp_path: Path, order: Tuple[str, str]) -> None:
    """No pyproject.toml, setup.py, setup.cfg or .git: each file's findings are those of `bglint
    check FILE`, whichever file flake8 handed in first (the second file's own hand-offs were left
    out of its index when files without a project shared one)."""
    (tmp_path / "a.py").write_text(TASK_IN_ENDPOINT, encoding="utf-8")
    (tmp_path / "b.py").write_text(TASK_IN_ENDPOINT.replace("pause", "nap"), encoding="utf-8")
    found = _findings(_flake8(tmp_path, "--select", "BG", "--jobs", "1", *order).stdout)
    assert {(f[0], f[1], f[3]) for f in found} == {(n, line, code) for n in order for line, code in ((8, "BG202"), (9, "BG201"))}
    for name in order:
        assert {f for f in found if f[0] == name} == _findings(_bglint(tmp_path, "--select", "ALL", "--no-cache", name).stdout)


def test_a_file_the_project_leaves_out_is_linted_with_its_own_hand_offs(tmp_path: Path) -> None:
    """A file bglint's `exclude` leaves out of the project, named to flake8, is linted as
    `bglint check FILE` lints it (named files are always checked): its hand-offs count."""
    root = _project(tmp_path, {"pkg/app.py": APP}, '[tool.bglint]\nextend-exclude = ["gen"]\n')
    (root / "gen").mkdir()
    (root / "gen" / "tasks.py").write_text(TASK_IN_ENDPOINT, encoding="utf-8")
    for args in (("gen/tasks.py",), ("pkg/app.py", "gen/tasks.py")):
        found = _findings(_flake8(root, "--select", "BG", "--jobs", "1", *args).stdout)
        assert {(f[0], f[1], f[3]) for f in found if f[0] == "gen/tasks.py"} == {("gen/tasks.py", 8, "BG202"), ("gen/tasks.py", 9, "BG201")}, args
    assert _findings(_bglint(root, "--select", "ALL", "gen/tasks.py").stdout) == {f for f in found if f[0] == "gen/tasks.py"}


def test_noqa_is_left_to_flake8(tmp_path: Path) -> None:
    app = APP.replace("tasks.add_task(jobs.send_email(email))", "tasks.add_task(jobs.send_email(email))  # noqa: BG301")
    root = _project(tmp_path, {"pkg/__init__.py": "", "pkg/app.py": app, "pkg/jobs.py": JOBS})
    found = _findings(_flake8(root, "--select", "BG", "pkg/").stdout)
    assert {f[3] for f in found} == {"BG302"}
    # with --disable-noqa flake8 shows it again: bglint itself did not drop the finding
    found = _findings(_flake8(root, "--select", "BG", "--disable-noqa", "pkg/").stdout)
    assert {f[3] for f in found} == {"BG301", "BG302"}


def test_bglint_ignore_comment_and_config_are_honoured(tmp_path: Path) -> None:
    app = APP.replace("tasks.add_task(jobs.send_email(email))", "tasks.add_task(jobs.send_email(email))  # bglint: ignore[BG301]")
    config = '[tool.bglint]\nper-file-ignores = { "pkg/app.py" = ["BG302"] }\n'
    root = _project(tmp_path, {"pkg/__init__.py": "", "pkg/app.py": app, "pkg/jobs.py": JOBS}, config)
    flake8 = _flake8(root, "--select", "BG", "pkg/")
    assert flake8.returncode == 0, flake8.stdout + flake8.stderr
    assert _findings(flake8.stdout) == set()


def test_config_ignore_is_honoured(tmp_path: Path) -> None:
    root = _project(tmp_path, {"pkg/__init__.py": "", "pkg/app.py": APP, "pkg/jobs.py": JOBS}, '[tool.bglint]\nignore = ["BG302"]\n')
    assert {f[3] for f in _findings(_flake8(root, "--select", "BG", "pkg/").stdout)} == {"BG301"}


def test_settings_keep_rules_off_by_default_running_unless_ignored(tmp_path: Path) -> None:
    from bglint.rules import ALL_CODES, DEFAULT_CODES

    off = set(ALL_CODES) - set(DEFAULT_CODES)
    root = _project(tmp_path, {"pkg/app.py": APP})
    assert flake8_plugin._settings_for(root / "pkg" / "app.py").select == frozenset(ALL_CODES)
    (root / "pyproject.toml").write_text('[tool.bglint]\nignore = ["BG301"]\n', encoding="utf-8")
    assert flake8_plugin._settings_for(root / "pkg" / "app.py").select == frozenset(ALL_CODES) - {"BG301"}
    assert off <= flake8_plugin._settings_for(root / "pkg" / "app.py").select


def test_flake8_lints_the_text_it_was_given_not_the_disk(tmp_path: Path) -> None:
    root = _project(tmp_path, {"pkg/__init__.py": "", "pkg/app.py": "x = 1\n", "pkg/jobs.py": JOBS})
    flake8 = _flake8(root, "--select", "BG", "--stdin-display-name", "pkg/app.py", "-", stdin=APP)
    assert {(f[0], f[1], f[3]) for f in _findings(flake8.stdout)} == {("pkg/app.py", 11, "BG301"), ("pkg/app.py", 12, "BG302")}


def test_flake8_prefix_selection_b_covers_bg_codes() -> None:
    # flake8 selects by prefix: `B` (flake8-bugbear's prefix) matches BG301 too
    selected = _findings(_flake8(REPO, "--select", "B", "examples/").stdout)
    assert {f[3] for f in selected} == {f[3] for f in _findings(_bglint(REPO, "--select", "ALL", "examples/").stdout)}
    ignored = _flake8(REPO, "--select", "B,E,F,W", "--ignore", "B", "examples/")
    assert _findings(ignored.stdout) == set()


def test_rules_off_by_default_are_default_ignored_by_flake8() -> None:
    off = [r.code for r in ALL_RULES if not r.default_enabled]
    probe = textwrap.dedent(
        f"""
        from flake8.api import legacy
        from flake8.style_guide import Decision
        guide = legacy.get_style_guide()
        ignored = set(guide.options.extended_default_ignore)
        assert set({off!r}) <= ignored, ignored
        decider = guide._application.guide.decider
        for code in {off!r}:
            assert decider.decision_for(code) is Decision.Ignored, code
        for code in {[r.code for r in ALL_RULES if r.default_enabled]!r}:
            assert decider.decision_for(code) is Decision.Selected, code
        print("ok")
        """
    )
    result = _run(["-c", probe], REPO)
    assert result.stdout.strip() == "ok", result.stderr


class _Options:
    def __init__(self) -> None:
        self.ignored: List[str] = []

    def extend_default_ignore(self, codes: Sequence[str]) -> None:
        self.ignored.extend(codes)


def test_add_options_lists_exactly_the_rules_off_by_default() -> None:
    manager = _Options()
    flake8_plugin.Plugin.add_options(manager)
    assert manager.ignored == [r.code for r in ALL_RULES if not r.default_enabled]
    assert all(not code.startswith("BG5") or code in manager.ignored for code in (r.code for r in ALL_RULES))


TASK_RULE = Rule(
    code="BG999",
    name="test-task-rule",
    severity=Severity.WARNING,
    summary="A function that runs as a task (test-only rule)",
    message="`{name}` runs as a background task",
    why="",
    bad="",
    good="",
)


@TASK_RULE.on_task
def _report_task(task, ctx):  # type: ignore[no-untyped-def]
    yield ctx.finding(TASK_RULE, task.function.node.name, name=task.function.name)


def test_a_task_is_known_from_hand_offs_in_other_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bglint.rules as registry

    monkeypatch.setattr(registry, "ALL_RULES", (*registry.ALL_RULES, TASK_RULE))
    monkeypatch.setattr(registry, "ALL_CODES", (*registry.ALL_CODES, TASK_RULE.code))
    monkeypatch.setattr(registry, "DEFAULT_CODES", (*registry.DEFAULT_CODES, TASK_RULE.code))
    monkeypatch.setattr(codes, "CODES", {**codes.CODES, TASK_RULE.code: True})
    monkeypatch.setattr(flake8_plugin, "_STATES", {})
    app = "from fastapi import BackgroundTasks\nfrom pkg import jobs\n\n\ndef view(t: BackgroundTasks):\n    t.add_task(jobs.send_email, 'a')\n"
    root = _project(tmp_path, {"pkg/__init__.py": "", "pkg/app.py": app, "pkg/jobs.py": JOBS})
    jobs = root / "pkg" / "jobs.py"
    lines = jobs.read_text(encoding="utf-8").splitlines(keepends=True)
    found = list(flake8_plugin.Plugin(None, str(jobs), lines).run())  # type: ignore[arg-type]
    assert [(line, col, text) for line, col, text, _ in found] == [(4, 4, "BG999 `send_email` runs as a background task")]
    # the state of the project is cached: a second file reuses the same engine and index
    state = flake8_plugin._STATES[next(iter(flake8_plugin._STATES))]
    app_lines = (root / "pkg" / "app.py").read_text(encoding="utf-8").splitlines(keepends=True)
    list(flake8_plugin.Plugin(None, str(root / "pkg" / "app.py"), app_lines).run())  # type: ignore[arg-type]
    assert list(flake8_plugin._STATES.values()) == [state]


def test_an_unchanged_project_is_answered_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bglint import engine as engine_mod, sources

    root = _project(tmp_path, {"pkg/__init__.py": "", "pkg/app.py": APP, "pkg/jobs.py": JOBS})
    app = root / "pkg" / "app.py"

    def lint(path: Path, text: Optional[str] = None) -> List[Tuple[int, int, str]]:
        monkeypatch.setattr(flake8_plugin, "_STATES", {})  # a new flake8 process
        lines = (text if text is not None else path.read_text(encoding="utf-8")).splitlines(keepends=True)
        return sorted((line, col, msg.split()[0]) for line, col, msg, _ in flake8_plugin.Plugin(None, str(path), lines).run())  # type: ignore[arg-type]

    first = lint(app)
    assert first == [(11, 19, "BG301"), (12, 4, "BG302")]
    assert list((root / ".bglint_cache").rglob("*.json"))

    def no_parse(*a: object, **k: object) -> None:
        raise AssertionError("parsed although nothing changed")

    with monkeypatch.context() as m:
        m.setattr(sources, "parse", no_parse)
        m.setattr(engine_mod.Engine, "check", no_parse)
        assert lint(app) == first
        assert lint(root / "pkg" / "jobs.py") == []
    # a text that is not the file on disk (an editor's unsaved buffer) is linted as it is
    assert lint(app, APP.replace("    await tasks.add_task(jobs.send_email, email)\n", "")) == [(11, 19, "BG301")]
    # a changed file elsewhere in the project invalidates the entry: `sender_for` now calls the task
    (root / "pkg" / "jobs.py").write_text(JOBS.replace("return functools.partial(send_email, email)", "return send_email(email)"), encoding="utf-8")
    assert lint(app) == [(10, 19, "BG301"), (11, 19, "BG301"), (12, 4, "BG302")]


def test_a_file_changed_while_the_plugin_analyses_is_analysed_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache records the files as the analysis read them (see cache.ReadLog)."""
    from bglint import engine as engine_mod

    root = _project(tmp_path, {"pkg/__init__.py": "", "pkg/app.py": APP, "pkg/jobs.py": JOBS})
    app = root / "pkg" / "app.py"
    real = engine_mod.Engine.check

    def check_then_edit(self: object, *args: object, **kwargs: object) -> object:
        report = real(self, *args, **kwargs)  # type: ignore[arg-type]
        (root / "pkg" / "jobs.py").write_text(JOBS.replace("return functools.partial(send_email, email)", "return send_email(email)"), encoding="utf-8")
        return report

    def lint() -> List[Tuple[int, int, str]]:
        monkeypatch.setattr(flake8_plugin, "_STATES", {})  # a new flake8 process
        lines = app.read_text(encoding="utf-8").splitlines(keepends=True)
        return sorted((line, col, msg.split()[0]) for line, col, msg, _ in flake8_plugin.Plugin(None, str(app), lines).run())  # type: ignore[arg-type]

    with monkeypatch.context() as m:
        m.setattr(engine_mod.Engine, "check", check_then_edit)
        assert lint() == [(11, 19, "BG301"), (12, 4, "BG302")]  # from the text it read
    assert lint() == [(10, 19, "BG301"), (11, 19, "BG301"), (12, 4, "BG302")]


def test_a_text_too_big_is_not_analysed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """flake8 hands the text in itself: the size limit holds for it too (sources.MAX_FILE_BYTES)."""
    from bglint import sources

    root = _project(tmp_path, {"pkg/__init__.py": "", "pkg/app.py": APP, "pkg/jobs.py": JOBS})
    app = root / "pkg" / "app.py"

    def lint() -> List[Tuple[int, int, str]]:
        monkeypatch.setattr(flake8_plugin, "_STATES", {})
        lines = app.read_text(encoding="utf-8").splitlines(keepends=True)
        return sorted((line, col, msg.split()[0]) for line, col, msg, _ in flake8_plugin.Plugin(None, str(app), lines).run())  # type: ignore[arg-type]

    assert lint() == [(11, 19, "BG301"), (12, 4, "BG302")]
    monkeypatch.setattr(sources, "MAX_FILE_BYTES", len(APP) - 1)
    assert lint() == []


def test_a_process_answered_from_the_cache_never_loads_the_parser(tmp_path: Path) -> None:
    root = _project(tmp_path, {"pkg/__init__.py": "", "pkg/app.py": APP, "pkg/jobs.py": JOBS})
    # each run is a new process, as each flake8 worker is
    script = textwrap.dedent(
        """\
        import sys
        from bglint import flake8_plugin
        path = sys.argv[1]
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines(keepends=True)
        found = sorted(text.split()[0] for _, _, text, _ in flake8_plugin.Plugin(None, path, lines).run())
        print(" ".join(found), "libcst" in sys.modules)
        """
    )
    app = str(root / "pkg" / "app.py")

    def run() -> str:
        done = subprocess.run([sys.executable, "-c", script, app], cwd=root, capture_output=True, text=True, check=True)
        return done.stdout.strip()

    assert run() == "BG301 BG302 True"  # analysed: the parser was needed
    assert run() == "BG301 BG302 False"  # replayed


def test_a_process_that_loads_the_engine_freezes_its_objects_once(tmp_path: Path) -> None:
    """The engine's and libcst's modules live as long as the flake8 process: they are moved out
    of the collector's reach when loaded (gc.freeze), once, however many projects follow."""
    first = _project(tmp_path / "one", {"pkg/__init__.py": "", "pkg/app.py": APP, "pkg/jobs.py": JOBS})
    second = _project(tmp_path / "two", {"pkg/__init__.py": "", "pkg/app.py": APP, "pkg/jobs.py": JOBS})
    script = textwrap.dedent(
        """\
        import gc, sys
        from bglint import flake8_plugin
        calls, freeze = [], gc.freeze
        gc.freeze = lambda: calls.append(gc.get_count()) or freeze()
        counts = [gc.get_freeze_count()]
        for path in sys.argv[1:]:
            with open(path, encoding="utf-8") as fh:
                lines = fh.read().splitlines(keepends=True)
            found = sorted(text.split()[0] for _, _, text, _ in flake8_plugin.Plugin(None, path, lines).run())
            counts.append(gc.get_freeze_count())
        print(" ".join(found), counts[1] - counts[0] > 20000, len(calls) == 1)
        """
    )
    apps = [str(root / "pkg" / "app.py") for root in (first, second)]
    done = subprocess.run([sys.executable, "-c", script, *apps], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["BG301", "BG302", "True", "True"], done.stderr  # (3.12 starts with some frozen)


def test_the_collector_is_off_until_the_analysis_is_dropped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its collections would scan every object of the analysis while the entry is written."""
    import gc

    from bglint import cache

    monkeypatch.setattr(flake8_plugin, "_STATES", {})
    root = _project(tmp_path, {"pkg/__init__.py": "", "pkg/app.py": APP, "pkg/jobs.py": JOBS})
    seen: List[bool] = []
    store = cache.Cache.store
    monkeypatch.setattr(cache.Cache, "store", lambda self, *a, **k: seen.append(gc.isenabled()) or store(self, *a, **k))
    app = root / "pkg" / "app.py"
    lines = app.read_text(encoding="utf-8").splitlines(keepends=True)
    assert gc.isenabled()
    found = sorted(text.split()[0] for _, _, text, _ in flake8_plugin.Plugin(None, str(app), lines).run())  # type: ignore[arg-type]
    assert found == ["BG301", "BG302"] and seen == [False] and gc.isenabled()


def test_the_analysis_is_dropped_once_every_file_is_answered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Kept alive, its objects would slow each of flake8's garbage collections for the rest of the
    run; a text that differs from the disk builds it again."""
    root = _project(tmp_path, {"pkg/__init__.py": "", "pkg/app.py": APP, "pkg/jobs.py": JOBS})
    app, jobs = root / "pkg" / "app.py", root / "pkg" / "jobs.py"
    monkeypatch.setattr(flake8_plugin, "_STATES", {})

    def lint(path: Path, text: str) -> List[Tuple[int, int, str]]:
        lines = text.splitlines(keepends=True)
        return sorted((line, col, msg.split()[0]) for line, col, msg, _ in flake8_plugin.Plugin(None, str(path), lines).run())  # type: ignore[arg-type]

    assert lint(app, APP) == [(11, 19, "BG301"), (12, 4, "BG302")]
    (state,) = flake8_plugin._STATES.values()
    assert state.findings is not None and state._project is None and state.run is None
    # an unsaved buffer of jobs.py where `sender_for` calls the task: app.py's findings follow it
    assert lint(jobs, JOBS.replace("return functools.partial(send_email, email)", "return send_email(email)")) == []
    assert lint(app, APP) == [(10, 19, "BG301"), (11, 19, "BG301"), (12, 4, "BG302")]
