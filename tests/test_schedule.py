"""`infiniti-sync schedule FORMAT`: every emitted file checked by what reads it. The crontab line runs in a
real shell (with a stand-in for infiniti-sync that records how it was started), the systemd units pass
`systemd-analyze verify`, the Task Scheduler XML is parsed from its UTF-16 bytes and its structure
checked, and the Kubernetes manifests validate against the schemas of Kubernetes 1.30 (offline, with
kubernetes-validate). `run --due` itself is never started here."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
import yaml

from runner import cron, project, schedules
from runner.schedules import Needs, Setting
from tests.support.project import Done, copy_project, invoke
from tests.support.windows import posix_only

KUBERNETES = "1.30"  # the version whose schemas the manifests are checked against (docs/guides/scheduling.md)
TASK = "{http://schemas.microsoft.com/windows/2004/02/mit/task}"
STATE_VARIABLE = "INFINITI_SYNC_STATE_URL"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The example project, its password read from a file outside it."""
    project_file = copy_project(tmp_path / "project")
    _edit(project_file, "password: {env: INFINITI_DEMO_PASSWORD}", "password: {file: /run/secrets/sync/demo}")
    return project_file.parent


@pytest.fixture
def shared(root: Path) -> Path:
    """The project as a department runs it: a PostgreSQL state from the environment, no archive."""
    _edit(root / "infiniti-sync.yaml", "state: .infiniti-sync/state.db", f"state: {{env: {STATE_VARIABLE}}}")
    _edit(root / "infiniti-sync.yaml", "archive: .infiniti-sync/runs", "archive: false")
    return root


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def _schedule(root: Path, *args: str) -> Done:
    return invoke(root, ["schedule", *args], env={})


def _emit(root: Path, out: Path, *args: str) -> list[str]:
    done = _schedule(root, *args, "--out", os.fspath(out))
    assert (done.code, done.err) == (0, ""), done.err
    return sorted(p.name for p in out.iterdir())


def _stand_in(folder: Path) -> Path:
    """An executable that records its folder, arguments and secret in `started`, and prints one line."""
    script = folder / "bin" / "infiniti sync"
    script.parent.mkdir(parents=True)
    started = shlex.quote(os.fspath(folder / "started"))
    script.write_text(
        "#!/bin/sh\n"
        f'{{ pwd; echo "$@"; echo "$INFINITI_DEMO_PASSWORD"; }} > {started}\n'
        "echo 'demo/staff: failed: a problem for a person'\n",
        encoding="utf-8",
    )
    script.chmod(0o755)
    return script


# --- cron -----------------------------------------------------------------------------------------


@posix_only("cron and /bin/sh run the line, and its stand-in command needs an executable file mode")
def test_the_crontab_line_runs_the_due_jobs_in_the_project_with_its_secrets_and_log(
    tmp_path: Path, root: Path
) -> None:
    _edit(root / "infiniti-sync.yaml", "{file: /run/secrets/sync/demo}", "{env: INFINITI_DEMO_PASSWORD}")
    env_file = tmp_path / "etc" / "env"
    env_file.parent.mkdir()
    env_file.write_text("INFINITI_DEMO_PASSWORD=change-me\n", encoding="utf-8")
    workdir = tmp_path / "the specs, 100%"
    workdir.mkdir()
    log = tmp_path / "log" / "run.log"
    log.parent.mkdir()
    executable = _stand_in(tmp_path)
    options = ["--workdir", os.fspath(workdir), "--executable", os.fspath(executable)]
    options += ["--env-file", os.fspath(env_file), "--log", os.fspath(log), "--every", "10"]
    assert _emit(root, tmp_path / "out", "cron", *options) == ["infiniti-sync.crontab"]
    text = (tmp_path / "out" / "infiniti-sync.crontab").read_text(encoding="utf-8")
    [line] = [line for line in text.splitlines() if line and not line.startswith("#") and "=" not in line[:6]]
    assert "SHELL=/bin/sh" in text.splitlines()
    fields = line.split(None, 5)
    assert fields[:5] == ["*/10", "*", "*", "*", "*"]
    assert cron.problem(" ".join(fields[:5])) is None
    assert "%" not in fields[5].replace("\\%", "")  # cron would cut the line at a bare %
    command = fields[5].replace("\\%", "%")  # as cron hands it to the shell
    done = subprocess.run(  # noqa: PLW1510 - the exit code is asserted
        ["/bin/sh", "-c", command], env={"PATH": "/usr/bin:/bin"}, capture_output=True, encoding="utf-8"
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "started").read_text(encoding="utf-8").splitlines() == [
        os.fspath(workdir),
        "run --all --due -q",
        "change-me",
    ]
    assert done.stdout == "demo/staff: failed: a problem for a person\n"  # mailed by cron
    assert log.read_text(encoding="utf-8") == done.stdout  # and kept


def test_a_project_reading_no_environment_needs_no_environment_file(tmp_path: Path, root: Path) -> None:
    done = _schedule(root, "cron")
    assert done.code == 0
    assert "/etc/infiniti-sync/env" not in done.out
    assert f"cd {shlex.quote(os.fspath(root))} && " in done.out


# --- systemd --------------------------------------------------------------------------------------


def _verify(*units: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed here")
    return subprocess.run(  # noqa: PLW1510 - the callers assert the exit code
        ["systemd-analyze", "verify", *map(os.fspath, units)], capture_output=True, encoding="utf-8"
    )


def _units(text: str) -> dict[str, list[str]]:
    """`Key=value` lines of a unit file by key."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            found.setdefault(key, []).append(value)
    return found


@posix_only("systemd-analyze checks that ExecStart is an executable file, a POSIX file mode")
def test_the_systemd_units_pass_systemd_analyze_verify(tmp_path: Path, root: Path) -> None:
    executable = _stand_in(tmp_path)
    env_file = tmp_path / "env"
    env_file.write_text("", encoding="utf-8")
    out = tmp_path / "units"
    options = ["--executable", os.fspath(executable), "--env-file", os.fspath(env_file), "--every", "15"]
    options += ["--user", "sync"]
    _edit(root / "infiniti-sync.yaml", "{file: /run/secrets/sync/demo}", "{env: INFINITI_DEMO_PASSWORD}")
    assert _emit(root, out, "systemd", *options) == ["infiniti-sync.service", "infiniti-sync.timer"]
    service, timer = out / "infiniti-sync.service", out / "infiniti-sync.timer"
    verified = _verify(service, timer)
    assert (verified.returncode, verified.stderr, verified.stdout) == (0, "", "")
    units = _units(service.read_text(encoding="utf-8"))
    assert units["Type"] == ["oneshot"]
    assert units["User"] == units["Group"] == ["sync"]
    assert units["WorkingDirectory"] == [os.fspath(root)]
    assert units["EnvironmentFile"] == [os.fspath(env_file)]
    assert units["ExecStart"] == [f'"{executable}" run --all --due -q']  # its name holds a space
    assert units["ReadWritePaths"] == [os.fspath(root / ".infiniti-sync")]  # the state's folder holds runs/
    for setting in ("NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes"):
        key, value = setting.split("=")
        assert units[key] == [value]
    timing = _units(timer.read_text(encoding="utf-8"))
    assert (timing["OnCalendar"], timing["Persistent"]) == (["*:0/15"], ["true"])


def test_systemd_analyze_verify_would_see_a_broken_unit(tmp_path: Path, root: Path) -> None:
    """The check above can fail: a unit whose command is not there is refused."""
    out = tmp_path / "units"
    _emit(root, out, "systemd", "--executable", os.fspath(tmp_path / "missing"))
    verified = _verify(out / "infiniti-sync.service")
    assert verified.returncode != 0
    assert f"Command {tmp_path / 'missing'} is not executable" in verified.stderr


def test_a_project_in_a_home_folder_keeps_home_readable(tmp_path: Path, root: Path) -> None:
    done = _schedule(root, "systemd", "--workdir", "/home/it/specs")
    units = _units(done.out)
    assert units["ProtectHome"] == ["read-only"]
    assert units["WorkingDirectory"] == ["/home/it/specs"]
    assert units["ReadWritePaths"] == ["/home/it/specs/.infiniti-sync"]  # the project's folders, there


def test_no_archive_and_a_shared_state_leave_nothing_to_write(shared: Path) -> None:
    done = _schedule(shared, "systemd")
    assert "ReadWritePaths" not in _units(done.out)


# --- Windows Task Scheduler -----------------------------------------------------------------------


def _task(root: Path, out: Path, *args: str) -> tuple[bytes, ET.Element]:
    assert _emit(root, out, "windows", *args) == ["infiniti-sync.xml"]
    data = (out / "infiniti-sync.xml").read_bytes()
    return data, ET.fromstring(data)  # noqa: S314 - our own file


def _text(task: ET.Element, path: str) -> str | None:
    found = task.find("/".join(TASK + part for part in path.split("/")))
    return None if found is None else found.text


def test_the_task_is_utf16_with_a_bom_and_holds_what_task_scheduler_requires(
    tmp_path: Path, root: Path
) -> None:
    data, task = _task(
        root,
        tmp_path / "task",
        "--every",
        "15",
        "--workdir",
        "D:\\specs",
        "--executable",
        "D:\\sync\\infiniti-sync.exe",
    )
    assert data.startswith(b"\xff\xfe")  # UTF-16 LE with its byte order mark, as Task Scheduler writes it
    text = data[2:].decode("utf-16-le")
    assert text.startswith('<?xml version="1.0" encoding="UTF-16"?>\r\n')
    assert "\n" not in text.replace("\r\n", "")  # CRLF line ends only
    assert task.tag == TASK + "Task"
    assert task.get("version") == "1.2"
    assert [child.tag.removeprefix(TASK) for child in task] == [
        "RegistrationInfo",
        "Triggers",
        "Principals",
        "Settings",
        "Actions",
    ]
    assert _text(task, "RegistrationInfo/URI") == "\\infiniti-sync"
    assert _text(task, "Triggers/TimeTrigger/Repetition/Interval") == "PT15M"
    assert _text(task, "Triggers/TimeTrigger/Repetition/Duration") is None  # repeats indefinitely
    boundary = _text(task, "Triggers/TimeTrigger/StartBoundary")
    assert boundary is not None and boundary.endswith("T00:00:00")
    assert _text(task, "Principals/Principal/UserId") == "infiniti-sync"  # a local account
    assert _text(task, "Principals/Principal/LogonType") == "Password"  # whether signed in or not
    assert _text(task, "Principals/Principal/RunLevel") == "LeastPrivilege"
    assert _text(task, "Settings/MultipleInstancesPolicy") == "IgnoreNew"
    assert _text(task, "Settings/StartWhenAvailable") == "true"
    assert _text(task, "Actions/Exec/Command") == "D:\\sync\\infiniti-sync.exe"
    assert _text(task, "Actions/Exec/Arguments") == "run --all --due -q"
    assert _text(task, "Actions/Exec/WorkingDirectory") == "D:\\specs"
    assert "schtasks /Create /XML infiniti-sync.xml /TN infiniti-sync /RU infiniti-sync /RP *" in text


def test_a_built_in_service_account_is_named_by_its_sid_and_needs_no_password(
    tmp_path: Path, root: Path
) -> None:
    data, task = _task(root, tmp_path / "task", "--user", "NT AUTHORITY\\NETWORK SERVICE")
    assert _text(task, "Principals/Principal/UserId") == "S-1-5-20"
    assert _text(task, "Principals/Principal/LogonType") == "ServiceAccount"
    assert "/TN infiniti-sync\r\n" in data[2:].decode("utf-16-le")


def test_the_task_on_standard_output_says_to_write_it_as_a_file(root: Path) -> None:
    done = _schedule(root, "windows")
    assert done.out.startswith('<?xml version="1.0" encoding="UTF-16"?>\n')
    assert done.err == "note: Task Scheduler reads the file as UTF-16: write it with --out DIR\n"


# --- Kubernetes -----------------------------------------------------------------------------------


def _manifests(root: Path, out: Path, *args: str) -> list[dict[str, Any]]:
    kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="pip install '.[test]'")
    assert _emit(root, out, "kubernetes", *args) == ["infiniti-sync.yaml"]
    documents = list(yaml.safe_load_all((out / "infiniti-sync.yaml").read_text(encoding="utf-8")))
    for document in documents:
        assert kubernetes_validate.validate(document, KUBERNETES, strict=True) == KUBERNETES
    return documents


def _pod(cronjob: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return pod


def test_the_kubernetes_manifests_validate_and_run_one_shard_per_pod(tmp_path: Path, shared: Path) -> None:
    configmap, cronjob = _manifests(
        shared, tmp_path / "k8s", "--shards", "4", "--image", "registry.example/sync:1"
    )
    assert [configmap["kind"], cronjob["kind"]] == ["ConfigMap", "CronJob"]
    spec = cronjob["spec"]
    assert (spec["schedule"], spec["concurrencyPolicy"], spec["timeZone"]) == (
        "*/5 * * * *",
        "Forbid",
        "Etc/UTC",
    )
    assert spec["startingDeadlineSeconds"] == 300
    job = spec["jobTemplate"]["spec"]
    assert (job["completionMode"], job["completions"], job["parallelism"]) == ("Indexed", 4, 4)
    pod = _pod(cronjob)
    [container] = pod["containers"]
    assert container["args"] == [
        "run",
        "--all",
        "--due",
        "-q",
        "--log-format",
        "json",
        "--shard",
        "$(JOB_COMPLETION_INDEX)/4",
    ]
    env = {e["name"]: e for e in container["env"]}
    # $(VAR) in args is expanded from the container's own env: the index is declared there.
    assert env["JOB_COMPLETION_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    )
    assert env[STATE_VARIABLE]["valueFrom"]["secretKeyRef"] == {
        "name": "infiniti-sync-secrets",
        "key": STATE_VARIABLE,
    }
    assert env["TMPDIR"]["value"] == "/tmp"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert set(container["resources"]) == {"requests", "limits"}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    secret = volumes[mounts["/run/secrets/sync"]]["secret"]
    assert (secret["secretName"], secret["items"]) == (
        "infiniti-sync-secrets",
        [{"key": "demo", "path": "demo"}],
    )
    assert volumes[mounts["/project"]]["configMap"]["name"] == configmap["metadata"]["name"]
    assert container["workingDir"] == "/project"


def _pod_view(configmap: dict[str, Any], cronjob: dict[str, Any], folder: Path) -> Path:
    """The project folder as the pod sees it: the ConfigMap's items laid out in `folder`."""
    [volume] = [v for v in _pod(cronjob)["volumes"] if v["name"] == "project"]
    for item in volume["configMap"]["items"]:
        (folder / item["path"]).parent.mkdir(parents=True, exist_ok=True)
        (folder / item["path"]).write_text(configmap["data"][item["key"]], encoding="utf-8")
    return folder


def test_the_configmap_is_the_whole_project(tmp_path: Path, shared: Path) -> None:
    """The project laid out from the ConfigMap's items, as the pod sees it, is the project, and valid."""
    configmap, cronjob = _manifests(shared, tmp_path / "k8s")
    pod_view = _pod_view(configmap, cronjob, tmp_path / "pod-project")
    written = sorted(p.relative_to(pod_view).as_posix() for p in pod_view.rglob("*") if p.is_file())
    assert written == [
        "infiniti-sync.yaml",
        "specs/guardians.yaml",
        "specs/staff.yaml",
        "specs/students.yaml",
    ]
    for name in written:
        assert (pod_view / name).read_text(encoding="utf-8") == (shared / name).read_text(encoding="utf-8")
    done = invoke(pod_view, ["validate"], env={})
    assert (done.code, done.out) == (0, "4 files valid\n")


def test_the_configmap_holds_the_tenant_files_of_a_tenants_folder(tmp_path: Path, shared: Path) -> None:
    """A department's project with `tenants: tenants` (a file per school): the pod sees those files too,
    and the project it sees is valid."""
    project_file = shared / "infiniti-sync.yaml"
    data = yaml.safe_load(project_file.read_text(encoding="utf-8"))
    (shared / "tenants").mkdir()
    names = sorted(data["tenants"])
    for name in names:
        (shared / "tenants" / f"{name}.yaml").write_text(
            yaml.safe_dump(data["tenants"][name]), encoding="utf-8"
        )
    data["tenants"] = "tenants"
    project_file.write_text(yaml.safe_dump(data), encoding="utf-8")
    configmap, cronjob = _manifests(shared, tmp_path / "k8s")
    pod_view = _pod_view(configmap, cronjob, tmp_path / "pod-project")
    written = sorted(p.relative_to(pod_view).as_posix() for p in pod_view.rglob("*") if p.is_file())
    assert names and written == sorted(
        ["infiniti-sync.yaml", "specs/guardians.yaml", "specs/staff.yaml", "specs/students.yaml"]
        + [f"tenants/{n}.yaml" for n in names]
    )
    done = invoke(pod_view, ["validate"], env={})
    assert (done.code, done.out) == (0, f"{4 + len(names)} files valid\n")


def test_one_shard_runs_without_an_index(tmp_path: Path, shared: Path) -> None:
    _, cronjob = _manifests(shared, tmp_path / "k8s")
    [container] = _pod(cronjob)["containers"]
    assert container["args"] == ["run", "--all", "--due", "-q", "--log-format", "json"]
    assert "JOB_COMPLETION_INDEX" not in {e["name"] for e in container["env"]}


@pytest.mark.skipif(
    sys.platform == "win32",
    reason="the pod's folder /var/lib/infiniti-sync/runs is read as a path of this machine, which on Windows "
    "is C:\\var\\lib\\... (the manifest would mount C:/var/lib/...)",
)
def test_an_archive_outside_the_project_is_kept_on_a_volume(tmp_path: Path, shared: Path) -> None:
    _edit(shared / "infiniti-sync.yaml", "archive: false", "archive: /var/lib/infiniti-sync/runs")
    _, cronjob, claim = _manifests(shared, tmp_path / "k8s", "--shards", "2")
    assert claim["kind"] == "PersistentVolumeClaim"
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]  # pods of several shards, on any node
    [container] = _pod(cronjob)["containers"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    [volume] = [v for v in _pod(cronjob)["volumes"] if v["name"] == mounts["/var/lib/infiniti-sync/runs"]]
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]


def test_the_validation_would_see_a_manifest_kubernetes_refuses() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="pip install '.[test]'")
    broken = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "x"},
        "spec": {
            "schedule": "*/5 * * * *",
            "concurrency": "Forbid",
            "jobTemplate": {"spec": {"template": {"spec": {"containers": []}}}},
        },
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)


@pytest.mark.parametrize(
    ("edit", "args", "message"),
    [
        (
            None,
            ["--shards", "4"],
            "error: kubernetes: the project's state is a SQLite file, which a pod does not keep between runs "
            "and which shards on different nodes cannot share\n"
            "  hint: use one PostgreSQL state for every shard: state: {env: INFINITI_SYNC_STATE_URL} in the "
            "project file (the URL comes from the Secret)\n",
        ),
        (
            ("archive: false", "archive: runs"),
            [],
            "error: kubernetes: the archive (ROOT/runs) is inside the project folder, which is a read-only "
            "ConfigMap in the pod\n"
            "  hint: write archive: false (the report still goes to the pod's log), or an absolute folder "
            "such as /var/lib/infiniti-sync/runs, which is then mounted from a volume\n",
        ),
        (
            ("{file: /run/secrets/sync/demo}", "{file: secrets/demo.txt}"),
            [],
            "error: kubernetes: the secret file ROOT/secrets/demo.txt is inside the project folder, which is "
            "a ConfigMap\n"
            "  hint: read it from where the Secret is mounted, outside the project: for example "
            "{file: /run/secrets/infiniti-sync/demo.txt}\n",
        ),
        (
            ("{file: /run/secrets/sync/demo}", "{keyring: infiniti-sync/autosync}"),
            [],
            "error: kubernetes: the project reads {keyring: infiniti-sync/autosync}, and a pod has no "
            "keyring\n"
            "  hint: read the secret from the Secret instead: {file: /run/secrets/infiniti-sync/NAME} or "
            "{env: NAME}\n",
        ),
        (
            None,
            ["--user", "sync"],
            "error: kubernetes: --user sync: a pod's user is a number (runAsUser)\n"
            "  hint: give the image's user id, 10001 for the Dockerfile's\n",
        ),
    ],
)
def test_what_a_pod_cannot_give_the_project_is_refused(
    tmp_path: Path, root: Path, edit: tuple[str, str] | None, args: list[str], message: str
) -> None:
    if edit is not None or "--user" in args:
        _edit(
            root / "infiniti-sync.yaml", "state: .infiniti-sync/state.db", f"state: {{env: {STATE_VARIABLE}}}"
        )
        _edit(root / "infiniti-sync.yaml", "archive: .infiniti-sync/runs", "archive: false")
    if edit is not None:
        _edit(root / "infiniti-sync.yaml", *edit)
    done = _schedule(root, "kubernetes", *args, "--out", os.fspath(tmp_path / "k8s"))
    assert (done.code, done.out, done.err) == (2, "", message.replace("ROOT", os.fspath(root)))
    assert not (tmp_path / "k8s").exists()


# --- the command ----------------------------------------------------------------------------------


def test_files_are_never_replaced_without_force_and_never_half_written(tmp_path: Path, root: Path) -> None:
    out = tmp_path / "out"
    _emit(root, out, "systemd")
    (out / "infiniti-sync.timer").write_text("mine\n", encoding="utf-8")
    done = _schedule(root, "systemd", "--out", os.fspath(out), "--every", "10")
    assert done.code == 2
    assert done.err == (
        f"error: {out / 'infiniti-sync.service'}, {out / 'infiniti-sync.timer'} already exist\n"
        "  hint: pass --force to replace them, or choose another --out folder\n"
    )
    assert (out / "infiniti-sync.timer").read_text(encoding="utf-8") == "mine\n"
    done = _schedule(root, "systemd", "--out", os.fspath(out), "--every", "10", "--force")
    assert done.code == 0
    assert done.out == f"wrote {out / 'infiniti-sync.service'}\nwrote {out / 'infiniti-sync.timer'}\n"
    assert "OnCalendar=*:0/10" in (out / "infiniti-sync.timer").read_text(encoding="utf-8")
    assert sorted(p.name for p in out.iterdir()) == ["infiniti-sync.service", "infiniti-sync.timer"]


def test_several_files_on_standard_output_are_each_named(root: Path) -> None:
    done = _schedule(root, "systemd", "--name", "school-a")
    assert (done.code, done.err) == (0, "")
    headers = [line for line in done.out.splitlines() if line.startswith("# ==> ")]
    assert headers == ["# ==> school-a.service <==", "# ==> school-a.timer <=="]
    assert "Unit=school-a.service" in done.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cron", "--shards", "2"], "error: --shards is for kubernetes, not cron\n"),
        (["kubernetes", "--log", "x"], "error: --log is for cron, not kubernetes\n"),
        (
            ["cron", "--every", "7"],
            "error: --every 7: give a number of minutes that divides an hour (1, 2, 3, 4, 5, 6, 10, 12, 15, "
            "20, 30 or 60), so that every engine starts at the same minutes\n",
        ),
        (["kubernetes", "--shards", "0"], "error: --shards must be at least 1\n"),
        (
            ["systemd", "--name", "School A"],
            "error: --name 'School A': lowercase letters, digits and -, at most 52, starting and ending with "
            "a letter or digit (it names units, a task and Kubernetes objects)\n",
        ),
    ],
)
def test_options_that_cannot_be_carried_out_are_usage_errors(
    root: Path, args: list[str], message: str
) -> None:
    done = _schedule(root, *args)
    assert (done.code, done.out, done.err) == (2, "", message)


def test_the_time_zones_of_the_project_and_its_tenants_are_read_from_its_file(shared: Path) -> None:
    """`timezone:` (project and tenants) is read from the file as written, whether or not this runner's
    schema knows it yet: the CronJob's timeZone is the project's, and the comments name every zone."""
    _edit(shared / "infiniti-sync.yaml", "keep_runs: 30\n", "keep_runs: 30\ntimezone: Australia/Sydney\n")
    _edit(
        shared / "infiniti-sync.yaml",
        "    tenant_id: demo\n",
        "    tenant_id: demo\n    timezone: Pacific/Auckland\n",
    )
    files = project.read(shared / "infiniti-sync.yaml")
    needs = Needs.of(project.build(files), files)
    assert (needs.timezone, needs.zones, needs.untimed) == (
        "Australia/Sydney",
        ("Australia/Sydney", "Pacific/Auckland"),
        (),
    )
    [emitted] = schedules.emit("kubernetes", Setting(user="10001"), needs).files
    documents = list(yaml.safe_load_all(emitted.text))
    assert documents[1]["spec"]["timeZone"] == "Australia/Sydney"
    assert (
        "# The tenants' schedules are read in their time zones (Australia/Sydney, Pacific/Auckland).\n"
        in (emitted.text)
    )


def test_tenants_without_a_time_zone_are_named(root: Path) -> None:
    done = _schedule(root, "cron")
    assert (
        "# Schedules are read in the tenant's or the project's timezone; those of demo, which have none, "
        "in the local time zone of the machine that runs them.\n"
    ) in done.out


def test_a_project_too_large_for_a_configmap_is_said_to_be_baked_into_the_image(
    tmp_path: Path, shared: Path
) -> None:
    staff = shared / "specs" / "staff.yaml"
    staff.write_text(staff.read_text(encoding="utf-8") + "# " + "x" * 1_100_000 + "\n", encoding="utf-8")
    done = _schedule(shared, "kubernetes", "--out", os.fspath(tmp_path / "k8s"))
    size = sum(len(p.read_bytes()) for p in (shared / "infiniti-sync.yaml", *(shared / "specs").iterdir()))
    assert (done.code, done.err) == (
        0,
        f"warning: the project is {size} bytes, over a ConfigMap's 1048576: bake it into the image\n",
    )
