"""Parsing on demand (``facts.build``) must answer as a whole parse does, whatever is asked first.

Found by sweeping real code (scripts/parse_sweep.py compares a lookup made before anything else is
parsed with the same lookup on a whole parse): a def or name rebound later inside an
``if``/``try``/``with``/``for`` block or on a shared line, ``global x; import x`` in a def, and a
hand-off called through a local alias (``create_task as spawn``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import List, Tuple

import pytest

from bglint import sources
from bglint.config import RawConfig, build_settings
from bglint.engine import PREFILTER, Engine
from bglint.facts import build, collect
from bglint.project import Project
from bglint.rules import ALL_CODES

from ._positions import positions_under

# (source, kind, name): the statement a first lookup of ``name`` gives must be the one a whole
# parse keeps (the last binding in source order)
REBOUND = [
    pytest.param(
        "def f():\n    return 1\n\n\nif flag:\n\n    def f():\n        return 2\n",
        "functions",
        "f",
        id="def-rebound-in-if",
    ),
    pytest.param(
        "machine = arch()\nif machine == 'x86_64':\n    machine = 'amd64'\n",
        "assignments",
        "machine",
        id="assignment-rebound-in-if",
    ),
    pytest.param(
        "A = 1\nA = 2; B = 3\n",
        "assignments",
        "A",
        id="assignment-rebound-on-a-shared-line",
    ),
    pytest.param("def f():\n    return 1\n\n\ndef f():\n    return 2\n", "functions", "f", id="def-rebound-by-def"),
    pytest.param("if flag:\n\n    def f():\n        return 2\n\n\ndef f():\n    return 1\n", "functions", "f", id="def-after-if"),
    # a starred name of a tuple target is bound too, as the collector binds it
    pytest.param("f = 1\na, *f = 2, 3\n", "assignments", "f", id="rebound-as-a-starred-target"),
    pytest.param("def f():\n    return 1\n\n\n[a, *f] = 2, 3\n", "assignments", "f", id="bound-only-as-a-starred-target"),
]


@pytest.mark.parametrize("text, kind, name", REBOUND)
def test_a_first_lookup_gives_the_binding_a_whole_parse_keeps(text: str, kind: str, name: str) -> None:
    whole = collect("m.py", "m", "", text, sources.parse(text))
    lazy = build("m.py", "m", "", text, PREFILTER)
    got, want = getattr(lazy, kind).get(name), dict.get(getattr(whole, kind), name)
    node = lambda v: v if kind == "assignments" else v.node  # noqa: E731
    assert lazy.position(node(got)).start.line == whole.position(node(want)).start.line


def _findings(tmp_path: Path, text: str, eager: bool) -> List[Tuple[int, str]]:
    path = tmp_path / "app.py"
    path.write_text(text, encoding="utf-8")
    engine = Engine(build_settings(RawConfig(), ALL_CODES, ALL_CODES, cli_select=["ALL"], root=tmp_path))
    project = engine.new_project() if eager else Project(extra_roots=[tmp_path], eager=re.compile(""))
    report = engine.check([path], project=project)
    assert not report.errors
    return sorted((f.line, f.code) for f in report.findings)


APPS = [
    pytest.param(
        # `global requests; import requests` in a def no hand-off is in: `requests` resolves only
        # through ModuleFacts.any_imports, filled when that def is parsed
        "from fastapi import BackgroundTasks, FastAPI\n\napp = FastAPI()\n\n\n"
        "def load():\n    global requests\n    import requests\n\n\n"
        "async def notify(url: str) -> None:\n    requests.get(url)\n\n\n"
        "@app.post('/hook')\nasync def hook(url: str, bg: BackgroundTasks):\n    bg.add_task(notify, url)\n",
        id="global-import-in-another-def",
    ),
    pytest.param(
        # the def holding the hand-off never spells a PREFILTER word: it is left unparsed
        "from asyncio import create_task as spawn\n\nfrom fastapi import FastAPI\n\napp = FastAPI()\n\n\n"
        "async def work() -> None:\n    pass\n\n\n@app.post('/go')\nasync def go():\n    spawn(work())\n",
        id="aliased-create-task",
    ),
    pytest.param(
        "import time\n\nfrom fastapi import BackgroundTasks, FastAPI\n\napp = FastAPI()\n\n\n"
        "async def work() -> None:\n    time.sleep(1)\n\n\nif app:\n\n    def work() -> None:\n        time.sleep(1)\n\n\n"
        "@app.post('/go')\nasync def go(bg: BackgroundTasks):\n    bg.add_task(work)\n",
        id="task-rebound-in-if",
    ),
]


BIG_CLASS = (
    "import time\n\nfrom fastapi import BackgroundTasks, FastAPI\n\napp = FastAPI()\n\n\n"
    "class Mailer:\n    \"\"\"Sends mail.\"\"\"\n\n    retries = 3\n\n"
    + "".join(f"    def helper{i}(self, x):\n        return x + {i}\n\n" for i in range(6))
    + "    async def send(self, to: str) -> None:\n        self.helper2(to)\n        time.sleep(1)  # needle\n\n"
    + "    @property\n    def name(self):\n        return 'm'\n\n"
    + "    def last(self):\n        pass\n\n\n"
    "mailer = Mailer()\n\n\n"
    "@app.post('/go')\nasync def go(to: str, bg: BackgroundTasks):\n    bg.add_task(mailer.send, to)\n"
)

APPS.append(pytest.param(BIG_CLASS, id="method-of-a-class-parsed-late"))
APPS.append(
    pytest.param(
        # a task whose def spells `.send(` only on its parameter is left out, then parsed as the
        # hand-off's target; the Dramatiq send with too many arguments is parsed with the module
        "import time\n\nimport dramatiq\nfrom fastapi import BackgroundTasks, FastAPI, WebSocket\n\napp = FastAPI()\n\n\n"
        "@dramatiq.actor\ndef index(doc_id: int) -> None:\n    pass\n\n\n"
        "async def notify(ws: WebSocket) -> None:\n    await ws.send({'type': 'websocket.send', 'text': 'hi'})\n    time.sleep(1)\n\n\n"
        "@app.post('/go')\nasync def go(bg: BackgroundTasks):\n    bg.add_task(notify, None)\n\n\n"
        "def reindex(doc_id: int) -> None:\n    index.send(doc_id, 2)\n",
        id="send-on-a-parameter-left-out",
    )
)

# each def sends on `index`, `ws`, `actor` or `msg`; below them all four are Dramatiq actors, so a
# name that is not the def's own local resolves to one
SENDS = (
    "import asyncio\nfrom asyncio import ensure_future\n\nimport dramatiq\nfrom celery import shared_task\n\n\n"
    "async def work():\n    pass\n\n\n"
    "def spawn_local(loop):\n    loop.create_task(work())\n\n\n"
    "async def spawn_group():\n    async with asyncio.TaskGroup() as tg:\n        tg.create_task(work())\n\n\n"
    "def bare(create_task):\n    create_task(work())\n\n\n"
    "def celery_local(job):\n    job.delay(1)\n\n\n"
    "def spawn(x):\n    asyncio.create_task(work())\n\n\n"
    "def bare_global():\n    ensure_future(work())\n\n\n"
    "def celery_global():\n    job.delay(1)\n    job.apply_async(args=[1])\n\n\n"
    "async def chat(websocket):\n    await websocket.send('hi')\n\n\n"
    "class Hub:\n    def push(self, msg):\n        self.channel.send(msg)\n\n    def last(self):\n        pass\n\n\n"
    "def relay(gen):\n    def inner():\n        return gen.send(1)\n\n    return inner\n\n\n"
    "def made(factory):\n    factory().send(1)\n\n\n"
    "def local(x):\n    actor = x\n    actor.send(x)\n\n\n"
    "def loop(xs):\n    for ws, *rest in xs:\n        ws.send(1)\n\n\n"
    "def walrus(x):\n    if (ws := x):\n        ws.send(1)\n\n\n"
    "async def opened(x):\n    async with x as ws:\n        await ws.send(1)\n\n\n"
    "def queue_it(doc):\n    index.send(doc)\n\n\n"
    "def from_lambda():\n    return lambda index: index.send(1)\n\n\n"
    "def imported_over(index):\n    from tasks import index\n\n    index.send(1)\n\n\n"
    "def nested_over(index):\n    def index():\n        pass\n\n    index.send(1)\n\n\n"
    "def global_over(x):\n    global actor\n    actor = x\n    actor.send(1)\n\n\n"
    "def caught(x):\n    try:\n        pass\n    except Exception as msg:\n        msg.send(1)\n\n\n"
    "def comprehension(xs):\n    return [ws.send(1) for ws in xs]\n\n\n"
    "def augmented(x):\n    msg += x\n    msg.send(1)\n\n\n"
    "def walrus_inside(x):\n    def inner(y):\n        return (msg := y)\n\n    msg.send(1)\n\n\n"
    "def class_inside(x):\n    class K:\n        actor = x\n\n    actor.send(1)\n\n\n"
    "def in_default(ws=actor.send(1)):\n    pass\n\n\n"
    "class Body:\n    sent = index.send(1)\n\n\n"
    + "".join(f"@dramatiq.actor\ndef {name}(x=None) -> None:\n    pass\n\n\n" for name in ("index", "ws", "actor", "msg"))
    + "@shared_task\ndef job(x=None) -> None:\n    pass\n\n\n"
    + "DONE = True\n"
)
LEFT_OUT = {"chat", "Hub", "relay", "made", "local", "loop", "walrus", "opened", "spawn_local", "spawn_group", "bare", "celery_local"}


def test_a_def_that_sends_only_on_its_own_names_is_left_out(tmp_path: Path) -> None:
    """`.send(` is Dramatiq's hand-off only on a name that can be an actor (`.delay(` Celery's,
    on a task; `create_task` asyncio's): a name the def binds (a parameter, a local), or no name at
    all, never is. Anything else, or where that is not certain, is parsed with the module; the
    hand-offs found are those a whole parse finds."""
    from bglint.handoffs import HandoffFinder
    from bglint.semantics import Semantics

    lazy = build("m.py", "m", "", SENDS, PREFILTER)
    parsed = set(dict.keys(lazy.functions)) | set(dict.keys(lazy.classes))
    known = set(lazy.functions) | set(lazy.classes)
    assert known - parsed == LEFT_OUT | {"index", "ws", "actor", "msg", "job", "work"}  # they spell no hand-off
    assert parsed == {"spawn", "bare_global", "celery_global", "queue_it", "from_lambda", "imported_over", "nested_over", "global_over", "caught", "comprehension", "augmented", "walrus_inside", "class_inside", "in_default", "Body"}

    path = tmp_path / "app.py"
    path.write_text(SENDS, encoding="utf-8")
    found = []
    for eager in (PREFILTER, re.compile("")):
        project = Project(extra_roots=[tmp_path], eager=eager)
        module = project.facts(path)
        sites = HandoffFinder(project, Semantics(project)).sites(module)
        found.append(sorted((module.position(s.call).start.line, module.code_for(s.call)) for s in sites))
    assert found[0] == found[1]
    # the ones that resolve to an actor (not `imported_over`'s and `nested_over`'s), a Celery task
    # or asyncio's create_task / ensure_future
    assert len(found[0]) == 14


def test_a_class_parsed_late_leaves_its_methods_out_until_asked() -> None:
    """A class no hand-off is in is parsed when first looked up, without its methods; a method
    is parsed when asked for, found by a word search, or when everything is: positions, methods
    and functions as a whole parse gives them."""
    whole = collect("m.py", "m", "", BIG_CLASS, sources.parse(BIG_CLASS))
    lazy = build("m.py", "m", "", BIG_CLASS, PREFILTER)
    cls, want = lazy.classes["Mailer"], dict.get(whole.classes, "Mailer")
    assert dict.__contains__(cls.methods, "last") and not dict.__contains__(cls.methods, "send")  # left out
    assert "send" in cls.methods and not dict.__contains__(cls.methods, "send")  # known, still unparsed
    assert lazy.position(cls.node) == whole.position(want.node)
    assert lazy.position(cls.methods["last"].node) == whole.position(want.methods["last"].node)  # after the cut
    send = cls.methods["send"]
    assert positions_under(lazy, send.node) == positions_under(whole, want.methods["send"].node)
    assert positions_under(lazy, cls.methods["name"].node) == positions_under(whole, want.methods["name"].node)
    lazy.parse_mentioning("needle")
    lazy.parse_mentioning("helper4")
    assert dict.__contains__(cls.methods, "helper4") and not dict.__contains__(cls.methods, "helper5")
    assert not lazy.complete
    lazy.parse_all()
    assert lazy.complete
    assert sorted(dict.keys(cls.methods)) == sorted(want.methods)
    for name in want.methods:
        assert positions_under(lazy, cls.methods[name].node) == positions_under(whole, want.methods[name].node), name


@pytest.mark.parametrize("text", APPS)
def test_findings_on_demand_equal_findings_of_a_whole_parse(tmp_path: Path, text: str) -> None:
    assert _findings(tmp_path, text, eager=True) == _findings(tmp_path, text, eager=False)


def test_a_statement_in_a_match_case_is_found_at_its_own_line(tmp_path: Path) -> None:
    # libcst indents a `match`'s cases itself (not through a block): the position of a statement
    # in a case must count that indentation, or it is found at the first line with the same code
    # indented one level less (here the `if`'s), and the finding on line 12 is lost as a duplicate
    text = (
        "import time\n"
        "from fastapi import BackgroundTasks, FastAPI\n\n"
        "app = FastAPI()\n\n\n"
        "async def work(kind: str) -> None:\n"
        "    if kind:\n"
        "        time.sleep(1)\n"
        "    match kind:\n"
        "        case 'a':\n"
        "            time.sleep(1)\n\n\n"
        "@app.post('/go')\n"
        "async def go(bg: BackgroundTasks):\n"
        "    bg.add_task(work, 'a')\n"
    )
    for eager in (True, False):
        assert [line for line, code in _findings(tmp_path, text, eager) if code == "BG201"] == [9, 12]
