"""Which tenant and spec pairs a command works on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from runner.errors import UsageError
from runner.spec import Project, Spec, Tenant
from runner.suggest import did_you_mean


@dataclass(frozen=True)
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
        raise UsageError("no tenant runs the chosen specs: nothing to do")
    return jobs
