"""`infiniti-sync init`: a starting project from each kind of export that validates, passes its own tests
and plans at once, runs against the sandbox its own config describes, and never overwrites a file."""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner import schema
from tests.support.project import EXAMPLE, Done, invoke, point_at
from tests.support.sandbox import start_sandbox_process

SDS = Path(__file__).parent / "data" / "sds-samples"
PASSWORD = {"SCHOOL_INFINITI_PASSWORD": "change-me"}
GENERATED = (
    "infiniti-sync.yaml",
    "specs/students.yaml",
    "specs/staff.yaml",
    "sandbox.yaml",
    ".gitignore",
    *(f"schemas/{name}" for name in schema.FILES.values()),
)


def write_csv(folder: Path, name: str, header: str, rows: Sequence[str]) -> None:
    """`folder/name.csv`: the header line and the rows, CRLF-terminated as exports are."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.csv").write_text("".join(f"{line}\r\n" for line in (header, *rows)), encoding="utf-8")


def oneroster_11(folder: Path) -> Path:
    """A small OneRoster 1.1 bundle of invented people: 4 students (one to be deleted), 2 staff, a parent."""
    write_csv(folder, "manifest", "propertyName,value", ["manifest.version,1.0", "oneroster.version,1.1"])
    header = (
        "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,"
        "familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password"
    )
    people = [
        "u1,active,,true,o1,student,aa.one,,Aa,One,,,aa.one@example.edu,,,,07,",
        "u2,active,,true,o1,student,bb.two,,Bb,Two,,,bb.two@example.edu,,,,08,",
        "u3,,,true,o1,student,cc.three,,Cc,Three,,,,,,,08,",
        "u4,tobedeleted,,true,o1,student,dd.four,,Dd,Four,,,,,,,09,",
        "u5,active,,true,o1,teacher,ee.five,,Ee,Five,,,ee.five@example.edu,,,,,",
        "u6,active,,true,o1,administrator,ff.six,,Ff,Six,,,ff.six@example.edu,,,,,",
        "u7,active,,true,o1,parent,gg.seven,,Gg,Seven,,,gg@example.com,,,,,",
    ]
    write_csv(folder, "users", header, people)
    write_csv(folder, "orgs", "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId", [])
    return folder


def oneroster_12(folder: Path) -> Path:
    """A small OneRoster 1.2 bundle as they come: users.csv with the standard's misspelt
    prefferedGivenName, roles.csv whose header ends in two empty cells its rows do not have."""
    write_csv(folder, "manifest", "propertyName,value", ["manifest.version,1.0", "oneroster.version,1.2"])
    header = (
        "sourcedId,status,dateLastModified,enabledUser,username,userIds,givenName,familyName,middleName,"
        "identifier,email,sms,phone,agentSourcedIds,grades,password,userMasterIdentifier,prefferedGivenName,"
        "prefferedMiddleName,prefferedFamilyName,primaryOrgSourcedId,pronouns"
    )
    users = [
        "u1,active,,TRUE,aa.one,,Aa,One,,,aa.one@example.edu,,,,10,,,Ace,,,o1,",
        "u2,active,,TRUE,bb.two,,Bb,Two,,,bb.two@example.edu,,,,11,,,,,,o1,",
        "u3,active,,FALSE,cc.three,,Cc,Three,,,,,,,11,,,,,,o1,",
        "u4,active,,TRUE,dd.four,,Dd,Four,,,dd.four@example.edu,,,,,,,,,,o1,",
        "u5,active,,TRUE,ee.five,,Ee,Five,,,,,,,,,,,,,o1,",
    ]
    write_csv(folder, "users", header, users)
    roles = [  # u1 has primary student roles in two schools: one line in the file all the same
        "r1,active,2025-01-01,u1,primary,student,,,o1",
        "r2,active,2025-01-01,u1,primary,student,,,o2",
        "r3,active,2025-01-01,u2,primary,student,,,o1",
        "r4,active,2025-01-01,u3,primary,student,,,o1",
        "r5,active,2025-01-01,u4,primary,teacher,,,o1",
        "r6,active,2025-01-01,u5,secondary,teacher,,,o1",
        "r7,active,2025-01-01,u5,primary,guardian,,,o1",
    ]
    write_csv(
        folder,
        "roles",
        "sourcedId,status,dataLastModified,userSourcedId,roleType,role,beginDate,endDate,orgSourcedId,,",
        roles,
    )
    return folder


def generic(folder: Path) -> Path:
    """One CSV file of no known layout whose column names say what they hold."""
    write_csv(
        folder,
        "people",
        "Code,First Name,Last Name,Email Address,Year,Type,Status",
        [
            "P01,Aa,One,aa@example.edu,7,Student,Active",
            "P02,Bb,Two,bb@example.edu,7,Student,Active",
            "P03,Cc,Three,cc@example.edu,8,Student,Left",
            "P04,Dd,Four,dd@example.edu,,Teacher,Active",
        ],
    )
    return folder / "people.csv"


def init(tmp_path: Path, source: Path | str, *args: str, folder: str = "project") -> Done:
    return invoke(tmp_path, ["init", folder, "--from", os.fspath(source), *args], PASSWORD)


def plan_counts(project: Path) -> dict[str, int]:
    done = invoke(project, ["plan", "--format", "json"], PASSWORD)
    assert done.code == 0, done.out + done.err
    return {p["spec"]: p["rows"]["in_file"] for p in json.loads(done.out)["plans"]}


# (export, what init calls it, students and staff planned, the library groups found)
EXPORTS = {
    "sds-v1": (SDS / "sds_v1_format_100_users", "School Data Sync v1", 86, 12, "Year 9", "Year 12"),
    "sds-v1-uk": (SDS / "sds_v1_uk_format_100_users", "School Data Sync v1", 86, 12, "Year 9", "Year 12"),
    "sds-v2": (SDS / "sds_v2_oneroster_style", "School Data Sync v2", 22, 7, "Year 6", "undergraduate"),
    "sds-v2.1": (SDS / "sds_v2.1", "School Data Sync v2.1", 4, 2, "Year 10", "ps1"),
    # students.csv and staff.csv of no known layout: the example project's SMS export
    "named-tables": (EXAMPLE / "sms-export", "an export of no known layout", 31, 7, "Year 7", "Year 12"),
}
BUILT = {
    "oneroster-1.1": (oneroster_11, "OneRoster 1.1", 3, 2, "Year 7", "Year 8"),
    "oneroster-1.2": (oneroster_12, "OneRoster 1.2", 2, 1, "Year 10", "Year 11"),
    "generic": (generic, "an export of no known layout", 2, 1, "Year 7", "Year 7"),
}


def _export(tmp_path: Path, name: str) -> tuple[Path, str, int, int, str, str]:
    if name in EXPORTS:
        source, *rest = EXPORTS[name]
        copied = tmp_path / "export"
        shutil.copytree(source, copied)  # beside the project: written as ../export
        return (copied, *rest)  # type: ignore[return-value]
    build, *rest = BUILT[name]
    return (build(tmp_path / "export"), *rest)  # type: ignore[return-value]


@pytest.mark.parametrize("name", [*EXPORTS, *BUILT])
def test_the_project_validates_passes_its_tests_and_plans(tmp_path: Path, name: str) -> None:
    source, title, students, staff, first, last = _export(tmp_path, name)
    done = init(tmp_path, source)
    assert done.code == 0, done.err
    assert done.out.startswith(f"Wrote a starting project for {'' if 'no known' in title else 'a '}")
    assert title in done.out.splitlines()[0]
    project = tmp_path / "project"
    assert sorted(p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()) == sorted(
        GENERATED
    )
    assert invoke(project, ["validate"]).code == 0
    tested = invoke(project, ["test"])
    assert tested.code == 0, tested.out
    assert "4 passed, 0 failed" in tested.out
    assert plan_counts(project) == {"students": students, "staff": staff}
    library = _yaml(project / "specs" / "students.yaml")["groups"]["library"]
    assert (library[0], library[-1]) == (first, last)
    assert _yaml(project / "sandbox.yaml")["tenants"]["school"]["library_groups"] == [*library, "Staff"]
    connection = "../export/people.csv" if name == "generic" else "../export"  # beside the project
    written = (project / "infiniti-sync.yaml").read_text(encoding="utf-8")
    assert f"      export: {{files: {connection}}}\n" in written


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_the_files_point_editors_at_the_schemas_and_keep_state_out_of_git(tmp_path: Path) -> None:
    init(tmp_path, oneroster_11(tmp_path / "export"))
    project = tmp_path / "project"
    assert (
        (project / "infiniti-sync.yaml")
        .read_text(encoding="utf-8")
        .startswith("# yaml-language-server: $schema=schemas/project.schema.json\n")
    )
    for spec in ("students", "staff"):
        first = (project / "specs" / f"{spec}.yaml").read_text(encoding="utf-8").splitlines()[0]
        assert first == "# yaml-language-server: $schema=../schemas/sync-spec.schema.json"
    for which, name in schema.FILES.items():
        assert (project / "schemas" / name).read_text(encoding="utf-8") == schema.text(which)
    assert ".infiniti-sync/" in (project / ".gitignore").read_text(encoding="utf-8").splitlines()
    text = (project / "infiniti-sync.yaml").read_text(encoding="utf-8")
    assert "password: {env: SCHOOL_INFINITI_PASSWORD}" in text


def test_the_misspelt_preferred_name_is_read_and_said(tmp_path: Path) -> None:
    init(tmp_path, oneroster_12(tmp_path / "export"))
    spec = (tmp_path / "project" / "specs" / "students.yaml").read_text(encoding="utf-8")
    assert "u.prefferedGivenName AS preferred_name" in spec
    assert "prefferedGivenName (sic" in spec
    done = invoke(tmp_path / "project", ["plan", "--format", "json"], PASSWORD)
    preview = json.loads(done.out)["plans"][0]["preview"]
    assert [(p["username"], p["givenName"]) for p in preview] == [("aa.one", "Ace"), ("bb.two", "Bb")]


def test_a_run_against_the_sandbox_the_project_describes(tmp_path: Path) -> None:
    """The next steps init prints, in this system's shell, are the ones that work."""
    made = init(tmp_path, oneroster_12(tmp_path / "export"))
    setting = "set" if os.name == "nt" else "export"  # cmd.exe's, or a POSIX shell's
    assert made.out.endswith(
        "  infiniti-sync sandbox --config sandbox.yaml   (in another terminal, in this folder)\n"
        f"  {setting} SCHOOL_INFINITI_PASSWORD=change-me   (the sandbox's password)\n"
        "  infiniti-sync run --tenant school\n"
    )
    assert PASSWORD == {"SCHOOL_INFINITI_PASSWORD": "change-me"}
    project = tmp_path / "project"
    with (tmp_path / "sandbox.log").open("w", encoding="utf-8") as log:
        sandbox = start_sandbox_process(
            project / ".infiniti-sync" / "sandbox", config=project / "sandbox.yaml", log=log
        )
        try:
            point_at(project / "infiniti-sync.yaml", sandbox.url)
            done = invoke(project, ["run", "--tenant", "school"], PASSWORD)
            assert done.code == 0, done.out + done.err
            held = {u["username"]: u["library-group"] for u in sandbox.users("school")}
        finally:
            sandbox.stop()
    assert held == {"aa.one": "Year 10", "bb.two": "Year 11", "dd.four": "Staff"}


def test_nothing_is_overwritten(tmp_path: Path) -> None:
    source = oneroster_11(tmp_path / "export")
    assert init(tmp_path, source).code == 0
    project = tmp_path / "project"
    (project / "specs" / "students.yaml").write_text("# mine\n", encoding="utf-8")
    before = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}
    again = init(tmp_path, source)
    assert again.code == 2
    assert "exist already; nothing was written" in again.err
    assert "init never overwrites a file" in again.err
    assert {p: p.read_bytes() for p in project.rglob("*") if p.is_file()} == before


def test_one_file_in_the_way_stops_every_file(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / ".gitignore").write_text("build/\n", encoding="utf-8")
    done = init(tmp_path, oneroster_11(tmp_path / "export"))
    assert done.code == 2
    assert "error: project: .gitignore exists already; nothing was written\n" in done.err
    assert [p.name for p in project.iterdir()] == [".gitignore"]


def _unrecognised(folder: Path) -> Path:
    write_csv(folder, "eleves", "Ref,Nom,Prenom,Classe", ["E1,Un,Aa,6A", "E2,Deux,Bb,5B"])
    return folder


def test_an_unrecognised_export_leaves_choices_that_validate_reports(tmp_path: Path) -> None:
    done = init(tmp_path, _unrecognised(tmp_path / "export"))
    assert done.code == 0, done.err
    assert "choices to make in specs/ (<CHOOSE: ...>): infiniti-sync validate lists them" in done.out
    project = tmp_path / "project"
    checked = invoke(project, ["validate"])
    assert checked.code == 2
    lines = checked.out.splitlines()
    choices = [line for line in lines if "a choice to make:" in line]
    assert choices and all("write it in place of the <CHOOSE: ...> marker" in line for line in choices)
    wanted = "the column of eleves that holds the Infiniti username (one of: Ref, Nom, Prenom, Classe)"
    assert any(line.startswith("specs/students.yaml:") and wanted in line for line in choices)
    assert any(line.startswith("specs/staff.yaml:") and "keeps the staff's rows" in line for line in choices)
    in_queries = [line for line in choices if ": $.source.query: " in line]
    assert len(in_queries) == 10  # five columns in each query, and the staff's condition
    for found in in_queries:  # each at its place inside the query
        name, line, col = found.split(":")[:3]
        text = (project / name).read_text(encoding="utf-8").splitlines()[int(line) - 1]
        assert text[int(col) - 1 :].startswith("<CHOOSE: ")
    assert invoke(project, ["plan"]).code == 2  # nothing runs until the choices are made


def test_a_made_choice_is_no_longer_reported(tmp_path: Path) -> None:
    init(tmp_path, _unrecognised(tmp_path / "export"))
    spec = tmp_path / "project" / "specs" / "students.yaml"
    text = spec.read_text(encoding="utf-8")
    before = text.count("<CHOOSE: ")
    chosen = text.replace(
        "<CHOOSE: the column of eleves that holds the Infiniti username (one of: Ref, Nom, Prenom, Classe)>",
        "Ref",
    )
    spec.write_text(chosen, encoding="utf-8")
    lines = invoke(tmp_path / "project", ["validate", "specs/students.yaml"]).out.splitlines()
    assert sum("a choice to make" in line for line in lines) == chosen.count("<CHOOSE: ") < before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "missing"], "--from missing: no such file or folder"),
        (["--from", "empty"], "--from empty: no CSV file to read there"),
        (["--from", "export", "--tenant", "bad name"], "--tenant 'bad name': "),
    ],
)
def test_what_init_cannot_start_from(tmp_path: Path, args: Sequence[str], message: str) -> None:
    (tmp_path / "empty").mkdir()
    oneroster_11(tmp_path / "export")
    done = invoke(tmp_path, ["init", "project", *args])
    assert done.code == 2
    assert message in done.err
    assert not (tmp_path / "project").exists()


def test_demo_keep_writes_the_same_gitignore_and_schemas(tmp_path: Path) -> None:
    init(tmp_path, oneroster_11(tmp_path / "export"))
    kept = tmp_path / "kept"
    assert invoke(tmp_path, ["demo", "--keep", os.fspath(kept)]).code == 0
    for name in (".gitignore", *(f"schemas/{n}" for n in schema.FILES.values())):
        assert (kept / name).read_bytes() == (tmp_path / "project" / name).read_bytes()


def test_the_package_data_ships_the_templates() -> None:
    """A wheel holds what pyproject.toml's package-data names; init reads its templates out of it."""
    root = Path(__file__).resolve().parents[1]
    patterns = tomllib.loads((root / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"][
        "package-data"
    ]
    templates = [
        p.relative_to(root / "runner").as_posix() for p in (root / "runner" / "init" / "templates").iterdir()
    ]
    assert len(templates) == 5
    assert [t for t in templates if not any(fnmatch.fnmatchcase(t, p) for p in patterns["runner"])] == []
