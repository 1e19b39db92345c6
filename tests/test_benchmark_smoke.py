"""The benchmark keeps working: a small run of it (timings are printed, never asserted)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.support.windows import posix_only

ROOT = Path(__file__).resolve().parents[1]


STATE_FIGURES = [
    "record_s", "first_plan_s", "second_plan_s", "second_plan/first_plan", "first_plan_peak_rss_MB",
    "second_plan_rss_over_first_MB", "second_run_s", "second_run_rss_over_first_MB", "second_run_changed_s",
    "second_run_changed_rss_over_first_MB",
]  # fmt: skip


def _figures(work: Path, *args: str) -> dict[str, str]:
    """The `name = value` lines of a benchmark run with `args`, its files in `work`."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks", *args, "--work", str(work)],
        cwd=ROOT, capture_output=True, encoding="utf-8", check=False, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return dict(re.findall(r"^(\S+) = (-?[0-9.]+)$", done.stdout, re.MULTILINE))


@posix_only("the benchmark measures memory with os.wait4 and the resource module")
def test_a_small_benchmark_run_prints_every_figure(tmp_path: Path) -> None:
    # The state figures are of SQLite, and of PostgreSQL when the tests have one (CI always has).
    kinds = ["sqlite", "pg"] if os.environ.get("INFINITI_SYNC_TEST_POSTGRES") else ["sqlite"]
    figures = _figures(
        tmp_path, "--sizes", "2000,10000", "--repeat", "1", "--e2e-size", "10000", "--tenants", "20",
        "--tenant-files", "50", "--state-size", "2000", "--due-tenants", "50",
    )  # fmt: skip
    assert sorted(figures) == sorted(
        [
            "floor_s@2k", "plan_s@2k", "plan/floor@2k", "plan_peak_rss_MB@2k",
            "floor_s@10k", "plan_s@10k", "plan/floor@10k", "plan_peak_rss_MB@10k",
            "rss_growth_2k_to_10k_MB", "curl_s@10k", "run_s@10k", "run/curl@10k", "run_peak_rss_MB@10k",
            "script_s@10k", "run/script@10k",
            "version_s", "validate_example_s",
            "run_all_jobs1_s@20", "run_all_jobs2_s@20", "jobs2/jobs1_throughput@20",
            "run_tenant_s", "python_ssl_sqlite_csv_s", "run_tenant/python_startup",
            "validate_tenant_files_s@50",
            "due_plan_s@50", "due_s@50",
        ]
        + [f"{figure}@2k_{kind}" for kind in kinds for figure in STATE_FIGURES]
        + (["record_pg/sqlite@2k"] if "pg" in kinds else [])
    )  # fmt: skip
    assert all(
        float(value) > 0 for name, value in figures.items() if "rss_growth" not in name and "over" not in name
    )
    plan_file = tmp_path / "rows-10000" / "plan-out" / "demo" / "students.csv"
    floor_file = tmp_path / "rows-10000" / "floor.csv"
    assert plan_file.read_bytes() == floor_file.read_bytes()  # the two sides really do the same work


@posix_only("the benchmark measures memory with os.wait4 and the resource module")
def test_parts_runs_only_the_parts_named(tmp_path: Path) -> None:
    figures = _figures(tmp_path, "--parts", "startup", "--repeat", "1")
    assert sorted(figures) == sorted(
        [
            "version_s",
            "validate_example_s",
            "run_tenant_s",
            "python_ssl_sqlite_csv_s",
            "run_tenant/python_startup",
        ]
    )
    wrong = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks", "--parts", "startup,boot"],
        cwd=ROOT, capture_output=True, encoding="utf-8", check=False,
    )  # fmt: skip
    assert wrong.returncode == 2
    assert "boot: name parts of plan, e2e, state, startup, tenants, tenant-files, due" in wrong.stderr


@posix_only("the benchmark measures memory with os.wait4 and the resource module")
def test_the_plan_part_alone_prints_only_its_figures(tmp_path: Path) -> None:
    figures = _figures(tmp_path, "--parts", "plan", "--sizes", "2000", "--repeat", "1")
    assert sorted(figures) == ["floor_s@2k", "plan/floor@2k", "plan_peak_rss_MB@2k", "plan_s@2k"]
