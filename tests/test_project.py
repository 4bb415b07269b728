"""The project index resolves names by what they are, across modules and side-by-side apps."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Dict

import libcst as cst
import pytest

from bglint import names
from bglint.handoffs import HandoffFinder, Mechanism, Origin
from bglint.project import Project, module_name
from bglint.semantics import Semantics


def write(root: Path, files: Dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def test_module_names_follow_packages(tmp_path: Path) -> None:
    write(tmp_path, {"svc/app/__init__.py": "", "svc/app/api/__init__.py": "", "svc/app/api/users.py": "", "script.py": ""})
    assert module_name(tmp_path / "svc/app/api/users.py") == ("app.api.users", "app.api", (tmp_path / "svc").resolve())
    assert module_name(tmp_path / "svc/app/api/__init__.py")[:2] == ("app.api", "app.api")
    assert module_name(tmp_path / "script.py")[:2] == ("script", "")


def test_folders_without_init_inside_a_package_are_namespace_packages(tmp_path: Path) -> None:
    """PEP 420: ``pkg/jobs/mail.py`` is ``pkg.jobs.mail`` without ``pkg/jobs/__init__.py``, as
    long as ``pkg`` is a package and the folder's name can be imported."""
    write(tmp_path, {"svc/pkg/__init__.py": "", "svc/pkg/jobs/deep/mail.py": "", "svc/pkg/my-dir/tool.py": "", "loose/x.py": ""})
    svc = (tmp_path / "svc").resolve()
    assert module_name(tmp_path / "svc/pkg/jobs/deep/mail.py") == ("pkg.jobs.deep.mail", "pkg.jobs.deep", svc)
    assert module_name(tmp_path / "svc/pkg/my-dir/tool.py") == ("tool", "", (tmp_path / "svc/pkg/my-dir").resolve())
    assert module_name(tmp_path / "loose/x.py") == ("x", "", (tmp_path / "loose").resolve())


def test_a_package_inside_a_namespace_folder_belongs_to_the_package_above(tmp_path: Path) -> None:
    """open-webui's ``open_webui/routers/audio/realtime.py``: ``routers`` has no ``__init__.py``,
    ``audio`` has one; the module is ``open_webui.routers.audio.realtime``, as the project imports
    it (it was ``audio.realtime``, rooted at ``routers``). A package under a plain folder, or under
    a project's folder, stays its own top package."""
    write(tmp_path, {
        "svc/pkg/__init__.py": "",
        "svc/pkg/routers/audio/__init__.py": "",
        "svc/pkg/routers/audio/realtime.py": "",
        "src/inner/__init__.py": "",
        "src/inner/mod.py": "",
        "proj/pyproject.toml": "",
        "proj/__init__.py": "",
        "proj/src/pkg/__init__.py": "",
        "proj/src/pkg/mod.py": "",
    })
    svc = (tmp_path / "svc").resolve()
    assert module_name(tmp_path / "svc/pkg/routers/audio/realtime.py") == ("pkg.routers.audio.realtime", "pkg.routers.audio", svc)
    assert module_name(tmp_path / "svc/pkg/routers/audio/__init__.py")[:2] == ("pkg.routers.audio", "pkg.routers.audio")
    assert module_name(tmp_path / "src/inner/mod.py") == ("inner.mod", "inner", (tmp_path / "src").resolve())
    # a project's folder with a stray __init__.py is not a package above src/
    assert module_name(tmp_path / "proj/src/pkg/mod.py") == ("pkg.mod", "pkg", (tmp_path / "proj/src").resolve())


def test_a_packages_module_named_setup_is_no_project_marker(tmp_path: Path) -> None:
    """``open_webui/utils/telemetry/setup.py`` is a module of the package: the project is the
    folder with the pyproject above it, not ``telemetry`` (whose cache folder bglint's flake8
    plugin created there). A setup.py outside a package still marks a project."""
    from bglint.report import project_root

    write(tmp_path, {
        "repo/pyproject.toml": "",
        "repo/app/__init__.py": "",
        "repo/app/telemetry/__init__.py": "",
        "repo/app/telemetry/setup.py": "",
        "repo/app/telemetry/metrics.py": "",
        "old/setup.py": "",
        "old/lib/thing.py": "",
    })
    assert project_root(tmp_path / "repo/app/telemetry/metrics.py") == (tmp_path / "repo").resolve()
    assert project_root(tmp_path / "old/lib/thing.py") == (tmp_path / "old").resolve()


def test_a_task_in_a_package_inside_a_namespace_folder_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No project marker: the task's package under ``routers/`` (no ``__init__.py``) was a project
    of its own, so the hand-off in the package above never reached it."""
    from tests._cli import runner

    from bglint.cli import main

    write(tmp_path, {
        "app/__init__.py": "",
        "app/main.py": """\
            from fastapi import BackgroundTasks, FastAPI

            from app.routers.audio.jobs import transcribe

            app = FastAPI()


            @app.post("/transcribe")
            async def start(tasks: BackgroundTasks):
                tasks.add_task(transcribe, "x")
            """,
        "app/routers/helpers.py": "import time\n\n\ndef wait_for_model():\n    time.sleep(5)\n",
        "app/routers/audio/__init__.py": "",
        "app/routers/audio/jobs.py": "from ..helpers import wait_for_model\n\n\nasync def transcribe(name):\n    wait_for_model()\n",
    })
    monkeypatch.chdir(tmp_path)
    result = runner().invoke(main, ["check", "--no-cache", "--select", "BG201", "--output-format", "concise", "app"])
    assert [line.split(" ")[:2] for line in result.stdout.splitlines()] == [["app/routers/audio/jobs.py:5:5:", "BG201"]]


def test_imports_of_a_module_in_a_namespace_folder_resolve(tmp_path: Path) -> None:
    write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/util.py": "def shared(): ...\n",
        "pkg/jobs/mail.py": "def send(): ...\n",
        "pkg/jobs/helpers.py": "def helper(): ...\n",
        "pkg/jobs/api.py": "from .mail import send\nfrom pkg.util import shared\nimport helpers\n",
    })
    project = Project()  # no extra roots: found from the module's own place
    api = project.facts(tmp_path / "pkg/jobs/api.py")
    for expr, where in (("send", "pkg/jobs/mail.py"), ("shared", "pkg/util.py"), ("helpers.helper", "pkg/jobs/helpers.py")):
        sym = project.resolve_expr(cst.parse_expression(expr), api, None)
        assert sym is not None and sym.function is not None, expr
        assert Path(sym.module.path) == (tmp_path / where).resolve()


def test_findings_across_namespace_folders_do_not_depend_on_the_working_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No project marker: a task in a namespace folder handed off from elsewhere in the package is
    found from any working folder (the namespace folder was a project of its own, and its import
    of the package resolved only when the working folder happened to be above it)."""
    from tests._cli import runner

    from bglint.cli import main

    write(tmp_path / "src", {
        "pkg/__init__.py": "",
        "pkg/api.py": """\
            from fastapi import BackgroundTasks, FastAPI
            from pkg.jobs.mail import send

            app = FastAPI()


            @app.post("/")
            async def ep(tasks: BackgroundTasks):
                tasks.add_task(send)
            """,
        "pkg/jobs/mail.py": """\
            import time

            from pkg.jobs.clock import pause


            async def send() -> None:
                pause()
            """,
        "pkg/jobs/clock.py": "import time\n\n\ndef pause() -> None:\n    time.sleep(1)\n",
    })
    (tmp_path / "elsewhere").mkdir()
    seen = []
    for cwd, arg in ((tmp_path / "src", "pkg"), (tmp_path / "elsewhere", str(tmp_path / "src" / "pkg"))):
        monkeypatch.chdir(cwd)
        result = runner().invoke(main, ["check", "--no-cache", "--select", "BG201", "--output-format", "concise", arg])
        seen.append([line.rsplit("/", 1)[-1].split(" ")[:2] for line in result.stdout.splitlines()])
    assert seen[0] == seen[1] == [["mail.py:7:5:", "BG201"]]


def test_side_by_side_apps_resolve_their_own_modules(tmp_path: Path) -> None:
    # two services, each with a top-level package called `app`
    write(tmp_path, {
        "a/app/__init__.py": "",
        "a/app/tasks.py": "def send(): ...\n",
        "a/app/api.py": "from app.tasks import send\n",
        "b/app/__init__.py": "",
        "b/app/tasks.py": "async def send(): ...\n",
        "b/app/api.py": "from .tasks import send\n",
    })
    project = Project()
    for svc, is_async in (("a", False), ("b", True)):
        api = project.facts(tmp_path / svc / "app/api.py")
        sym = project.resolve_expr(cst.Name("send"), api, None)
        assert sym is not None and sym.function is not None
        assert Path(sym.module.path) == (tmp_path / svc / "app/tasks.py").resolve()
        assert sym.function.is_async is is_async


def test_module_attribute_reexport_and_alias(tmp_path: Path) -> None:
    write(tmp_path, {
        "app/__init__.py": "from app.mail.core import send_email as send\n",
        "app/mail/__init__.py": "",
        "app/mail/core.py": "def send_email(to): ...\n",
        "app/api.py": "import app.mail.core as core\nfrom app import send\nimport app\n",
    })
    project = Project()
    api = project.facts(tmp_path / "app/api.py")
    for expr in ("core.send_email", "send", "app.send", "app.mail.core.send_email"):
        sym = project.resolve_expr(cst.parse_expression(expr), api, None)
        assert sym is not None and sym.function is not None and sym.function.name == "send_email", expr


def test_import_cycles_terminate(tmp_path: Path) -> None:
    write(tmp_path, {"p/__init__.py": "", "p/a.py": "from p.b import x\n", "p/b.py": "from p.a import x\n"})
    project = Project()
    a = project.facts(tmp_path / "p/a.py")
    assert project.resolve_expr(cst.Name("x"), a, None) is None


def test_annotated_alias_across_modules_and_import_alias(tmp_path: Path) -> None:
    write(tmp_path, {
        "app/__init__.py": "",
        "app/deps.py": """
            from typing import Annotated, Iterator
            from fastapi import BackgroundTasks as BT, Depends
            from sqlalchemy.orm import Session

            def get_db() -> Iterator[Session]:
                db = Session()
                try:
                    yield db
                finally:
                    db.close()

            SessionDep = Annotated[Session, Depends(get_db)]
            Tasks = Annotated[BT, "x"]
        """,
        "app/api.py": """
            from app.deps import SessionDep, Tasks

            class Scheduler:
                def add_task(self, f): ...

            scheduler = Scheduler()

            def ep(db: SessionDep, tasks: Tasks, other: "Tasks"):
                tasks.add_task(print, db)
                other.add_task(print)
                scheduler.add_task(print)
        """,
    })
    project = Project()
    api = project.facts(tmp_path / "app/api.py")
    semantics = Semantics(project)
    params = semantics.params(api.functions["ep"], api)
    assert params["db"].dependency is not None and params["db"].dependency.yields
    assert "sqlalchemy.orm.Session" in params["db"].type.types
    assert params["tasks"].is_background_tasks and params["other"].is_background_tasks
    sites = HandoffFinder(project, semantics).sites(api)
    # `scheduler.add_task` is not Starlette's: only the two real hand-offs are found
    assert [(s.mechanism, s.origin, api.code_for(s.receiver)) for s in sites] == [
        (Mechanism.ADD_TASK, Origin.INJECTED, "tasks"),
        (Mechanism.ADD_TASK, Origin.INJECTED, "other"),
    ]


def test_canonical_names() -> None:
    assert names.canonical("fastapi.BackgroundTasks") == names.BACKGROUND_TASKS
    assert names.canonical("fastapi.responses.JSONResponse") == "starlette.responses.JSONResponse"
    assert names.is_response_class("starlette.responses.JSONResponse")
    assert not names.is_response_class("starlette.responses.guess_type")
