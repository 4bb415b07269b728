"""[tool.bglint] is read, validated and merged with the command line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bglint.cli import main
from bglint.config import ConfigError, RawConfig, build_settings, detect_fastapi_pin, find_config, load_file
from bglint.rules import ALL_CODES, DEFAULT_CODES
from tests._cli import runner

BAD = "from fastapi import BackgroundTasks\n\ndef ep(t: BackgroundTasks):\n    t.add_task(ep(t))\n"


def test_nearest_config_wins(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.bglint]\nignore = ['BG301']\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "pyproject.toml").write_text("[project]\nname = 'x'\n")  # no [tool.bglint]: skipped
    assert find_config(tmp_path / "sub") == tmp_path / "pyproject.toml"
    (tmp_path / "sub" / "bglint.toml").write_text("select = ['BG302']\n")
    assert find_config(tmp_path / "sub") == tmp_path / "sub" / "bglint.toml"


def test_selection_precedence() -> None:
    raw = RawConfig({"select": ["BG3"], "ignore": ["BG302"]})
    assert build_settings(raw, ALL_CODES, DEFAULT_CODES).select == {"BG301"} | {c for c in ALL_CODES if c.startswith("BG3") and c != "BG302"}
    cli = build_settings(raw, ALL_CODES, DEFAULT_CODES, cli_select=["BG302"])
    assert cli.select == {"BG302"}
    assert build_settings(raw, ALL_CODES, DEFAULT_CODES, cli_extend_select=["BG302"]).select >= {"BG302"}


@pytest.mark.parametrize(
    "toml, message",
    [
        ('selct = ["BG1"]', "unknown key `selct`"),
        ('select = "BG1"', "`select` must be a list of strings"),
        ('select = ["XX1"]', "unknown rule code or prefix `XX1`"),
        ('max-call-depth = "3"', "`max-call-depth` must be a non-negative integer"),
        ('secret-name-patterns = ["("]', "`secret-name-patterns`: invalid regular expression"),
        ("target-fastapi = 0.1", "`target-fastapi` must be a string"),
        ('per-file-ignores = { "tests/*" = ["NOPE"] }', "unknown rule code or prefix `NOPE`"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, toml: str, message: str) -> None:
    (tmp_path / "pyproject.toml").write_text(f"[tool.bglint]\n{toml}\n")
    with pytest.raises(ConfigError) as err:
        build_settings(load_file(tmp_path / "pyproject.toml"), ALL_CODES, DEFAULT_CODES)
    assert message in str(err.value)
    (tmp_path / "a.py").write_text(BAD)
    result = runner().invoke(main, ["check", str(tmp_path / "a.py")])
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_invalid_toml_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "bglint.toml").write_text("select = [\n")
    result = runner().invoke(main, ["check", "--config", str(tmp_path / "bglint.toml"), str(tmp_path)])
    assert result.exit_code == 2 and "invalid TOML" in result.stderr


def test_per_file_ignores_and_exclude(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        "[tool.bglint]\nextend-exclude = ['generated']\n[tool.bglint.per-file-ignores]\n'tests/*' = ['BG301']\n"
    )
    for rel in ("app/a.py", "tests/test_a.py", "generated/g.py"):
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        (tmp_path / rel).write_text(BAD)
    result = runner().invoke(main, ["check", "--output-format", "concise", "."])
    assert result.stdout.splitlines() == ["app/a.py:4:16: BG301 `ep(...)` runs during the request; pass `ep` and its arguments to `add_task`"]


def test_gitignored_files_are_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    monkeypatch.chdir(tmp_path)
    subprocess.run(["git", "init", "-q"], check=True)
    (tmp_path / ".gitignore").write_text("ignored_dir/\n")
    (tmp_path / "ignored_dir").mkdir()
    (tmp_path / "ignored_dir" / "x.py").write_text(BAD)
    (tmp_path / "kept.py").write_text(BAD)
    result = runner().invoke(main, ["check", "--output-format", "concise", "."])
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == ["kept.py"]
    # named explicitly, an ignored file is still checked (as ruff and flake8 do)
    result = runner().invoke(main, ["check", "--output-format", "concise", "ignored_dir/x.py"])
    assert result.exit_code == 1


def test_git_ignores_are_matched_by_path_below_the_folder_walked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """git lists paths relative to the folder it runs in; the walk matches them without resolving
    each file: from a subfolder, through a symlink to it, and with names git would quote."""
    import subprocess

    from bglint import discovery

    repo = tmp_path / "repo"
    (repo / "sub" / "pkg" / "gen").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "sub" / ".gitignore").write_text("gen/\nskip.py\n")
    for rel in ("sub/pkg/kept.py", "sub/pkg/été x.py", "sub/pkg/skip.py", "sub/pkg/gen/g.py", "sub/top.py"):
        (repo / rel).write_text("x = 1\n")
    (tmp_path / "link").symlink_to(repo / "sub")
    monkeypatch.chdir(repo)
    for given in ("sub", str(repo / "sub"), str(tmp_path / "link"), "sub/pkg"):
        found = discovery.discover([given], [], None)
        rel = sorted(p.relative_to(given).as_posix() for p in found.files)
        expected = ["pkg/kept.py", "pkg/été x.py", "top.py"] if given != "sub/pkg" else ["kept.py", "été x.py"]
        assert rel == expected, given
    # without git's say, everything is there
    assert len(discovery.discover(["sub"], [], None, respect_gitignore=False).files) == 5


@pytest.mark.parametrize(
    "name, text, expected",
    [
        ("requirements.txt", "uvicorn\nfastapi==0.100.1\n", (0, 100, 1)),
        ("requirements.txt", "fastapi[standard]>=0.115,<1\n", (0, 115)),
        ("pyproject.toml", "[project]\nname='x'\ndependencies = ['fastapi~=0.110.0']\n", (0, 110, 0)),
        ("pyproject.toml", "[tool.poetry.dependencies]\nfastapi = '^0.95.1'\n", (0, 95, 1)),
        ("requirements.txt", "fastapi\n", None),
        ("pyproject.toml", "[project]\ndependencies = ['FastAPI>=0.112']\n", (0, 112)),
        # spelled with an escape, or across a line continuation of a multi-line string
        ("pyproject.toml", "[project]\ndependencies = [\"fast\\u0061pi>=0.101\"]\n", (0, 101)),
        ("pyproject.toml", '[project]\ndependencies = [\"\"\"fast\\\n   api>=0.102\"\"\"]\n', (0, 102)),
    ],
)
def test_fastapi_pin(tmp_path: Path, name: str, text: str, expected: object) -> None:
    (tmp_path / name).write_text(text)
    assert detect_fastapi_pin(tmp_path) == expected
    settings = build_settings(RawConfig({"target-fastapi": "0.99"}), ALL_CODES, DEFAULT_CODES, root=tmp_path)
    assert settings.target_fastapi == (0, 99) and not settings.fastapi_at_least(0, 106)


def test_exclude_outside_the_root_matches_paths_as_given(tmp_path: Path) -> None:
    from bglint import discovery

    root, outside = tmp_path / "root", tmp_path / "elsewhere"
    (root / "generated").mkdir(parents=True)
    (root / "generated" / "real.py").write_text("x = 1\n")
    (outside / "generated").mkdir(parents=True)
    (outside / "generated" / "g.py").write_text("x = 1\n")
    (outside / "pkg").mkdir()
    (outside / "pkg" / "kept.py").write_text("x = 1\n")
    # a symlink outside the root to a file under it: matched by where it leads, relative to the root
    (outside / "pkg" / "link.py").symlink_to(root / "generated" / "real.py")
    (outside / "pkg" / "link_kept.py").symlink_to(outside / "pkg" / "kept.py")
    found = discovery.discover([str(outside)], ["generated/*", "*/elsewhere/generated"], root)
    assert sorted(p.relative_to(outside).as_posix() for p in found.files) == ["pkg/kept.py"]
    # "pkg/link_kept.py" is the same file as "pkg/kept.py": listed once


def test_git_is_not_started_outside_a_work_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    from bglint import discovery

    (tmp_path / "a.py").write_text("x = 1\n")
    monkeypatch.delenv("GIT_DIR", raising=False)
    monkeypatch.delenv("GIT_WORK_TREE", raising=False)
    monkeypatch.setattr(discovery.os.path, "exists", lambda p, real=discovery.os.path.exists: False if str(p).endswith(".git") else real(p))
    started = []
    real_popen = subprocess.Popen

    def popen(args: list, **kwargs: object) -> subprocess.Popen:
        started.append(args)
        return real_popen(args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(subprocess, "Popen", popen)
    assert [p.name for p in discovery.discover([str(tmp_path)], [], None).files] == ["a.py"]
    assert started == []
    # with GIT_DIR set, git is asked (here it answers nothing usable, so nothing is filtered)
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "elsewhere.git"))
    assert [p.name for p in discovery.discover([str(tmp_path)], [], None).files] == ["a.py"]
    assert len(started) == 1 and started[0][0] == "git"


@pytest.mark.parametrize(
    "patterns",
    [
        ["build", "node_modules"],  # plain names: looked up in a set, any depth
        ["a*c"],  # a glob's `*` spans `/` in a relative path: a/b/c.py, but no component is "a*c"
        ["pkg/gen", "*.pb2.py", "te?ts"],
        ["build", "pkg/gen/", "[ab]"],
        [],
    ],
)
def test_exclude_is_fnmatch_on_a_component_or_the_relative_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, patterns: list) -> None:
    """Patterns without a glob character or `/` are matched by a set lookup; the result is what
    `fnmatch` says of each component and of the path relative to the root."""
    import fnmatch

    from bglint import discovery

    rels = ["a/b/c.py", "abc.py", "build/x.py", "src/build/y.py", "pkg/gen/g.py", "pkg/gen.py", "pkg/m.pb2.py", "tests/t.py", "tets/t.py", "b/z.py", "ok/node_modules/n.py", "ok/fine.py"]
    for rel in rels:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x = 1\n")
    monkeypatch.chdir(tmp_path)

    def excluded(rel: str) -> bool:
        pats = [p.rstrip("/") for p in patterns]
        return any(fnmatch.fnmatchcase(part, p) for part in rel.split("/") for p in pats) or any(
            fnmatch.fnmatchcase(rel, p) or fnmatch.fnmatchcase(rel, p + "/*") for p in pats
        )

    expected = sorted(rel for rel in rels if not excluded(rel))
    found = discovery.discover(["."], patterns, tmp_path, respect_gitignore=False)
    assert sorted(p.as_posix() for p in found.files) == expected
    assert [discovery.is_excluded(Path(rel), patterns, tmp_path) for rel in rels] == [excluded(rel) for rel in rels]


def test_a_fifo_named_as_a_pin_file_is_not_read(tmp_path: Path) -> None:
    """Reading it would wait for a writer forever."""
    os.mkfifo(tmp_path / "requirements.txt")
    (tmp_path / "requirements.in").write_text("fastapi==0.110.0\n")
    assert detect_fastapi_pin(tmp_path) == (0, 110, 0)


def test_the_pin_is_parsed_when_a_rule_first_asks_for_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The settings keep the texts the pin is read from; a run that never asks (the cache answers
    it) parses no TOML."""
    from bglint import config

    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\ndependencies = ['fastapi>=0.110']\n")
    parsed: list = []
    loads = config._loads
    monkeypatch.setattr(config, "_loads", lambda text: parsed.append(text) or loads(text))
    settings = build_settings(RawConfig({}), ALL_CODES, DEFAULT_CODES, root=tmp_path)
    assert parsed == [] and settings.target_fastapi is None
    assert settings.fastapi_at_least(0, 106) and not settings.fastapi_at_least(0, 118) and len(parsed) == 1
    # another text is another settings (and cache key), with its own pin
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\ndependencies = ['fastapi>=0.118']\n")
    again = build_settings(RawConfig({}), ALL_CODES, DEFAULT_CODES, root=tmp_path)
    assert again != settings and again.fastapi_at_least(0, 118)


def test_a_pyproject_is_parsed_only_if_it_can_name_bglint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A key spelled with an escape is found; a pyproject that cannot spell the key is not parsed."""
    from bglint import config

    (tmp_path / "pyproject.toml").write_text('[tool."\\u0062glint"]\nselect = ["BG301"]\n')
    assert config.find_config(tmp_path) == tmp_path / "pyproject.toml"
    assert config.load_file(tmp_path / "pyproject.toml").values == {"select": ["BG301"]}
    (tmp_path / "pyproject.toml").write_text("[tool.ruff]\nline-length = 100\n")
    parsed: list = []
    monkeypatch.setattr(config, "_loads", lambda text: parsed.append(text) or {})
    assert config.find_config(tmp_path) is None
    assert parsed == []
