"""BG403 on the installed FastAPI: a path built from the client's file name lets the client choose
where the file is written and which path the task gets.

Premise check: Starlette hands `UploadFile.filename` over as the client wrote it in
Content-Disposition. python-multipart (0.0.34 here) strips only Windows-style full paths
(`C:\\...`, its old IE6 workaround); `../../evil.txt` and absolute POSIX paths arrive untouched.
The rule's examples write under `/srv/uploads`; the tests point that at a directory in tmp_path.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

import pytest

from bglint.rules import get
from tests.runtime._asgi_call import request
from tests.runtime._support import load_example

RULE = get("BG403")
BAD_JOIN = RULE.bad.replace("from fastapi import", "import os\nfrom fastapi import", 1).replace(
    'f"/srv/uploads/{file.filename}"', 'os.path.join("/srv/uploads", file.filename)'
)


def _upload(source: str, tmp_path: Path, filename: str) -> Tuple[List[str], Path]:
    """Upload b"pwned" as ``filename`` (hand-written multipart body, so nothing rewrites the name).

    Returns the paths the task was handed and the upload directory.
    """
    upload_dir = tmp_path / "srv" / "uploads"
    upload_dir.mkdir(parents=True)
    assert "/srv/uploads" in source
    example = load_example(source.replace("/srv/uploads", str(upload_dir)), tmp_path)
    handed: List[str] = []
    example.process = handed.append  # looked up when the endpoint runs
    body = (
        b"--B\r\n"
        b'Content-Disposition: form-data; name="file"; filename="' + filename.encode() + b'"\r\n'
        b"Content-Type: text/plain\r\n\r\npwned\r\n--B--\r\n"
    )
    exchange = request(example.app, "POST", "/upload", body=body, headers=[("content-type", "multipart/form-data; boundary=B")])
    assert (exchange.status, exchange.error) == (200, None)
    return handed, upload_dir


@pytest.mark.parametrize(("filename", "lands_in"), [("../../evil.txt", "."), ("./../evil.txt", "srv")])
def test_bad_example_writes_outside_the_upload_dir(filename: str, lands_in: str, tmp_path: Path) -> None:
    handed, upload_dir = _upload(RULE.bad, tmp_path, filename)
    assert handed == [f"{upload_dir}/{filename}"]  # delivered as sent, nothing stripped
    assert (tmp_path / lands_in / "evil.txt").read_bytes() == b"pwned"
    assert list(upload_dir.iterdir()) == []


def test_join_with_an_absolute_name_drops_the_upload_dir(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.txt"  # a client would send /etc/cron.d/... or ~/.ssh/...
    handed, upload_dir = _upload(BAD_JOIN, tmp_path, str(target))
    assert handed == [str(target)]
    assert target.read_bytes() == b"pwned"
    assert list(upload_dir.iterdir()) == []


def test_windows_full_paths_are_the_only_thing_stripped(tmp_path: Path) -> None:
    handed, upload_dir = _upload(RULE.bad, tmp_path, r"C:\\Users\\me\\report.txt")
    assert handed == [f"{upload_dir}/report.txt"]  # python-multipart's IE6 workaround
    assert (upload_dir / "report.txt").read_bytes() == b"pwned"


@pytest.mark.parametrize("filename", ["../../evil.txt", "/abs/evil.txt"])
def test_good_example_stays_in_the_upload_dir(filename: str, tmp_path: Path) -> None:
    handed, upload_dir = _upload(RULE.good, tmp_path, filename)
    assert handed == [f"{upload_dir}/evil.txt"]
    assert (upload_dir / "evil.txt").read_bytes() == b"pwned"
    assert not (tmp_path / "evil.txt").exists()
