"""Rendering: templates, filters, `where`, the sandbox, and a failing row that stops only itself."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from runner import bounds
from runner import render as render_module
from runner.csvfile import read_records
from runner.errors import QueryError, Where
from runner.plan import build
from runner.render import Context, Renderer, RowError, TranslationError, render_params, skip
from runner.source import StaticRows
from runner.spec import Checks
from runner.templates import ascii_fold, nonempty, re_sub, slug, tf, zpad
from tests.support.specs import make_spec, make_tenant

VARS = {"campus": "North", "year": 7}
LOOKUPS = {"year_group": {"07": "Year 7", "8": "Year 8"}}


def render(template: str, row: Mapping[str, Any], *, where: str | None = None) -> tuple[str, ...] | None:
    """The cells of `row` under a spec whose username column is `template`."""
    spec = make_spec({"username": template}, where=where, lookups=LOOKUPS)
    context = Context.of(spec, VARS, make_tenant().context())
    return Renderer(spec, tuple(row), context).row(tuple(row.values()))


def cell(template: str, **row: Any) -> str:
    """What `template` prints for one row."""
    cells = render(template, row or {"code": "S001"})
    assert cells is not None
    return cells[0]


def failure(template: str, **row: Any) -> str:
    """Why `template` fails for one row: `column: reason`."""
    with pytest.raises(RowError) as caught:
        render(template, row or {"code": "S001"})
    return str(caught.value)


@pytest.mark.parametrize(
    ("template", "row", "expected"),
    [
        ("{{ row.code }}", {"code": "S001"}, "S001"),
        ("{{ row['First Name'] }}", {"First Name": "Ana"}, "Ana"),
        ("{{ row.code | lower }}", {"code": "S001"}, "s001"),
        ("{{ row.given | trim | title }}", {"given": "  mary-jane o'NEIL "}, "Mary-Jane O'neil"),  # Jinja's
        ("{{ row.given | upper }}", {"given": "Tāne"}, "TĀNE"),
        ("{{ row.nick | default('none given') }}", {"code": "S001"}, "none given"),
        ("{{ row.email | replace('@old.example', '@example') }}", {"email": "a@old.example"}, "a@example"),
        ("{{ row.given }} {{ row.family }}", {"given": "Ana", "family": "Lee"}, "Ana Lee"),
        ("{{ row.given ~ '.' ~ row.family }}", {"given": "Ana", "family": "Lee"}, "Ana.Lee"),
        ("{{ lookups.year_group[row.year] }}", {"year": "07"}, "Year 7"),
        ("{{ lookups.year_group[row.year] }}", {"year": 8}, "Year 8"),  # a number finds the text key
        ("{{ 'Staff' if row.role == 'T' else 'Students' }}", {"role": "T"}, "Staff"),
        ("{{ row.year in ['07', '08'] and not row.left }}", {"year": "07", "left": False}, "TRUE"),
        ("{{ vars.campus }}/{{ tenant.name }}/{{ tenant.id }}", {"code": "S1"}, "North/stmarys/stm"),
        ("{{ row.n * 2 }}", {"n": 21}, "42"),  # arithmetic: rendered by Jinja itself
        ("{% if row.n > 1 %}many{% else %}one{% endif %}", {"n": 2}, "many"),
        # SQL NULL is an empty cell, through the text filters too; booleans are Infiniti's TRUE/FALSE
        ("{{ row.email }}", {"email": None}, ""),
        ("{{ row.email | trim | lower }}", {"email": None}, ""),
        ("{{ row.middle | title }}", {"middle": None}, ""),
        ("{{ row.staff }}", {"staff": True}, "TRUE"),
        ("{{ row.staff }}", {"staff": False}, "FALSE"),
        ("{{ row.n }}", {"n": 0}, "0"),
        ("{{ true }}", {"code": "S1"}, "TRUE"),
    ],
)
def test_templates_print(template: str, row: dict[str, Any], expected: str) -> None:
    assert cell(template, **row) == expected


@pytest.mark.parametrize(
    ("template", "value", "expected"),
    [
        ("zpad(3)", "7", "007"),
        ("zpad(3)", 7, "007"),
        ("zpad", "7", "07"),
        ("zpad(2)", "123", "123"),
        ("zpad(4)", None, "0000"),
        ("ascii", "Māori Tāne", "Maori Tane"),
        ("ascii", "Nguyễn Thị Đặng", "Nguyen Thi Dang"),
        ("ascii", "Zoë Müller-Øster Łukasz Straße", "Zoe Muller-Oster Lukasz Strasse"),
        ("ascii", "李伟 김지우", "李伟 김지우"),  # other scripts stay as they are, Hangul composed
        ("slug", "Year 7 (Blue)", "year-7-blue"),
        ("slug('_')", "  Ngāti Porou / Ōtautahi ", "ngati_porou_otautahi"),
        ("tf", "yes", "TRUE"),
        ("tf", " No ", "FALSE"),
        ("tf", "0", "FALSE"),
        ("tf", "", "FALSE"),
        ("tf", 1, "TRUE"),
        ("tf", None, "FALSE"),
        ("re_sub('[^0-9]', '')", "+64 (21) 555-0100", "64215550100"),
        ("re_sub('\\\\s+', ' ')", "Ana \t  Maria", "Ana Maria"),
        ("nonempty('Kid')", "  ", "Kid"),
        ("nonempty('Kid')", None, "Kid"),
        ("nonempty('Kid')", "Bob", "Bob"),
    ],
)
def test_the_custom_filters(template: str, value: Any, expected: str) -> None:
    assert cell(f"{{{{ row.value | {template} }}}}", value=value) == expected


def test_the_filters_as_functions() -> None:
    assert (zpad("5", 3), ascii_fold("Tāne"), slug("Year 7"), tf("TRUE"), re_sub("a-b", "-")) == (
        "005",
        "Tane",
        "year-7",
        "TRUE",
        "ab",
    )
    assert nonempty("", 3) == 3


@pytest.mark.parametrize(
    ("template", "row", "message"),
    [
        (
            "{{ lookups.year_group[row.year] }}",
            {"year": "12"},
            "username: lookup 'year_group' has no key '12'",
        ),
        (
            "{{ lookups.year_group[row.year] }}",
            {"year": "items"},
            "username: lookup 'year_group' has no key 'items'",
        ),
        ("{{ vars.house }}", {"code": "S1"}, "username: vars has no 'house' (it has: campus, year)"),
        ("{{ row.n + 1 }}", {"n": "7"}, 'username: TypeError: can only concatenate str (not "int") to str'),
        (
            "{{ row.code.__class__ }}",
            {"code": "S1"},
            "username: access to attribute '__class__' of 'str' object is unsafe.",
        ),
        (
            "{{ row.code.__class__.__mro__ }}",
            {"code": "S1"},
            "username: access to attribute '__class__' of 'str' object is unsafe.",
        ),
        (
            "{{ lookups.year_group.clear() }}",
            {"code": "S1"},
            "username: access to attribute 'clear' of 'LookupTable' object is unsafe.",
        ),
    ],
)
def test_a_row_that_cannot_be_rendered_fails_alone(template: str, row: dict[str, Any], message: str) -> None:
    assert failure(template, **row) == message


def test_a_column_the_query_does_not_return_is_a_spec_error_before_any_row() -> None:
    with pytest.raises(QueryError) as caught:
        render("{{ row.missing if false else '' }}{{ row.x }}", {"x": "1"})
    assert str(caught.value) == (
        "spec people: the template of username reads row.missing, but the query returns no such column"
        "\n  hint: the query returns: x"
    )


def test_a_failed_row_is_recorded_with_its_identity_and_the_others_go_on(tmp_path: Path) -> None:
    spec = make_spec(
        {
            "username": "{{ row.student_code | lower }}",
            "library-group": "{{ lookups.year_group[row.year] }}",
            "givenName": "{{ row.given }}",
        },
        lookups=LOOKUPS,
        ids=["student_code"],
        checks=Checks(max_invalid=Checks().max_invalid.parse(1)),
    )
    rows = StaticRows(
        [
            {"student_code": "S001", "year": "07", "given": "Ana"},
            {"student_code": "S002", "year": "8", "given": "Bo"},
            {"student_code": "S003", "year": "13", "given": "Cy"},
            {"student_code": "S004", "year": "07", "given": "Di"},
        ]
    )
    planned = build(spec, make_tenant(), rows, tmp_path / "people.csv")
    assert [(f.where, f.check, f.message) for f in planned.findings] == [
        ("row 3 (student_code=S003)", "template", "library-group: lookup 'year_group' has no key '13'")
    ]
    assert [r[0] for r in read_records(planned.path)] == ["username", "s001", "s002", "s004"]
    assert (planned.rows_read, planned.rows_out, planned.ok) == (4, 3, True)


def test_the_identity_is_the_first_column_unless_the_spec_names_one(tmp_path: Path) -> None:
    spec = make_spec({"username": "{{ row.code }}", "library-group": "{{ row.group }}"})
    planned = build(spec, make_tenant(), StaticRows([{"code": "S9", "group": "Nope"}]), tmp_path / "f.csv")
    assert [f.where for f in planned.findings] == ["row 1 (code=S9)"]


def test_id_columns_the_query_does_not_return_are_a_spec_error(tmp_path: Path) -> None:
    spec = make_spec({"username": "{{ row.code }}"}, ids=["student_code"])
    with pytest.raises(QueryError) as caught:
        build(spec, make_tenant(), StaticRows([{"code": "S1"}]), tmp_path / "f.csv")
    assert str(caught.value) == (
        "tenant stmarys, spec people, connection db: source.id names 'student_code', which is not among "
        "the columns the test rows have\n  hint: the test rows have: code"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("text", "skipped"),
    [
        ("", True),
        ("false", True),
        ("FALSE", True),
        (" False ", True),
        ("0", True),
        ("none", True),
        ("no", True),
        ("TRUE", False),
        ("1", False),
        ("yes", False),
        ("anything else", False),
    ],
)
def test_what_where_means(text: str, skipped: bool) -> None:
    assert skip(text) is skipped


@pytest.mark.parametrize(
    ("where", "row", "kept"),
    [
        ("{{ row.year in lookups.year_group }}", {"code": "S1", "year": "07"}, True),
        ("{{ row.year in lookups.year_group }}", {"code": "S1", "year": "06"}, False),
        ("{{ row.status == 'Active' }}", {"code": "S1", "status": "Left"}, False),
        ("{{ row.left }}", {"code": "S1", "left": None}, False),  # NULL prints nothing: skipped
        ("{{ row.left }}", {"code": "S1", "left": 0}, False),
        ("{{ row.email }}", {"code": "S1", "email": "a@example.edu"}, True),  # any other text keeps it
        ("{% if row.year != '06' %}yes{% endif %}", {"code": "S1", "year": "06"}, False),
    ],
)
def test_where_keeps_or_skips_a_row(where: str, row: dict[str, Any], kept: bool) -> None:
    assert (render("{{ row.code }}", row, where=where) is not None) is kept


def test_a_failing_where_fails_the_row_naming_where() -> None:
    with pytest.raises(RowError) as caught:
        render("{{ row.code }}", {"code": "S1", "year": "7"}, where="{{ lookups.year_group[row.year] }}")
    assert (caught.value.column, caught.value.reason) == ("where", "lookup 'year_group' has no key '7'")


def test_a_column_read_only_under_a_guard_may_be_missing() -> None:
    template = "{{ row.nick if row.nick is defined else row.given }}"
    assert render(template, {"given": "Ana"}) == ("Ana", "Year 7", "Students")


def test_templates_are_compiled_once_and_mostly_translated() -> None:
    spec = make_spec(
        {"username": "{{ row.code | lower }}", "givenName": "{{ row.n * 2 }}", "surname": "Lee"},
        lookups=LOOKUPS,
    )
    renderer = Renderer(spec, ("code", "n"), Context.of(spec, VARS, make_tenant().context()))
    assert renderer.translated == 1  # the constants are folded; row.n * 2 is Jinja's
    assert [renderer.row((f"S{n}", n)) for n in (1, 2)] == [
        ("s1", "Year 7", "Students", "2", "Lee"),
        ("s2", "Year 7", "Students", "4", "Lee"),
    ]


def test_params_are_rendered_with_vars_and_tenant_and_other_values_kept() -> None:
    spec = make_spec({}, params={"campus": "{{ vars.campus }}", "site": "{{ tenant.id }}-x", "year": 7})
    context = Context.of(spec, VARS, make_tenant().context())
    assert render_params(spec.source.params, context, where=Where(spec="people")) == {
        "campus": "North",
        "site": "stm-x",
        "year": 7,
    }


def _divide_by_zero(translator: Any, node: Any) -> str:
    """A translator bug, made on purpose: every constant becomes code that raises."""
    return "(1 // 0)"


def test_a_row_the_compiled_code_fails_but_jinja_renders_is_an_internal_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(render_module._Translator, "visit_Const", _divide_by_zero)
    spec = make_spec({"username": "{{ row.code ~ 'x' }}"})
    with pytest.raises(TranslationError) as caught:
        build(spec, make_tenant(), StaticRows([{"code": "S1"}, {"code": "S2"}]), tmp_path / "f.csv")
    assert str(caught.value) == (
        "the compiled template of username failed (ZeroDivisionError: integer division or modulo by zero) "
        "on a row that Jinja renders; this is a bug in infiniti-sync's template compiler (runner/render.py), "
        "not in the spec"
    )


def test_a_row_jinja_cannot_render_either_is_a_bad_row_for_jinjas_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(render_module._Translator, "visit_Const", _divide_by_zero)
    template = "{{ 'Year ' ~ lookups.year_group[row.year] }}"  # the compiled code fails at 'Year '
    assert failure(template, year="12") == "username: lookup 'year_group' has no key '12'"


# --- bounds: what one template may do (runner/bounds.py) -----------------------------------------
# Sizes here are past the bounds but cheap without them, so that a regression fails rather than hangs;
# test_a_scheduled_plan_never_hangs_on_a_template runs the huge ones, in a process it can kill.

TEXT = f"a template makes at most {bounds.MAX_TEXT:,} (see docs/guides/templates.md)"
WORK = (
    f"the template takes more than {bounds.MAX_WORK:,} steps of work for one row (loop turns, calls, "
    "characters made); simplify its loops (see docs/guides/templates.md)"
)


@pytest.mark.parametrize(
    ("template", "row", "reason"),
    [
        (
            "{% for i in range(row.n) %}{% endfor %}",
            {"n": 20000},
            "range() of 20,000 numbers; a range holds at most 10,000 (see docs/guides/templates.md)",
        ),
        ("{% for i in range(2000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}", {"n": 1}, WORK),
        ("{% for i in range(1000) %}{% for c in row.s %}{% endfor %}{% endfor %}", {"s": "x" * 1001}, WORK),
        ("{% for i in range(200) %}{{ row.s }}{% endfor %}", {"s": "x" * 9000}, WORK),  # characters printed
        (
            "{% for i in range(1000) %}{% for j in range(100) %}" + "x" * 20 + "{% endfor %}{% endfor %}",
            {},
            WORK,
        ),
        (
            "{{ row.s * row.n }}",
            {"s": "ab", "n": 5001},
            f"'*' would make 10,002 characters (or items); {TEXT}",
        ),
        (
            "{{ row.n * row.s }}",
            {"s": "ab", "n": 5001},
            f"'*' would make 10,002 characters (or items); {TEXT}",
        ),
        (
            "{{ [row.s] * row.n }}",
            {"s": "", "n": 20000},
            f"'*' would make 20,000 characters (or items); {TEXT}",
        ),
        ("{{ row.s + row.s }}", {"s": "x" * 6000}, f"'+' would make 12,000 characters (or items); {TEXT}"),
        ("{{ row.s ~ row.s }}", {"s": "x" * 6000}, f"'~' would make 12,000 characters (or items); {TEXT}"),
        (
            "{{ row.code | zpad(row.n) }}",
            {"code": "7", "n": 20000},  # translated, not Jinja's
            f"a width of 20,000 would make 20,000 characters (or items); {TEXT}",
        ),
        (
            "{{ row.code | center(row.n) }}",
            {"code": "7", "n": 20000},
            f"a width of 20,000 would make 20,000 characters (or items); {TEXT}",
        ),
        (
            "{{ row.code.ljust(row.n) }}",
            {"code": "7", "n": 20000},
            f"a width of 20,000 would make 20,000 characters (or items); {TEXT}",
        ),
        (
            "{{ row.s | replace('', row.s) }}",
            {"s": "x" * 200},
            f"replace() would make 40,400 characters (or items); {TEXT}",
        ),
        (
            "{{ row.s.join([row.s, row.s, row.s]) }}",
            {"s": "x" * 3000},
            f"join() would make 15,000 characters (or items); {TEXT}",
        ),
        (
            "{{ (row.s | list) | join(row.s) }}",
            {"s": "x" * 200},
            f"join() would make 40,000 characters (or items); {TEXT}",
        ),
        (
            "{{ range(9000) | list | string }}",
            {"n": 1},
            f"the filter string would make 52,890 characters (or items); {TEXT}",
        ),
        (
            "{{ row.n ** 20000 }}",
            {"n": 2},
            "'**' would make a number of more than 4,300 digits (see docs/guides/templates.md)",
        ),
        (
            "{{ '{:>20000}'.format(row.n) }}",
            {"n": 1},
            "a width or precision of 20000 is more than 10,000 (see docs/guides/templates.md)",
        ),
        (
            "{{ '{:>{}}'.format(1, row.n) }}",
            {"n": 20000},
            "a width or precision of 20000 is more than 10,000 (see docs/guides/templates.md)",
        ),
        (
            "{{ ('{:>20000}' | safe).format(row.n) }}",
            {"n": 1},
            "a width or precision of 20000 is more than 10,000 (see docs/guides/templates.md)",
        ),
        (
            "{{ '%020000d' % row.n }}",
            {"n": 1},
            "a width or precision of 20000 is more than 10,000 (see docs/guides/templates.md)",
        ),
        (
            "{{ '%*d' % (row.n, 1) }}",
            {"n": 20000},
            f"a width of 20,000 would make 20,000 characters (or items); {TEXT}",
        ),
        (
            "{% macro m(n) %}{% if n %}{{ m(n - 1) }}{{ m(n - 1) }}{% endif %}{% endmacro %}{{ m(row.n) }}",
            {"n": 21},  # two million calls, without a loop
            WORK,
        ),
    ],
)
def test_a_template_beyond_the_bounds_fails_its_row(template: str, row: dict[str, Any], reason: str) -> None:
    assert failure(template, **row) == f"username: {reason}"


def test_within_the_bounds_templates_render_as_before() -> None:
    assert cell("{% for i in range(3) %}{{ row.code }}{{ loop.index }}{% endfor %}", code="a") == "a1a2a3"
    assert cell("{{ row.s * 2 ~ '%03d' % row.n ~ '{:>4}'.format(row.n) }}", s="ab", n=7) == "abab007   7"
    assert (
        cell(
            "{{ row.n ** 3 + row.n * 2 }}|{{ row.code | zpad(bounds.MAX_TEXT) | length }}".replace(
                "bounds.MAX_TEXT", str(bounds.MAX_TEXT)
            ),
            n=2,
            code="7",
        )
        == f"12|{bounds.MAX_TEXT}"
    )


def test_a_cell_longer_than_the_bound_fails_its_pre_checks(tmp_path: Path) -> None:
    spec = make_spec({"username": "{{ row.code }}", "givenName": "{{ row.given }}"})
    most = bounds.MAX_CELL
    rows = StaticRows([{"code": "s1", "given": "x" * (most + 1)}, {"code": "s2", "given": "x" * most}])
    planned = build(spec, make_tenant(), rows, tmp_path / "f.csv")
    assert [(f.row, f.check, f.message) for f in planned.findings] == [
        (1, "text", "givenName is 1,000,001 characters long; a cell holds at most 1,000,000")
    ]


def test_params_beyond_the_bounds_are_a_spec_error() -> None:
    spec = make_spec(
        {}, params={"campus": "{% for i in range(2000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}"}
    )
    context = Context.of(spec, VARS, make_tenant().context())
    with pytest.raises(QueryError) as caught:
        render_params(spec.source.params, context, where=Where(spec="people"))
    assert (str(caught.value), caught.value.exit_code) == (f"spec people: source.params.campus: {WORK}", 2)


def test_a_spec_whose_templates_take_too_much_work_stops() -> None:
    spec = make_spec({"username": "{% for i in range(100) %}{% endfor %}{{ row.code }}"})
    context = Context.of(spec, VARS, make_tenant().context())
    renderer = Renderer(spec, ("code",), context, where=Where(spec="people"), work=1000)
    assert [renderer.row((f"s{n}",)) for n in range(4)] == [(f"s{n}", "Year 7", "Students") for n in range(4)]
    with pytest.raises(QueryError) as caught:
        for n in range(100):
            renderer.row((f"s{n}",))
    assert str(caught.value) == (
        "spec people: the templates took more than 1,000 steps of work (loop turns, calls, characters made) "
        "over the rows read so far; a spec's templates take at most that for all rows, so that no run can go "
        "on for hours\n  hint: simplify the templates with loops (see docs/guides/templates.md)"
    )


_PROJECT = """\
version: 1
tenants:
  stmarys:
    url: https://stmarys.example.edu
    username: autosync
    password: {env: STMARYS_INFINITI_PASSWORD}
    connections:
      export: {files: export}
    vars: {campus: North, n: 10000, big: 100000, huge: 1000000000}
    specs: [loops, work, times, text, zpad, params]
"""
_SPEC = """\
version: 1
source:
  connection: export
  query: SELECT code FROM students WHERE campus = :campus ORDER BY code
  params: {campus: "PARAM"}
columns:
  username: "USER"
  library-group: Year 7
  system-group: Students
groups:
  library: [Year 7]
  system: [Students]
"""
_NESTED = "{% for i in range(vars.X) %}{% for j in range(vars.X) %}{% endfor %}{% endfor %}"
# Templates validate cannot refuse (the sizes come from vars and rows); each hung or crashed plan before.
_SPECS = {
    "loops": ("{{ vars.campus }}", _NESTED.replace("X", "big") + "{{ row.code }}"),
    "work": ("{{ vars.campus }}", _NESTED.replace("X", "n") + "{{ row.code }}"),
    "times": ("{{ vars.campus }}", "{{ row.code * 10**8 }}"),
    "text": ("{{ vars.campus }}", "{{ 'a' * vars.huge }}"),
    "zpad": ("{{ vars.campus }}", "{{ row.code | zpad(vars.huge) }}"),
    "params": (_NESTED.replace("X", "big") + "{{ vars.campus }}", "{{ row.code }}"),
}


def test_a_scheduled_plan_never_hangs_on_a_template(tmp_path: Path) -> None:
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "students.csv").write_text("code,campus\nS001,North\n", encoding="utf-8")
    (tmp_path / "infiniti-sync.yaml").write_text(_PROJECT, encoding="utf-8")
    (tmp_path / "specs").mkdir()
    for name, (param, user) in _SPECS.items():
        text = _SPEC.replace("PARAM", param).replace("USER", user)
        (tmp_path / "specs" / f"{name}.yaml").write_text(text, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "runner", "plan", "--out", str(tmp_path / "out")],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            encoding="utf-8",
            timeout=120,  # generous: it takes well under a second; before the bounds it never ended
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("plan did not end within 120 s: a template is not bounded")
    failed = "row 1 (code=S001): template: username: "
    assert (done.returncode, done.stderr) == (2, "")  # no traceback, no "Exception ignored in <generator>"
    lines = [line.strip() for line in done.stdout.splitlines()]
    assert [line for line in lines if "template:" in line or "error:" in line] == [
        failed + "range() of 100,000 numbers; a range holds at most 10,000 (see docs/guides/templates.md)",
        failed + WORK,
        failed + f"'*' would make 400,000,000 characters (or items); {TEXT}",
        failed + f"'*' would make 1,000,000,000 characters (or items); {TEXT}",
        failed + f"a width of 1,000,000,000 would make 1,000,000,000 characters (or items); {TEXT}",
        "stmarys/params: error: tenant stmarys, spec params, connection export: source.params.campus: "
        "range() of 100,000 numbers; a range holds at most 10,000 (see docs/guides/templates.md)",
    ]
