"""The benchmark: speed and memory of the runner, as ratios measured in one run.

    python -m tests.benchmarks                      # 10k, 100k and 1M rows (several minutes)
    python -m tests.benchmarks --sizes 10000 --repeat 1 --e2e-size 10000   # a smoke run
    python -m tests.benchmarks --parts startup --repeat 11                  # only the start-up figures
    python -m tests.benchmarks --parts plan,state --sizes 1000000 --work DIR  # only those parts, exports kept

Every figure is measured here, in this run, on this machine, with the competitors interleaved so that both
see the same load; medians of `--repeat` runs. Each command runs as its own process, so start-up is
included and peak memory (the process's maximum RSS, from wait4) is its own. The runner's modules are
byte-compiled first, as an installed package's are, even where PYTHONDONTWRITEBYTECODE is set. `--parts`
runs only the parts named (plan, e2e, state, startup, tenants, tenant-files, due).

1. floor:       plain Python reading the export with csv and writing the four columns with csv, the same
                transformations hard-coded (lower-casing, a lookup): what any pipeline must at least spend.
2. plan:        `infiniti-sync plan` on a spec doing the same mapping with Jinja templates.
3. memory:      peak RSS of plan at each size, and its growth from the smallest to the largest.
4. end to end:  `infiniti-sync run` against the sandbox, against the contract's cURL command sending the
                floor's file (the export a school would curl today) to the same sandbox, and against the
                whole hand-written script (the floor's mapping, then cURL: `script_s`, `run/script`).
5. start-up:    `infiniti-sync --version`, `validate` on the example project, and `run --tenant` on it against
                `python -c "import ssl, sqlite3, csv"`.
7. tenants:     `run --all` over `--tenants` small tenants with `--jobs 1` and with `--jobs 2`; `validate`
                of a project of `--tenant-files` tenant files (`tenants: FOLDER`).
8. due:         planning `due` over `--due-tenants` scheduled tenants with runs in the state, in the process
                and as a command (tests/benchmarks/schedules.py).
6. state:       with `--state-size` users already in the state (SQLite, and PostgreSQL at the URL of
                `--postgres`, default $INFINITI_SYNC_TEST_POSTGRES; skipped without one), on an
                incremental spec: recording them as a first run does (`record_s`, timed inside the
                process), the second `plan` against the first (no users in the state yet), and the
                second `run` over the unchanged export and over one with 1 % of its rows changed, against
                the sandbox: their seconds, and their peak RSS minus the first plan's.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from tests.benchmarks import schedules, tenants
from tests.benchmarks.data import write_export

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "change-me"  # the sandbox's demo password (not a secret)
FLOOR = r"""
import csv, sys
year_group = {f"{i:02d}": f"Year {i}" for i in range(7, 13)}
source, target = sys.argv[1], sys.argv[2]
with open(source, newline="", encoding="utf-8") as f, open(target, "w", newline="", encoding="utf-8") as o:
    reader = csv.reader(f)
    next(reader)
    writer = csv.writer(o, lineterminator="\r\n")
    writer.writerow(["username", "library-group", "system-group", "emailAddress"])
    for row in reader:
        writer.writerow((row[0].lower(), year_group[row[4]], "Students", row[6]))
"""
SPEC = """\
version: 1
description: The benchmark's mapping, the same as the floor's
source:
  connection: export
  query: SELECT student_code, year_level, email FROM students
lookups:
  year_group: {"07": Year 7, "08": Year 8, "09": Year 9, "10": Year 10, "11": Year 11, "12": Year 12}
columns:
  username: "{{ row.student_code | lower }}"
  library-group: "{{ lookups.year_group[row.year_level] }}"
  system-group: Students
  emailAddress: "{{ row.email }}"
groups:
  library: [Year 7, Year 8, Year 9, Year 10, Year 11, Year 12]
  system: [Students]
expect:
  success: true
  processed: rows_sent
"""
PROJECT = """\
version: 1
tenants:
  demo:
    url: {url}
    tenant_id: demo
    username: autosync
    password: {{env: BENCH_INFINITI_PASSWORD}}
    ca_bundle: {ca}
    connections:
      export: {{files: export}}
    specs: [students]
    timeout: {{read: 600}}
"""


@dataclass(frozen=True)
class Measure:
    """One process run: wall time and peak memory."""

    seconds: float
    rss_mb: float


def as_installed() -> None:
    """Run every command as an installed package runs: its modules byte-compiled once, as pip does when
    it installs, not compiled from source by every process. Where PYTHONDONTWRITEBYTECODE is set (some CI
    machines, sessions that keep source trees clean), each start-up would otherwise compile the runner's
    modules again (0.1 to 0.2 s here), which no installed infiniti-sync pays and the baselines, whose modules
    are the standard library's, never do. The compiled files go to the tree's `__pycache__` folders."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([sys.executable, "-m", "compileall", "-q", os.fspath(ROOT / "runner")], check=True)


def measure(command: Sequence[str], *, cwd: Path, env: dict[str, str] | None = None) -> Measure:
    """Run `command` to completion; its wall time and maximum resident set size."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    errors = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if process.returncode not in (0,):
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{errors}")
    return Measure(seconds, usage.ru_maxrss / 1024)


def median(values: Sequence[float]) -> float:
    """The median, for figures that should not be moved by one slow run."""
    return statistics.median(values)


def label(size: int) -> str:
    """10000 as 10k, 1000000 as 1M."""
    if size >= 1_000_000 and size % 1_000_000 == 0:
        return f"{size // 1_000_000}M"
    return f"{size // 1000}k" if size % 1000 == 0 else str(size)


def prepare(
    work: Path, size: int, url: str = "https://127.0.0.1:1", ca: str = "ca.pem", name: str = "rows"
) -> Path:
    """A project folder with an export of `size` students and the benchmark's spec, and no state: every
    measurement starts as a first run (a kept `--work` folder only saves generating the exports)."""
    folder = work / f"{name}-{size}"
    shutil.rmtree(folder / ".infiniti-sync", ignore_errors=True)
    export = folder / "export" / "students.csv"
    if not export.exists():
        write_export(export, size)
    (folder / "specs").mkdir(parents=True, exist_ok=True)
    (folder / "specs" / "students.yaml").write_text(SPEC, encoding="utf-8")
    (folder / "infiniti-sync.yaml").write_text(PROJECT.format(url=url, ca=ca), encoding="utf-8")
    (folder / "floor.py").write_text(FLOOR, encoding="utf-8")
    return folder


def plan_vs_floor(folder: Path, repeat: int) -> tuple[list[Measure], list[Measure]]:
    """Interleaved runs of the floor and of `infiniti-sync plan`."""
    floors, plans = [], []
    python = sys.executable
    for _ in range(repeat):
        floors.append(measure([python, "floor.py", "export/students.csv", "floor.csv"], cwd=folder))
        out = folder / "plan-out"
        shutil.rmtree(out, ignore_errors=True)
        plans.append(measure([python, "-m", "runner", "plan", "-q", "--out", str(out)], cwd=folder))
    return floors, plans


class SandboxProcess:
    """The sandbox as a separate process on a free port, over TLS."""

    def __init__(self, data: Path):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "runner", "sandbox", "--port", "0", "--data", str(data)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            encoding="utf-8",
        )
        assert self.process.stdout is not None
        first = self.process.stdout.readline()
        found = re.search(r"listening on (\S+)", first)
        if not found:
            self.process.kill()
            raise SystemExit(f"the sandbox did not start: {first!r}")
        self.url = found[1]
        self.ca = data / "ca.pem"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def end_to_end(work: Path, size: int, repeat: int) -> tuple[list[Measure], list[Measure], list[Measure]]:
    """Interleaved runs of the hand-written script a school runs today (the floor's plain-Python mapping,
    then the contract's cURL command) and of `infiniti-sync run`, against one sandbox: the floor's, cURL's
    and the run's measures."""
    shutil.rmtree(work / "sandbox-data", ignore_errors=True)  # a sandbox with no users yet
    sandbox = SandboxProcess(work / "sandbox-data")
    try:
        folder = prepare(work, size, url=sandbox.url, ca=str(sandbox.ca), name="e2e")
        floor = [sys.executable, "floor.py", "export/students.csv", "user-groups.csv"]
        measure(floor, cwd=folder)
        port = sandbox.url.rsplit(":", 1)[1]
        curl = [
            "curl", "-s", "-S", "-f", "-k", "-X", "POST", "-F", "file=@user-groups.csv",
            f"https://autosync:{PASSWORD}@127.0.0.1:{port}/api/import/userGroups?tenantId=demo",
        ]  # fmt: skip
        env = {**os.environ, "BENCH_INFINITI_PASSWORD": PASSWORD}
        run = [sys.executable, "-m", "runner", "run", "--all", "-q"]
        floors, curls, runs = [], [], []
        measure(curl, cwd=folder)  # the first import creates the users; the measured ones update them
        for _ in range(repeat):
            floors.append(measure(floor, cwd=folder))
            curls.append(measure(curl, cwd=folder))
            runs.append(measure(run, cwd=folder, env=env))
        return floors, curls, runs
    finally:
        sandbox.stop()


STATE_PROJECT = PROJECT.replace("version: 1\n", "version: 1\nstate: {{env: BENCH_STATE}}\n", 1)
STATE_KINDS = ("sqlite", "pg")


class Stores:
    """For each kind of store, an empty one and one to fill: SQLite paths, or PostgreSQL schemas of their
    own (dropped by `drop`)."""

    def __init__(self, folder: Path, postgres: str | None):
        self.folder = folder
        self.postgres = postgres
        self.schemas: list[str] = []
        self.kinds = [k for k in STATE_KINDS if k == "sqlite" or postgres]

    def new(self, kind: str, name: str) -> str:
        """The location of a new, empty store (no file, or a schema with no tables)."""
        if kind == "sqlite":
            path = self.folder / f"{name}.db"
            for leftover in self.folder.glob(f"{name}.db*"):
                leftover.unlink()
            return os.fspath(path)
        assert self.postgres is not None
        schema = f"bench_state_{os.getpid()}_{name}"
        self._admin(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE; CREATE SCHEMA "{schema}"')
        self.schemas.append(schema)
        url = make_url(self.postgres).update_query_dict({"options": f"-csearch_path={schema}"})
        return url.render_as_string(hide_password=False)

    def drop(self) -> None:
        """Drop the PostgreSQL schemas made."""
        for schema in self.schemas:
            self._admin(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    def _admin(self, sql: str) -> None:
        assert self.postgres is not None
        engine = create_engine(self.postgres, poolclass=NullPool)
        try:
            with engine.begin() as conn:
                for statement in sql.split("; "):
                    conn.execute(text(statement))
        finally:
            engine.dispose()


def state_runs(work: Path, size: int, repeat: int, postgres: str | None) -> dict[str, float]:
    """The state figures (see the module's docstring), for each kind of store."""
    shutil.rmtree(work / "sandbox-state", ignore_errors=True)
    sandbox = SandboxProcess(work / "sandbox-state")
    folder = prepare(work, size, url=sandbox.url, ca=str(sandbox.ca), name="state")
    stores = Stores(folder, postgres)
    figures: dict[str, float] = {}
    try:
        (folder / "infiniti-sync.yaml").write_text(
            STATE_PROJECT.format(url=sandbox.url, ca=sandbox.ca), encoding="utf-8"
        )
        (folder / "specs" / "students.yaml").write_text(SPEC + "mode: incremental\n", encoding="utf-8")
        if not (folder / "changed.csv").exists():
            write_export(folder / "changed.csv", size, changed=100)
        for kind in stores.kinds:
            figures.update(_state_of(kind, folder, stores, size, repeat))
    finally:
        stores.drop()
        sandbox.stop()
    at = label(size)
    if postgres:
        figures[f"record_pg/sqlite@{at}"] = figures[f"record_s@{at}_pg"] / figures[f"record_s@{at}_sqlite"]
    return figures


def _state_of(kind: str, folder: Path, stores: Stores, size: int, repeat: int) -> dict[str, float]:
    export, changed = folder / "export" / "students.csv", folder / "changed.csv"
    python = sys.executable
    env = {**os.environ, "BENCH_INFINITI_PASSWORD": PASSWORD}
    empty = {**env, "BENCH_STATE": stores.new(kind, "empty")}
    filled = {**env, "BENCH_STATE": stores.new(kind, "filled")}
    out = folder / "plan-out"

    def plan(environment: dict[str, str]) -> Measure:
        shutil.rmtree(out, ignore_errors=True)
        return measure([python, "-m", "runner", "plan", "-q", "--out", str(out)], cwd=folder, env=environment)

    plan(empty)  # the planned file, every line of it, to record as a first run accepting all of them
    seeding = [
        python,
        "-m",
        "tests.benchmarks.seed",
        filled["BENCH_STATE"],
        str(out / "demo" / "students.csv"),
    ]
    done = subprocess.run(
        [*seeding, "demo", "students"], capture_output=True, encoding="utf-8", check=True, cwd=ROOT
    )
    firsts, seconds = [], []
    for _ in range(repeat):
        firsts.append(plan(empty))
        seconds.append(plan(filled))
    run = [python, "-m", "runner", "run", "--all", "-q"]
    unchanged = measure(run, cwd=folder, env=filled)
    kept = export.with_name("unchanged.csv")
    export.rename(kept)
    shutil.copyfile(changed, export)
    try:
        one_percent = measure(run, cwd=folder, env=filled)
    finally:
        export.unlink()
        kept.rename(export)
    first_s, second_s = median([m.seconds for m in firsts]), median([m.seconds for m in seconds])
    first_rss = median([m.rss_mb for m in firsts])
    at = f"{label(size)}_{kind}"
    return {
        f"record_s@{at}": float(done.stdout.strip()),
        f"first_plan_s@{at}": first_s,
        f"second_plan_s@{at}": second_s,
        f"second_plan/first_plan@{at}": second_s / first_s,
        f"first_plan_peak_rss_MB@{at}": first_rss,
        f"second_plan_rss_over_first_MB@{at}": median([m.rss_mb for m in seconds]) - first_rss,
        f"second_run_s@{at}": unchanged.seconds,
        f"second_run_rss_over_first_MB@{at}": unchanged.rss_mb - first_rss,
        f"second_run_changed_s@{at}": one_percent.seconds,
        f"second_run_changed_rss_over_first_MB@{at}": one_percent.rss_mb - first_rss,
    }


def startup(repeat: int) -> tuple[float, float]:
    """Median seconds of `--version`, and of `validate` on the example project."""
    python = sys.executable
    version = [measure([python, "-m", "runner", "--version"], cwd=ROOT).seconds for _ in range(repeat)]
    example = ROOT / "runner" / "example"
    validate = [
        measure([python, "-m", "runner", "validate", "-q"], cwd=example).seconds for _ in range(repeat)
    ]
    return median(version), median(validate)


@contextlib.contextmanager
def sandbox_at(folder: Path) -> Iterator[SandboxProcess]:
    """A sandbox with no users yet, on the data folder `folder`, stopped on leaving."""
    shutil.rmtree(folder, ignore_errors=True)
    sandbox = SandboxProcess(folder)
    try:
        yield sandbox
    finally:
        sandbox.stop()


def many_tenants(work: Path, count: int, repeat: int) -> dict[str, float]:
    """`run --all` over `count` tenants with one and two worker processes, interleaved, against one
    sandbox."""
    python, env = sys.executable, {**os.environ, "INFINITI_DEMO_PASSWORD": PASSWORD}
    with sandbox_at(work / "sandbox-tenants") as sandbox:
        many = tenants.example(work, sandbox.url, sandbox.ca, tenants=count)
        one, two = [], []
        try:
            for _ in range(repeat):
                one.append(measure(tenants.run_all(python, 1), cwd=tenants.fresh(many), env=env).seconds)
                two.append(measure(tenants.run_all(python, 2), cwd=tenants.fresh(many), env=env).seconds)
        finally:
            tenants.clear(many)
    n = label(count) if count >= 1000 else str(count)
    return {
        f"run_all_jobs1_s@{n}": median(one),
        f"run_all_jobs2_s@{n}": median(two),
        f"jobs2/jobs1_throughput@{n}": median(one) / median(two),
    }


def tenant_startup(work: Path, repeat: int) -> dict[str, float]:
    """The start-up of one tenant's run on the example project against Python's own, interleaved,
    against a sandbox of its own."""
    python, env = sys.executable, {**os.environ, "INFINITI_DEMO_PASSWORD": PASSWORD}
    with sandbox_at(work / "sandbox-startup") as sandbox:
        example = tenants.example(work, sandbox.url, sandbox.ca)
        ours, floor = [], []
        try:
            for _ in range(repeat):
                ours.append(measure(tenants.run_tenant(python), cwd=tenants.fresh(example), env=env).seconds)
                floor.append(measure(tenants.floor_startup(python), cwd=example).seconds)
        finally:
            tenants.clear(example)
    return {
        "run_tenant_s": median(ours),
        "python_ssl_sqlite_csv_s": median(floor),
        "run_tenant/python_startup": median(ours) / median(floor),
    }


def validate_tenant_files(work: Path, count: int, repeat: int) -> float:
    """Median seconds of `validate` (a process, start-up included) on a project of `count` tenant files."""
    folder = tenants.tenant_files(work, count)
    command = [sys.executable, "-m", "runner", "validate", "-q"]
    return median([measure(command, cwd=folder).seconds for _ in range(repeat)])


def _state_rows(figures: dict[str, float], at: str) -> list[tuple[str, str, str, str]]:
    rows = []
    for kind in STATE_KINDS:
        key = f"{at}_{kind}"
        if f"record_s@{key}" not in figures:
            continue
        first, second = figures[f"first_plan_s@{key}"], figures[f"second_plan_s@{key}"]
        rows += [
            (f"{kind}: record {at} users", f"{figures[f'record_s@{key}']:.2f} s", "", ""),
            (
                f"{kind}: second plan vs first, {at}",
                f"{second:.2f} s",
                f"{first:.2f} s",
                f"{second / first:.2f}",
            ),
            (f"{kind}: second run, unchanged", f"{figures[f'second_run_s@{key}']:.2f} s", "", ""),
            (f"{kind}: second run, 1 % changed", f"{figures[f'second_run_changed_s@{key}']:.2f} s", "", ""),
            (
                f"{kind}: second run RSS over first",
                f"{figures[f'second_run_rss_over_first_MB@{key}']:.0f} MB",
                "",
                "",
            ),
        ]
    return rows


def _due_rows(
    work: Path, count: int, repeat: int, figures: dict[str, float]
) -> list[tuple[str, str, str, str]]:
    """The `due` figures, into `figures`, and their rows of the table."""
    found = schedules.due_planning(work, count, repeat)
    figures.update(found)
    n = label(count) if count >= 1000 else str(count)
    plan, command = found[f"due_plan_s@{n}"], found[f"due_s@{n}"]
    return [
        (f"plan due, {count} tenants (in process)", f"{plan:.3f} s", "", ""),
        (f"infiniti-sync due, {count} tenants", f"{command:.2f} s", "", ""),
    ]


PARTS = ("plan", "e2e", "state", "startup", "tenants", "tenant-files", "due")


def _parts(text: str) -> frozenset[str]:
    """The parts named in `--parts` (a comma list of PARTS)."""
    named = frozenset(part.strip() for part in text.split(",") if part.strip())
    unknown = sorted(named - set(PARTS))
    if unknown or not named:
        raise argparse.ArgumentTypeError(
            f"{', '.join(unknown) or 'nothing'}: name parts of {', '.join(PARTS)}"
        )
    return named


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its table, then one `name = value` line per figure."""
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="rows of each export (comma list)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (median)")
    parser.add_argument(
        "--parts",
        type=_parts,
        default=frozenset(PARTS),
        help=f"only these parts (comma list of {', '.join(PARTS)}; default: all)",
    )
    parser.add_argument("--e2e-size", type=int, default=100_000, help="rows for run versus cURL (0: skip)")
    parser.add_argument("--tenants", type=int, default=1000, help="tenants for run --all --jobs (0: skip)")
    parser.add_argument("--tenant-files", type=int, default=5000, help="tenant files for validate (0: skip)")
    parser.add_argument(
        "--state-size",
        type=int,
        help="users in the state for the second runs (default: the largest size; 0: skip)",
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get("INFINITI_SYNC_TEST_POSTGRES"),
        help="a PostgreSQL URL for the state figures (default: $INFINITI_SYNC_TEST_POSTGRES; none: SQLite)",
    )
    parser.add_argument(
        "--due-tenants", type=int, default=5000, help="scheduled tenants for planning due (0: skip)"
    )
    parser.add_argument("--work", type=Path, help="keep the generated exports here (default: temporary)")
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    work = args.work or Path(tempfile.mkdtemp(prefix="infiniti-sync-bench-"))
    figures: dict[str, float] = {}
    rows: list[tuple[str, str, str, str]] = []
    try:
        as_installed()
        if "plan" in args.parts:
            rows += _plan_rows(work, sizes, args.repeat, figures)
        if args.e2e_size and "e2e" in args.parts:
            rows += _e2e_rows(work, args.e2e_size, args.repeat, figures)
        state_size = sizes[-1] if args.state_size is None else args.state_size
        if state_size and "state" in args.parts:
            state = state_runs(work, state_size, args.repeat, args.postgres)
            figures.update(state)
            rows += _state_rows(state, label(state_size))
        if "startup" in args.parts:
            rows += _startup_rows(work, max(5, args.repeat), figures)
        if args.tenants and "tenants" in args.parts:
            found = many_tenants(work, args.tenants, args.repeat)
            figures.update(found)
            one, two, gain = found.values()
            many = f"run --all, {args.tenants} tenants, --jobs 2"
            rows.append((many, f"{two:.2f} s", f"{one:.2f} s", f"{gain:.2f}"))
        if args.tenant_files and "tenant-files" in args.parts:
            seconds = validate_tenant_files(work, args.tenant_files, args.repeat)
            n = label(args.tenant_files)
            figures[f"validate_tenant_files_s@{n}"] = seconds
            rows.append((f"validate, {n} tenant files", f"{seconds:.2f} s", "", ""))
        if args.due_tenants and "due" in args.parts:
            rows += _due_rows(work, args.due_tenants, args.repeat, figures)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"{'measurement':<36} {'infiniti-sync':>14} {'baseline':>10} {'ratio':>7}")
    for name, ours, base, ratio in rows:
        print(f"{name:<36} {ours:>14} {base:>10} {ratio:>7}")
    print()
    for name, value in figures.items():
        print(f"{name} = {value:.3f}" if value < 100 else f"{name} = {value:.0f}")
    return 0


def _plan_rows(
    work: Path, sizes: Sequence[int], repeat: int, figures: dict[str, float]
) -> list[tuple[str, str, str, str]]:
    rows = []
    rss: dict[int, float] = {}
    for size in sizes:
        folder = prepare(work, size)
        floors, plans = plan_vs_floor(folder, repeat)
        floor_s, plan_s = median([m.seconds for m in floors]), median([m.seconds for m in plans])
        rss[size] = median([m.rss_mb for m in plans])
        figures[f"floor_s@{label(size)}"] = floor_s
        figures[f"plan_s@{label(size)}"] = plan_s
        figures[f"plan/floor@{label(size)}"] = plan_s / floor_s
        figures[f"plan_peak_rss_MB@{label(size)}"] = rss[size]
        rows.append(
            (
                f"plan vs floor, {label(size)} rows",
                f"{plan_s:.2f} s",
                f"{floor_s:.2f} s",
                f"{plan_s / floor_s:.2f}",
            )
        )
        rows.append((f"plan peak RSS, {label(size)} rows", f"{rss[size]:.0f} MB", "", ""))
    if len(sizes) > 1:
        growth = rss[sizes[-1]] - rss[sizes[0]]
        figures[f"rss_growth_{label(sizes[0])}_to_{label(sizes[-1])}_MB"] = growth
        rows.append((f"plan RSS growth {label(sizes[0])} -> {label(sizes[-1])}", f"{growth:.0f} MB", "", ""))
    return rows


def _e2e_rows(
    work: Path, size: int, repeat: int, figures: dict[str, float]
) -> list[tuple[str, str, str, str]]:
    floors, curls, runs = end_to_end(work, size, repeat)
    curl_s, run_s = median([m.seconds for m in curls]), median([m.seconds for m in runs])
    script_s = median([f.seconds + c.seconds for f, c in zip(floors, curls, strict=True)])
    e2e = label(size)
    figures[f"curl_s@{e2e}"] = curl_s
    figures[f"run_s@{e2e}"] = run_s
    figures[f"run/curl@{e2e}"] = run_s / curl_s
    figures[f"script_s@{e2e}"] = script_s
    figures[f"run/script@{e2e}"] = run_s / script_s
    figures[f"run_peak_rss_MB@{e2e}"] = median([m.rss_mb for m in runs])
    return [
        (f"run vs cURL, {e2e} rows", f"{run_s:.2f} s", f"{curl_s:.2f} s", f"{run_s / curl_s:.2f}"),
        (f"run vs script, {e2e} rows", f"{run_s:.2f} s", f"{script_s:.2f} s", f"{run_s / script_s:.2f}"),
    ]


def _startup_rows(work: Path, repeat: int, figures: dict[str, float]) -> list[tuple[str, str, str, str]]:
    version, validate = startup(repeat)
    figures["version_s"] = version
    figures["validate_example_s"] = validate
    found = tenant_startup(work, repeat)
    figures.update(found)
    ours, floor, ratio = found.values()
    return [
        ("infiniti-sync --version", f"{version:.3f} s", "", ""),
        ("infiniti-sync validate (example)", f"{validate:.3f} s", "", ""),
        ("run --tenant (example)", f"{ours:.3f} s", f"{floor:.3f} s", f"{ratio:.2f}"),
    ]


if __name__ == "__main__":
    raise SystemExit(main())
