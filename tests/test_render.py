"""Rendering: templates, filters, `where`, the sandbox, and a failing row that stops only itself."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

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
        "tenant stmarys, spec people, connection db: source.id names 'student_code', which the query "
        "does not return\n  hint: the query returns: code"
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
