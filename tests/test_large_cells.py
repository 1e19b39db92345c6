"""A cell far longer than the csv module's default field limit (131,072 characters), such as a 200 KB value
from a database, through `plan`, `test` and `run` on the example project: each command reads back the
import file it wrote (preview, duplicates, spec test results, changes, the upload), and none may fail on it.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.project import EXAMPLE, Site, copy_project, invoke

LONG = "Carter-" + "é" * 200_000


def _overlay(folder: Path) -> Path:
    """The example's staff export and spec with a 200,000-character surname (Helen Carter's, and the
    spec test's)."""
    staff = (EXAMPLE / "sms-export" / "staff.csv").read_text(encoding="utf-8")
    spec = (EXAMPLE / "specs" / "staff.yaml").read_text(encoding="utf-8")
    assert ",Helen,Carter," in staff and spec.count("O'Brien") == 2
    (folder / "sms-export").mkdir(parents=True)
    (folder / "specs").mkdir()
    (folder / "sms-export" / "staff.csv").write_text(staff.replace(",Carter,", f",{LONG},"), encoding="utf-8")
    (folder / "specs" / "staff.yaml").write_text(spec.replace("O'Brien", LONG), encoding="utf-8")
    return folder


def test_plan_and_test_read_back_a_long_cell(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "project", _overlay(tmp_path / "overlay")).parent
    planned = invoke(root, ["plan", "--spec", "staff", "--out", str(tmp_path / "out")])
    assert (planned.code, planned.err) == (0, "")
    assert (
        "t201      Staff          Staff         helen.carter@example.edu  Helen      Carter-éééééééééééééééé…"
        in planned.out
    )
    written = (tmp_path / "out" / "demo" / "staff.csv").read_bytes().decode("utf-8")
    assert f"t201,Staff,Staff,helen.carter@example.edu,Helen,{LONG},TRUE\r\n" in written
    tested = invoke(root, ["test"])
    assert (tested.code, tested.err) == (0, "")


def test_run_reads_back_a_long_cell_and_sends_the_file(tmp_path: Path) -> None:
    """`run` reads its file back before sending it (for the changes and the state); the file reaches
    Infiniti, whose answer is reported. (The sandbox itself, like Python's csv module by default, refuses
    a field over 131,072 characters, with HTTP 400: its decision, reported as Infiniti's answer, exit 3.)"""
    site = Site.start(tmp_path / "project", overlay=_overlay(tmp_path / "overlay"))
    try:
        done = site.invoke(["run", "--tenant", "demo", "--spec", "staff"])
        assert len(site.imports()) == 1
    finally:
        site.stop()
    assert done.code in (0, 3), done.out
    assert done.out.startswith("demo/staff: ")
    assert "internal error" not in done.out + done.err
