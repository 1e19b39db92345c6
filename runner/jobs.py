"""Which tenant and spec pairs a command works on."""

from __future__ import annotations

from collections.abc import Sequence

from runner.errors import UsageError
from runner.records import record
from runner.spec import Project, Spec, Tenant
from runner.suggest import did_you_mean


@record
class Job:
    """One spec run for one tenant."""

    tenant: Tenant
    spec: Spec

    @property
    def name(self) -> str:
        """`tenant/spec`, as reports show it."""
        return f"{self.tenant.name}/{self.spec.name}"


def _unknown(kind: str, name: str, known: Sequence[str]) -> UsageError:
    hint = did_you_mean(name, known)
    return UsageError(
        f"no {kind} named {name!r}" + (f"; did you mean {hint!r}?" if hint else ""),
        hint=f"{kind}s: {', '.join(known) or 'none'}",
    )


def select(project: Project, tenants: Sequence[str] = (), specs: Sequence[str] = ()) -> list[Job]:
    """The jobs of the named tenants (all when none is named), limited to the named specs."""
    for name in tenants:
        if name not in project.tenants:
            raise _unknown("tenant", name, list(project.tenants))
    for name in specs:
        if name not in project.specs:
            raise _unknown("spec", name, list(project.specs))
    chosen = [project.tenants[t] for t in dict.fromkeys(tenants)] or list(project.tenants.values())
    jobs = [
        Job(tenant, project.specs[s]) for tenant in chosen for s in tenant.specs if not specs or s in specs
    ]
    if not jobs:
        raise _not_run(chosen, specs)
    return jobs


def _not_run(tenants: Sequence[Tenant], specs: Sequence[str]) -> UsageError:
    """Why the chosen tenants run none of the chosen specs: what each runs, and where to add one."""
    if not specs:
        return UsageError("no tenant runs the chosen specs: nothing to do")
    wanted = list(dict.fromkeys(specs))
    named = ("spec " if len(wanted) == 1 else "specs ") + ", ".join(repr(s) for s in wanted)
    runs = "; ".join(f"{t.name} runs {', '.join(t.specs) or 'none'}" for t in tenants)
    first = tenants[0]
    where = f" ({first.specs_at})" if first.specs_at else ""
    listed = ", ".join(dict.fromkeys([*first.specs, *wanted]))
    return UsageError(
        f"no tenant chosen runs {named} ({runs}): nothing to do",
        hint=f"to run it, add it to a tenant's specs:, as in tenant {first.name}{where}: specs: [{listed}]",
    )
