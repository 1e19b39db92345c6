"""The compiled fast path and Jinja itself agree: same text for every generated template and row, or the
same failure. Jinja is the truth; a difference is a bug in the translator (runner/render.py)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from runner.render import Context, Renderer, RowError, _reason
from runner.spec import Groups, SourceSpec, Spec
from runner.templates import LookupTable, RowView, Values, environment

COLUMNS = ("code", "year", "name", "n", "z", "flag", "First Name")
LOOKUPS = {"year_group": {"07": "Year 7", "08": "Year 8", "7": "Seven"}, "house": {"K": "Kauri"}}
VARS = Values("vars", {"campus": "North", "width": 3, "tags": ["a", "b"], "items": "x"})
TENANT = Values("tenant", {"name": "stmarys", "id": "stm", "url": "https://stmarys.example"})

texts = st.sampled_from(["", " ", "07", "7", "S001", "s001", " Ana Lee ", "māori", "O'Brien", "a,b", "K"])
values = st.one_of(texts, st.integers(-20, 20), st.none(), st.booleans(), st.text(max_size=6))
rows = st.fixed_dictionaries(dict.fromkeys(COLUMNS, values))

literals = st.sampled_from(["'x'", "'07'", "''", "' a b '", "3", "0", "none", "true", "false", "'K'"])
atoms = st.one_of(
    literals,
    st.sampled_from([f"row.{c}" for c in COLUMNS if " " not in c]),
    st.sampled_from([f"row[{c!r}]" for c in COLUMNS]),
    st.sampled_from(["vars.campus", "vars.width", "vars.tags", "vars.nope", "vars['items']", "tenant.name"]),
    st.sampled_from(["row.missing | default('d')", "row.missing is defined", "row['no such'] is undefined"]),
)
FILTERS = [
    "lower",
    "upper",
    "trim",
    "title",
    "capitalize",
    "string",
    "length",
    "default('d')",
    "default('d', true)",
    "zpad(3)",
    "zpad",
    "replace('a', 'b')",
    "ascii",
    "slug",
    "tf",
    "re_sub('[0-9]', '#')",
    "nonempty('fallback')",
    "int",
    "first",
    "join('-')",
]


def _expressions(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(inner, st.sampled_from(FILTERS)).map(lambda t: f"({t[0]}) | {t[1]}"),
        st.tuples(inner, inner).map(lambda t: f"({t[0]}) ~ ({t[1]})"),
        st.tuples(inner, inner, inner).map(lambda t: f"(({t[0]}) if ({t[1]}) else ({t[2]}))"),
        st.tuples(inner, st.sampled_from(["==", "!=", "<", ">=", "in", "not in"]), inner).map(
            lambda t: f"(({t[0]}) {t[1]} ({t[2]}))"
        ),
        st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(lambda t: f"(({t[0]}) {t[1]} ({t[2]}))"),
        inner.map(lambda e: f"(not ({e}))"),
        st.lists(inner, max_size=3).map(lambda items: "[" + ", ".join(items) + "]"),
        inner.map(lambda e: f"lookups.year_group[{e}]"),
        inner.map(lambda e: f"lookups.house[{e}]"),
        inner.map(lambda e: f"(({e}) in lookups.year_group)"),
    )


expressions = st.recursive(atoms, _expressions, max_leaves=6)
templates = st.one_of(
    expressions.map(lambda e: "{{ " + e + " }}"),
    st.tuples(st.sampled_from(["", "a ", "Year "]), expressions, st.sampled_from(["", " z", "-"]), atoms).map(
        lambda t: f"{t[0]}{{{{ {t[1]} }}}}{t[2]}{{{{ {t[3]} }}}}"
    ),
)


def _spec(template: str) -> Spec:
    return Spec(
        name="agree",
        path=Path("agree.yaml"),
        source=SourceSpec(connection="db", query="SELECT 1"),
        columns=(("username", template), ("library-group", "L"), ("system-group", "S")),
        groups=Groups(library=frozenset({"L"}), system=frozenset({"S"})),
        lookups=LOOKUPS,
    )


def _fast(template: str, row: Mapping[str, Any]) -> str:
    context = Context(VARS, TENANT, {k: LookupTable(k, v) for k, v in LOOKUPS.items()})
    renderer = Renderer(_spec(template), COLUMNS, context)
    cells = renderer.row(tuple(row[c] for c in COLUMNS))
    assert cells is not None
    return cells[0]


def _jinja(template: str, row: Mapping[str, Any]) -> str:
    view = RowView({c: i for i, c in enumerate(COLUMNS)}, tuple(row[c] for c in COLUMNS))
    lookups = {k: LookupTable(k, v) for k, v in LOOKUPS.items()}
    return environment().from_string(template).render(row=view, vars=VARS, tenant=TENANT, lookups=lookups)


def _outcome(render: Any, template: str, row: Mapping[str, Any]) -> tuple[str, str]:
    try:
        return ("text", render(template, row))
    except RowError as err:
        return ("error", err.reason)
    except Exception as err:
        return ("error", _reason(err))


@settings(max_examples=400, deadline=None)
@given(templates, rows)
@example("{{ lookups.year_group[row.year] }}", dict.fromkeys(COLUMNS, "07"))
@example("{{ lookups.house['items'] }}", dict.fromkeys(COLUMNS, "K"))
@example("{{ (row.z) | lower }}", dict.fromkeys(COLUMNS))
def test_the_fast_path_and_jinja_agree(template: str, row: dict[str, Any]) -> None:
    assert _outcome(_fast, template, row) == _outcome(_jinja, template, row), template


@pytest.mark.parametrize(
    "template",
    [
        "{{ row.code }}",
        "{{ row['First Name'] | trim | title }}",
        "{{ lookups.year_group[row.year] }}",
        "{{ vars.campus | lower }}-{{ tenant.name | upper }}",
        "{{ row.missing | default('d') }}",
        "{{ row.year | zpad(3) | replace('0', 'o') }}",
        "{{ row.code ~ '-' ~ row.n }}",
        "{{ 'a' if row.flag else 'b' }}",
        "{{ row.n >= 3 and row.year in ['07', '08'] or not row.z }}",
        "{{ row.year not in lookups.year_group }}",
        "{{ row.missing is defined }}",
        "{{ [row.code, row.name] | join('/') }}",
    ],
)
def test_the_grammar_is_translated_not_left_to_jinja(template: str) -> None:
    context = Context(VARS, TENANT, {k: LookupTable(k, v) for k, v in LOOKUPS.items()})
    assert Renderer(_spec(template), COLUMNS, context).translated == 1
