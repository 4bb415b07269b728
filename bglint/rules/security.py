"""BG4xx: security and data hygiene.

BG401 secret-passed-to-task           a config/env secret or hard-coded credential is a task argument
BG402 hardcoded-credential-in-task    a credential literal inside a task function body
BG403 client-filename-path            a path built from the client's upload file name reaches a task
BG404 raw-request-data-to-task        a whole unvalidated request body or mapping is handed to a task
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Iterator, List, Optional, Tuple

import libcst as cst

from bglint import names
from bglint.context import RuleContext
from bglint.facts import FunctionFacts, ModuleFacts
from bglint.handoffs import Mechanism, TaskArg, TaskSite, TaskTarget, iter_task_args
from bglint.model import Finding, Fix, ImportNeed, Rule, Safety, Severity

SECRET_PASSED_TO_TASK = Rule(
    code="BG401",
    name="secret-passed-to-task",
    severity=Severity.ERROR,
    summary="A secret is passed to a background task as an argument",
    message="{what} is passed to the task as an argument; task arguments end up in tracebacks, error trackers and queue brokers, so read the secret inside the task",
    why="""
        Task arguments are data that travels: error trackers (Sentry and the like) record the
        arguments and locals of the failing frame, logs print them, and once the task moves to a
        queue (Celery, RQ, Dramatiq, arq) they are serialised into the broker in plain text.
        Configuration secrets (environment variables, settings) should be read inside the task.
        Per-user values computed in the request, such as a password-reset token that the e-mail
        must contain, are data, not configuration, and are not reported.
    """,
    bad="""
        import os

        from fastapi import BackgroundTasks, FastAPI

        app = FastAPI()


        def send_email(to: str, smtp_password: str) -> None:
            print("login with", len(smtp_password), "chars, send to", to)


        @app.post("/signup")
        def signup(email: str, tasks: BackgroundTasks):
            tasks.add_task(send_email, email, os.environ["SMTP_PASSWORD"])
    """,
    good="""
        import os

        from fastapi import BackgroundTasks, FastAPI

        app = FastAPI()


        def send_email(to: str) -> None:
            smtp_password = os.environ["SMTP_PASSWORD"]
            print("login with", len(smtp_password), "chars, send to", to)


        @app.post("/signup")
        def signup(email: str, tasks: BackgroundTasks):
            tasks.add_task(send_email, email)
    """,
    options=("secret-name-patterns",),
    references=("https://docs.sentry.io/platforms/python/data-management/sensitive-data/", "https://docs.celeryq.dev/en/stable/userguide/security.html"),
)

HARDCODED_CREDENTIAL_IN_TASK = Rule(
    code="BG402",
    name="hardcoded-credential-in-task",
    severity=Severity.ERROR,
    summary="A background task function contains a hard-coded credential",
    message="{what} is hard-coded in task `{task}`; read it from the environment or a secret store",
    why="""
        A credential written into the task's code is in every copy of the repository and every
        image built from it, cannot be rotated without a deploy, and appears in tracebacks of the
        task. Read it from the environment or a secret manager when the task runs.
    """,
    bad="""
        import smtplib

        from fastapi import BackgroundTasks, FastAPI

        app = FastAPI()


        def send_email(to: str) -> None:
            with smtplib.SMTP("smtp.example.com") as smtp:
                smtp.login("mailer", password="hunter2-prod-2024")
                smtp.sendmail("noreply@example.com", to, "hello")


        @app.post("/signup")
        def signup(email: str, tasks: BackgroundTasks):
            tasks.add_task(send_email, email)
    """,
    good="""
        import os
        import smtplib

        from fastapi import BackgroundTasks, FastAPI

        app = FastAPI()


        def send_email(to: str) -> None:
            with smtplib.SMTP("smtp.example.com") as smtp:
                smtp.login("mailer", password=os.environ["SMTP_PASSWORD"])
                smtp.sendmail("noreply@example.com", to, "hello")


        @app.post("/signup")
        def signup(email: str, tasks: BackgroundTasks):
            tasks.add_task(send_email, email)
    """,
    options=("secret-name-patterns",),
)

CLIENT_FILENAME_PATH = Rule(
    code="BG403",
    name="client-filename-path",
    severity=Severity.ERROR,
    fix=Safety.SAFE,
    summary="A path built from the client's upload file name is handed to a task",
    message="`{filename}` comes from the client and may contain `../`; use `os.path.basename({filename})` or a generated name",
    why="""
        `UploadFile.filename` is whatever the client put in the multipart header; Starlette passes
        `../../etc/cron.d/x` through unchanged. A path built from it lets the client choose where
        the task reads or writes. Strip the directory part, or better, generate the name
        (`tempfile`, a UUID) and keep the client's name as metadata only.
    """,
    bad="""
        from fastapi import BackgroundTasks, FastAPI, UploadFile

        app = FastAPI()


        def process(path: str) -> None:
            print("processing", path)


        @app.post("/upload")
        async def upload(file: UploadFile, tasks: BackgroundTasks):
            path = f"/srv/uploads/{file.filename}"
            with open(path, "wb") as out:
                out.write(await file.read())
            tasks.add_task(process, path)
    """,
    good="""
        import os

        from fastapi import BackgroundTasks, FastAPI, UploadFile

        app = FastAPI()


        def process(path: str) -> None:
            print("processing", path)


        @app.post("/upload")
        async def upload(file: UploadFile, tasks: BackgroundTasks):
            path = f"/srv/uploads/{os.path.basename(file.filename)}"
            with open(path, "wb") as out:
                out.write(await file.read())
            tasks.add_task(process, path)
    """,
    fix_note="""
        Wraps the file name in `os.path.basename(...)` (adding `import os` if needed) where the
        path is an f-string, `os.path.join(...)` with the file name last, or `base / file.filename`.
        A remaining name of `..` cannot be opened as a file, so writing through it fails instead
        of escaping the directory.
    """,
    references=("https://owasp.org/www-community/attacks/Path_Traversal",),
)

RAW_REQUEST_DATA_TO_TASK = Rule(
    code="BG404",
    name="raw-request-data-to-task",
    severity=Severity.WARNING,
    summary="Raw, unvalidated request data is handed to a background task",
    message="`{expr}` hands the raw request {what} to the task unvalidated; validate it with a Pydantic model first",
    why="""
        A task runs after the response, so nothing tells the client that its input was wrong; the
        task fails later on a missing key or a wrong type, or acts on fields it should never have
        accepted. Declaring a Pydantic body model validates the data during the request and hands
        the task exactly the fields it needs. Single header values (an auth token to forward, a
        request id) are fine.
    """,
    bad="""
        from fastapi import BackgroundTasks, FastAPI, Request

        app = FastAPI()


        def import_contacts(payload: dict) -> None:
            print("importing", len(payload["contacts"]))


        @app.post("/contacts/import")
        async def start_import(request: Request, tasks: BackgroundTasks):
            tasks.add_task(import_contacts, await request.json())
    """,
    good="""
        from fastapi import BackgroundTasks, FastAPI
        from pydantic import BaseModel

        app = FastAPI()


        class ContactImport(BaseModel):
            contacts: list[str]


        def import_contacts(payload: ContactImport) -> None:
            print("importing", len(payload.contacts))


        @app.post("/contacts/import")
        async def start_import(body: ContactImport, tasks: BackgroundTasks):
            tasks.add_task(import_contacts, body)
    """,
    references=("https://fastapi.tiangolo.com/tutorial/body/",),
)

_ENV_READS = frozenset({"os.getenv", "os.environ.get", "os.environ.__getitem__"})
_SETTINGS_BASES = frozenset({"pydantic_settings.BaseSettings", "pydantic.BaseSettings", "pydantic.v1.BaseSettings", "pydantic_settings.main.BaseSettings"})
_CONFIG_OBJECT_NAMES = frozenset({"settings", "config", "conf", "configuration", "cfg"})


# -- BG401 ------------------------------------------------------------------------------------
@SECRET_PASSED_TO_TASK.on_site
def check_secret_passed_to_task(site: TaskSite, ctx: RuleContext) -> Iterator[Finding]:
    if site.mechanism is Mechanism.CREATE_TASK:
        return  # an in-process coroutine call, not a hand-off of data
    target = ctx.target(site)
    for arg, bound_to in _with_param_names(site, target):
        what = _secret_source(arg.value, site.function, site.module, ctx, bound_to or arg.keyword)
        if what is not None:
            yield ctx.finding(SECRET_PASSED_TO_TASK, arg.value, what=what)


def _with_param_names(site: TaskSite, target: Optional[TaskTarget]) -> List[Tuple[TaskArg, Optional[str]]]:
    """Each argument with the name of the task parameter it binds to, when that can be known."""
    args = list(iter_task_args(site, target))
    if target is None:
        return [(a, a.keyword) for a in args]
    params = target.function.params[1 if target.bound else 0 :]
    positional = [p.name for p in params if p.kind in ("positional_only", "positional")]
    out, i = [], 0
    for a in args:
        if a.keyword is not None or a.star:
            out.append((a, a.keyword))
            continue
        out.append((a, positional[i] if i < len(positional) else None))
        i += 1
    return out


def _secret_source(expr: cst.BaseExpression, fn: Optional[FunctionFacts], module: ModuleFacts, ctx: RuleContext, name: Optional[str], depth: int = 0) -> Optional[str]:
    """Describe where a secret in ``expr`` comes from, or None when it is not a secret."""
    key = _env_key(expr, fn, module)
    if key is not None:
        return f"environment variable `{key}`" if ctx.tables.is_secret_name(key) else None
    if isinstance(expr, cst.Attribute) and ctx.tables.is_secret_name(expr.attr.value):
        if _is_settings_object(expr.value, fn, module, ctx):
            return f"setting `{module.code_for(expr)}`"
        return None
    if isinstance(expr, (cst.SimpleString, cst.ConcatenatedString)):
        return _literal_secret(expr, name, ctx)
    if isinstance(expr, cst.Name) and depth < 3:
        if fn is not None:
            for scope in fn.chain():
                if expr.value in scope.assignments:
                    value = scope.assignments[expr.value][-1]
                    return _secret_source(value, scope, module, ctx, name or expr.value, depth + 1)
                if scope.param(expr.value) is not None:
                    return None
        sym = ctx.project.resolve_expr(expr, module, fn)
        if sym is not None and sym.value is not None:  # a module constant: `SMTP_PASSWORD = os.environ[...]`
            found = _secret_source(sym.value, None, sym.module, ctx, expr.value, depth + 1)
            return f"`{expr.value}` ({found})" if found else None
    return None


def _env_key(expr: cst.BaseExpression, fn: Optional[FunctionFacts], module: ModuleFacts) -> Optional[str]:
    """The variable name of ``os.environ["K"]``, ``os.environ.get("K")`` or ``os.getenv("K")``."""
    if isinstance(expr, cst.Subscript) and module.qualify(expr.value, fn) == "os.environ":
        elements = [e.slice.value for e in expr.slice if isinstance(e.slice, cst.Index)]
        key = elements[0] if elements else None
    elif isinstance(expr, cst.Call) and module.qualify(expr.func, fn) in _ENV_READS and expr.args:
        key = expr.args[0].value
    else:
        return None
    return str(key.evaluated_value) if isinstance(key, cst.SimpleString) else None


def _is_settings_object(expr: cst.BaseExpression, fn: Optional[FunctionFacts], module: ModuleFacts, ctx: RuleContext) -> bool:
    """A configuration object: a pydantic ``BaseSettings`` instance (global, ``get_settings()``,
    injected), or a module-level object/module named like one (``django.conf.settings``)."""
    if isinstance(expr, cst.Name) and fn is not None:
        info = ctx.semantics.param_for(expr.value, fn, module)
        if info is not None:
            return any(_is_settings_class(c, m, ctx) for c, m in info.type.classes) or (
                info.dependency is not None and info.dependency.function is not None
                and _returns_settings(info.dependency.function, info.dependency.target.module, ctx)  # type: ignore[union-attr]
            )
    if isinstance(expr, cst.Call):
        sym = ctx.project.resolve_expr(expr.func, module, fn)
        if sym is not None and sym.function is not None:
            return _returns_settings(sym.function, sym.module, ctx)
        if sym is not None and sym.cls is not None:
            return _is_settings_class(sym.cls, sym.module, ctx)
        return False
    value, where = ctx.project.follow_value(expr, module, fn)
    if isinstance(value, cst.Call):
        sym = ctx.project.resolve_expr(value.func, where, None)
        if sym is not None and sym.cls is not None and _is_settings_class(sym.cls, sym.module, ctx):
            return True
    qual = module.qualify(expr, fn)
    return qual is not None and not qual.startswith("builtins.") and qual.rsplit(".", 1)[-1].lower() in _CONFIG_OBJECT_NAMES


def _is_settings_class(cls, module: ModuleFacts, ctx: RuleContext, depth: int = 0) -> bool:  # type: ignore[no-untyped-def]
    for base in cls.bases:
        if module.qualify(base) in _SETTINGS_BASES:
            return True
        sym = ctx.project.resolve_expr(base, module, None)
        if sym is not None and sym.cls is not None and depth < 5 and _is_settings_class(sym.cls, sym.module, ctx, depth + 1):
            return True
    return False


def _returns_settings(fn: FunctionFacts, module: ModuleFacts, ctx: RuleContext) -> bool:
    returns = fn.node.returns
    if returns is not None:
        info = ctx.semantics.type_info(returns.annotation, module, fn.parent)
        if any(_is_settings_class(c, m, ctx) for c, m in info.classes):
            return True
    for ret in fn.returns:
        if isinstance(ret.value, cst.Call):
            sym = ctx.project.resolve_expr(ret.value.func, module, fn)
            if sym is not None and sym.cls is not None and _is_settings_class(sym.cls, sym.module, ctx):
                return True
    return False


def _literal_text(expr: cst.BaseExpression) -> Optional[str]:
    if isinstance(expr, cst.SimpleString):
        value = expr.evaluated_value
        return value if isinstance(value, str) else None
    if isinstance(expr, cst.ConcatenatedString):
        value = expr.evaluated_value
        return value if isinstance(value, str) else None
    return None


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _looks_random(text: str) -> bool:
    """A long token of mixed letters and digits with high entropy (an API key, not a word or id)."""
    if len(text) < 32 or any(c.isspace() for c in text):
        return False
    classes = sum((any(c.islower() for c in text), any(c.isupper() for c in text), any(c.isdigit() for c in text)))
    return classes == 3 and _entropy(text) >= 4.5


def _literal_secret(expr: cst.BaseExpression, name: Optional[str], ctx: RuleContext) -> Optional[str]:
    text = _literal_text(expr)
    if text is None:
        return None
    shape = ctx.tables.token_shape(text)
    if shape is not None:
        return f"a hard-coded {shape}"
    if name is not None and ctx.tables.is_secret_name(name) and not ctx.tables.is_placeholder(text):
        return f"a hard-coded `{name}`"
    if _looks_random(text):
        return "a hard-coded high-entropy string"
    return None


# -- BG402 ------------------------------------------------------------------------------------
@HARDCODED_CREDENTIAL_IN_TASK.on_task
def check_hardcoded_credential_in_task(task: TaskTarget, ctx: RuleContext) -> Iterator[Finding]:
    fn = task.function
    seen = set()
    for call in fn.calls:
        for arg in call.args:
            if arg.keyword is None:
                text = _literal_text(arg.value)
                shape = ctx.tables.token_shape(text) if text is not None else None
                what = f"a hard-coded {shape}" if shape is not None else None
            else:
                what = _literal_secret(arg.value, arg.keyword.value, ctx)
            if what is not None and id(arg.value) not in seen:
                seen.add(id(arg.value))
                yield ctx.finding(HARDCODED_CREDENTIAL_IN_TASK, arg.value, what=what, task=fn.name)
    for name, values in fn.assignments.items():
        for value in values:
            what = _literal_secret(value, name, ctx) if isinstance(value, (cst.SimpleString, cst.ConcatenatedString)) else None
            if what is not None and id(value) not in seen:
                seen.add(id(value))
                yield ctx.finding(HARDCODED_CREDENTIAL_IN_TASK, value, what=what, task=fn.name)


# -- BG403 ------------------------------------------------------------------------------------
@CLIENT_FILENAME_PATH.on_site
def check_client_filename_path(site: TaskSite, ctx: RuleContext) -> Iterator[Finding]:
    for arg in iter_task_args(site, ctx.target(site)):
        path_expr = _local_value(arg.value, site.function)
        filename = _client_filename_in_path(path_expr, site.function, ctx)
        if filename is not None:
            yield ctx.finding(
                CLIENT_FILENAME_PATH,
                filename,
                fix=_basename_fix(filename, site.function, ctx),
                filename=ctx.code_for(filename),
            )


def _local_value(expr: cst.BaseExpression, fn: Optional[FunctionFacts]) -> cst.BaseExpression:
    """``path`` -> the expression last assigned to it in the function (one hop)."""
    if isinstance(expr, cst.Name) and fn is not None and expr.value in fn.assignments:
        return fn.assignments[expr.value][-1]
    return expr


def _is_client_filename(expr: cst.BaseExpression, fn: Optional[FunctionFacts], ctx: RuleContext) -> bool:
    if not (isinstance(expr, cst.Attribute) and expr.attr.value == "filename" and isinstance(expr.value, cst.Name)):
        return False
    info = ctx.param_for(expr.value.value, fn)
    return info is not None and info.is_type(names.UPLOAD_FILE)


def _client_filename_in_path(expr: cst.BaseExpression, fn: Optional[FunctionFacts], ctx: RuleContext) -> Optional[cst.BaseExpression]:
    if isinstance(expr, cst.FormattedString):
        for part in expr.parts:
            if isinstance(part, cst.FormattedStringExpression) and _is_client_filename(part.expression, fn, ctx):
                return part.expression
        return None
    if isinstance(expr, cst.Call) and ctx.qualify(expr.func, fn) in ("os.path.join", "posixpath.join") and expr.args:
        last = expr.args[-1].value
        return last if _is_client_filename(last, fn, ctx) else None
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, (cst.Divide, cst.Add)):
        return expr.right if _is_client_filename(expr.right, fn, ctx) else None
    return None


def _basename_fix(filename: cst.BaseExpression, fn: Optional[FunctionFacts], ctx: RuleContext) -> Optional[Fix]:
    need = ImportNeed("os")
    local = ctx.bound_name(need)
    if local is None:
        if _name_taken("os", fn, ctx.module):
            return None  # `os` means something else here
        local = "os"
    text = f"{local}.path.basename({ctx.code_for(filename)})"
    return ctx.fix(Safety.SAFE, [ctx.replace(filename, text)], "keep only the last part of the client's file name", [need])


def _name_taken(name: str, fn: Optional[FunctionFacts], module: ModuleFacts) -> bool:
    """Whether ``name`` is bound where ``fn`` would read it: in ``fn`` or an enclosing function, or
    at module level. (Names local to other functions do not count, so the answer never depends
    on which of them were parsed.)"""
    for scope in fn.chain() if fn is not None else ():
        if name in scope.imports or scope.binds(name) or name in scope.global_names:
            return True
    return name in module.imports or name in module.assignments or name in module.functions or name in module.classes


# -- BG404 ------------------------------------------------------------------------------------
_BODY_READS = {"json": "JSON body", "body": "body", "form": "form"}
_MAPPINGS = {"query_params": "query parameters", "headers": "headers", "cookies": "cookies", "path_params": "path parameters"}


@RAW_REQUEST_DATA_TO_TASK.on_site
def check_raw_request_data_to_task(site: TaskSite, ctx: RuleContext) -> Iterator[Finding]:
    for arg in iter_task_args(site, ctx.target(site)):
        value = _local_value(arg.value, site.function)
        what = _raw_request_data(value, site.function, ctx)
        if what is not None:
            yield ctx.finding(RAW_REQUEST_DATA_TO_TASK, arg.value, expr=ctx.code_for(arg.value), what=what)


def _is_request(expr: cst.BaseExpression, fn: Optional[FunctionFacts], ctx: RuleContext) -> bool:
    if not isinstance(expr, cst.Name):
        return False
    info = ctx.param_for(expr.value, fn)
    return info is not None and info.is_type(names.REQUEST, names.HTTP_CONNECTION)


def _raw_request_data(expr: cst.BaseExpression, fn: Optional[FunctionFacts], ctx: RuleContext) -> Optional[str]:
    if isinstance(expr, cst.Await):
        expr = expr.expression
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and expr.func.attr.value in _BODY_READS:
        return _BODY_READS[expr.func.attr.value] if _is_request(expr.func.value, fn, ctx) else None
    if isinstance(expr, cst.Call) and ctx.qualify(expr.func, fn) == "builtins.dict" and len(expr.args) == 1:
        return _raw_request_data(expr.args[0].value, fn, ctx)
    if isinstance(expr, cst.Attribute) and expr.attr.value in _MAPPINGS and _is_request(expr.value, fn, ctx):
        return _MAPPINGS[expr.attr.value]
    return None
