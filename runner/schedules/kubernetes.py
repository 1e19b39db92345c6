"""Kubernetes: a CronJob that starts, every few minutes, an Indexed Job of N pods, each running
`run --all --due -q --shard INDEX/N` on one slice of the tenants, all sharing one PostgreSQL state.

    ConfigMap NAME-project   the project file and specs (and CA bundles inside the project), at /project
    CronJob NAME             concurrencyPolicy Forbid; its Job: completionMode Indexed, N completions
    PersistentVolumeClaim NAME-archive   only when the project keeps an archive outside its folder
    Secret NAME-secrets      not emitted: its `kubectl create secret` command is in the comments

A pod keeps no file between runs and its project folder is read-only, so the state must be PostgreSQL (a
SQLite state is refused) and the archive off or on a volume outside the project. Every secret the project
reads comes from the one Secret: `{file: PATH}` as a file mounted at PATH, `{env: NAME}` as a variable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

from runner.errors import UsageError
from runner.schedules import RUN, Emission, Emitted, Needs, Setting, zones_comment

PROJECT = PurePosixPath("/project")  # where the project is in the pod
TMP = "/tmp"  # noqa: S108 - the pod's own emptyDir, its TMPDIR
INDEX = "JOB_COMPLETION_INDEX"
INDEX_ANNOTATION = "metadata.annotations['batch.kubernetes.io/job-completion-index']"
CONFIGMAP_LIMIT = 1024 * 1024  # bytes a ConfigMap may hold
_KEY_CHARACTER = re.compile(r"[^-._a-zA-Z0-9]")


def in_pod(path: Path, needs: Needs) -> PurePosixPath:
    """Where `path` of this machine is in the pod: the project folder moves to /project."""
    if path == needs.root or path.is_relative_to(needs.root):
        return PROJECT / path.relative_to(needs.root).as_posix()
    return PurePosixPath(path.as_posix())


def _key(text: str) -> str:
    """A ConfigMap or Secret key (letters, digits, `-`, `_`, `.`) for a path or name."""
    return _KEY_CHARACTER.sub("_", text.replace("/", "__"))


def _refuse(needs: Needs) -> None:
    """UsageError for what a pod cannot give the project: a local state, an archive in the read-only
    project folder, a secret file inside it, a secret from the keyring (a pod has none)."""
    if needs.sqlite_state is not None:
        raise UsageError(
            "kubernetes: the project's state is a SQLite file, which a pod does not keep between runs and "
            "which shards on different nodes cannot share",
            hint="use one PostgreSQL state for every shard: state: {env: INFINITI_SYNC_STATE_URL} in the "
            "project file (the URL comes from the Secret)",
        )
    if needs.archive is not None and needs.archive.is_relative_to(needs.root):
        raise UsageError(
            f"kubernetes: the archive ({needs.archive}) is inside the project folder, which is a read-only "
            "ConfigMap in the pod",
            hint="write archive: false (the report still goes to the pod's log), or an absolute folder "
            "such as /var/lib/infiniti-sync/runs, which is then mounted from a volume",
        )
    if needs.keyrings:
        raise UsageError(
            f"kubernetes: the project reads {{keyring: {needs.keyrings[0]}}}, and a pod has no keyring",
            hint="read the secret from the Secret instead: {file: /run/secrets/infiniti-sync/NAME} or "
            "{env: NAME}",
        )
    for file in needs.secret_files:
        if file.is_relative_to(needs.root):
            raise UsageError(
                f"kubernetes: the secret file {file} is inside the project folder, which is a ConfigMap",
                hint="read it from where the Secret is mounted, outside the project: for example "
                f"{{file: /run/secrets/infiniti-sync/{_key(file.name)}}}",
            )


def _project_files(needs: Needs) -> dict[str, tuple[str, str]]:
    """ConfigMap key -> (path in the project, text), for the project file, the specs and the CA bundles
    inside the project."""
    texts = list(needs.files)
    texts += [(p, p.read_text(encoding="utf-8")) for p in _bundles(needs) if p.is_file()]
    found: dict[str, tuple[str, str]] = {}
    for path, text in texts:
        relative = path.relative_to(needs.root).as_posix()
        key = _key(relative)
        if key in found:
            raise UsageError(
                f"kubernetes: {relative} and {found[key][0]} would have the same ConfigMap key {key}",
                hint="rename one of them",
            )
        found[key] = (relative, text)
    return found


def _bundles(needs: Needs) -> list[Path]:
    """The CA bundles inside the project, which go into its ConfigMap."""
    return [p for p in needs.ca_bundles if p.is_relative_to(needs.root)]


def _secret_keys(needs: Needs) -> tuple[dict[str, str], dict[Path, str]]:
    """The Secret's key for each environment variable and each secret file."""
    env = {name: name for name in needs.env}
    files: dict[Path, str] = {}
    used = set(env)
    for path in needs.secret_files:
        key, number = _key(path.name), 2
        while key in used:
            key, number = f"{_key(path.name)}-{number}", number + 1
        used.add(key)
        files[path] = key
    return env, files


def _volumes(setting: Setting, needs: Needs, files: dict[Path, str]) -> tuple[list[Any], list[Any]]:
    """The pod's volumes and the container's mounts: the project, TMPDIR, the archive, the secret files
    (one volume per folder they are in)."""
    project_items = [{"key": k, "path": rel} for k, (rel, _) in sorted(_project_files(needs).items())]
    volumes: list[Any] = [
        {"name": "project", "configMap": {"name": f"{setting.name}-project", "items": project_items}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
    ]
    mounts: list[Any] = [
        {"name": "project", "mountPath": str(PROJECT), "readOnly": True},
        {"name": "tmp", "mountPath": TMP},
    ]
    if needs.archive is not None:
        claim = {"claimName": f"{setting.name}-archive"}
        volumes.append({"name": "archive", "persistentVolumeClaim": claim})
        mounts.append({"name": "archive", "mountPath": str(in_pod(needs.archive, needs))})
    folders: dict[PurePosixPath, list[Any]] = {}
    for path, key in files.items():
        folders.setdefault(in_pod(path, needs).parent, []).append({"key": key, "path": path.name})
    for number, (folder, items) in enumerate(sorted(folders.items()), 1):
        name = f"secrets-{number}"
        secret = {"secretName": f"{setting.name}-secrets", "items": items, "defaultMode": 0o440}
        volumes.append({"name": name, "secret": secret})
        mounts.append({"name": name, "mountPath": str(folder), "readOnly": True})
    return volumes, mounts


def _env(setting: Setting, env_keys: dict[str, str]) -> list[Any]:
    env: list[Any] = [
        {"name": "TMPDIR", "value": TMP},
        {"name": "INFINITI_SYNC_CACHE", "value": ""},  # a pod keeps nothing: validate on every start
    ]
    if setting.shards > 1:  # declared, so that $(JOB_COMPLETION_INDEX) in args is expanded
        env.append({"name": INDEX, "valueFrom": {"fieldRef": {"fieldPath": INDEX_ANNOTATION}}})
    for name, key in env_keys.items():
        ref = {"name": f"{setting.name}-secrets", "key": key}
        env.append({"name": name, "valueFrom": {"secretKeyRef": ref}})
    return env


def args(setting: Setting) -> list[str]:
    """What each pod runs (after the image's ENTRYPOINT, infiniti-sync)."""
    shard = ["--shard", f"$({INDEX})/{setting.shards}"] if setting.shards > 1 else []
    return [*RUN, "--log-format", "json", *shard]


def cronjob(setting: Setting, needs: Needs) -> dict[str, Any]:
    """The CronJob."""
    env_keys, file_keys = _secret_keys(needs)
    volumes, mounts = _volumes(setting, needs, file_keys)
    user = int(setting.user)
    container = {
        "name": "infiniti-sync",
        "image": setting.image,
        "args": args(setting),
        "workingDir": str(PROJECT),
        "env": _env(setting, env_keys),
        "volumeMounts": mounts,
        "resources": {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    pod = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": user,
            "runAsGroup": user,
            "fsGroup": user,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": volumes,
    }
    job = {
        "completionMode": "Indexed",
        "completions": setting.shards,
        "parallelism": setting.shards,
        "backoffLimitPerIndex": 0,  # a failed shard waits for the next start; the others go on
        "ttlSecondsAfterFinished": 86400,
        "template": {"metadata": {"labels": _labels(setting)}, "spec": pod},
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": _metadata(setting, setting.name),
        "spec": {
            "schedule": f"*/{setting.every} * * * *",
            "timeZone": needs.timezone or "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": setting.every * 60,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {"metadata": {"labels": _labels(setting)}, "spec": job},
        },
    }


def _labels(setting: Setting) -> dict[str, str]:
    return {"app.kubernetes.io/name": "infiniti-sync", "app.kubernetes.io/instance": setting.name}


def _metadata(setting: Setting, name: str) -> dict[str, Any]:
    return {"name": name, "namespace": setting.namespace, "labels": _labels(setting)}


def configmap(setting: Setting, needs: Needs) -> dict[str, Any]:
    """The ConfigMap holding the project."""
    data = {key: text for key, (_, text) in sorted(_project_files(needs).items())}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(setting, f"{setting.name}-project"),
        "data": data,
    }


def archive_claim(setting: Setting) -> dict[str, Any]:
    """The volume the archive is kept on (shared by the shards' pods, on any node)."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": _metadata(setting, f"{setting.name}-archive"),
        "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "10Gi"}}},
    }


def _secret_command(setting: Setting, needs: Needs) -> str:
    env_keys, file_keys = _secret_keys(needs)
    sources = [f"--from-file={key}=./{key}.txt" for key in [*env_keys.values(), *file_keys.values()]]
    return f"kubectl -n {setting.namespace} create secret generic {setting.name}-secrets " + " ".join(sources)


def _notes(setting: Setting, needs: Needs) -> list[str]:
    shards = (
        f"{setting.shards} pods at once, each on its slice of the tenants (--shard INDEX/{setting.shards}), "
        "sharing the project's PostgreSQL state and its locks."
        if setting.shards > 1
        else "one pod (--shards N splits the tenants among N pods)."
    )
    notes = [
        f"infiniti-sync for Kubernetes: every {setting.every} minutes, a Job of {shards}",
        "Checked against the schemas of Kubernetes 1.30 (backoffLimitPerIndex needs 1.29 or later).",
        f"Apply: kubectl create namespace {setting.namespace}; kubectl apply -f {setting.name}.yaml",
        f"Adjust: the image ({setting.image}: build it from the Dockerfile and push it to your registry),",
        "the resources, and the ConfigMap when the project changes (emit this file again).",
        "To bake the project into the image instead (a project over the ConfigMap's 1 MiB): COPY it to",
        "/project in an image FROM this one, and drop the project volume and its mount.",
    ]
    if needs.env or needs.secret_files:
        notes += [
            "The secrets, one file each (no secret in your shell's history), in the Secret:",
            f"  {_secret_command(setting, needs)}",
        ]
    if needs.archive is not None:
        notes.append(f"The archive is kept on the volume {setting.name}-archive (ReadWriteMany: adjust).")
    if needs.sources:
        notes.append(
            "The CSV sources ("
            + ", ".join(str(in_pod(p, needs)) for p in needs.sources)
            + ") are not in the ConfigMap: mount them from a volume, or read the SMS's database."
        )
    notes += [
        f"The CA bundle {in_pod(p, needs)} is not in the ConfigMap: it is not on this machine."
        for p in _bundles(needs)
        if not p.is_file()
    ]
    notes += [
        f"The CA bundle {p} is outside the project: mount it there (a ConfigMap volume at {p.parent})."
        for p in needs.ca_bundles
        if not p.is_relative_to(needs.root)
    ]
    notes.append(zones_comment(needs).replace("the machine that runs them", "the pod, UTC"))
    return notes


def _comment(lines: Iterable[str]) -> str:
    return "".join(f"# {line}\n" if line else "#\n" for line in lines)


def emit(setting: Setting, needs: Needs) -> Emission:
    """The manifests, in one file for `kubectl apply -f`."""
    if not setting.user.isdigit():
        raise UsageError(
            f"kubernetes: --user {setting.user}: a pod's user is a number (runAsUser)",
            hint="give the image's user id, 10001 for the Dockerfile's",
        )
    _refuse(needs)
    import yaml

    dumper = _dumper()
    data = configmap(setting, needs)
    documents = [data, cronjob(setting, needs)]
    if needs.archive is not None:
        documents.append(archive_claim(setting))
    text = _comment(_notes(setting, needs)) + "---\n".join(
        yaml.dump(d, Dumper=dumper, sort_keys=False, allow_unicode=True, width=110) for d in documents
    )
    size = sum(len(t.encode()) for t in data["data"].values())
    notes = (
        (f"the project is {size} bytes, over a ConfigMap's {CONFIGMAP_LIMIT}: bake it into the image",)
        if size > CONFIGMAP_LIMIT
        else ()
    )
    return Emission((Emitted(f"{setting.name}.yaml", text),), notes)


def _dumper() -> Any:
    import yaml

    class Dumper(yaml.SafeDumper):
        """Multi-line text as literal blocks, so that the project reads as it is written."""

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    return Dumper
