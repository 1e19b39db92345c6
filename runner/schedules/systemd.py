"""systemd: a oneshot service that runs `run --all --due -q` as a dedicated user with the system
read-only around it, and a timer that starts it every few minutes (and once at boot for a start missed
while the machine was off)."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from runner.schedules import RUN, Emission, Emitted, Needs, Setting, zones_comment

_HOMES = (PurePosixPath("/home"), PurePosixPath("/root"), PurePosixPath("/run/user"))


def _value(text: str) -> str:
    """`text` as a unit file setting takes it: `%` would start a specifier."""
    return text.replace("%", "%%")


def _word(text: str) -> str:
    """One word of a command line in a unit file, quoted when it holds spaces, quotes or backslashes."""
    if re.search(r'[\s"\'\\]', text):
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return _value(text)


def _under_home(path: str) -> bool:
    posix = PurePosixPath(path)
    return any(posix == home or home in posix.parents for home in _HOMES)


def _there(path: Path, setting: Setting, needs: Needs) -> str:
    """Where `path` of this project is on the machine the unit runs on, whose project is --workdir."""
    if path.is_relative_to(needs.root):
        return str(PurePosixPath(setting.workdir, path.relative_to(needs.root).as_posix()))
    return str(path)


def service(setting: Setting, needs: Needs) -> str:
    """The text of the service unit."""
    writable = [_there(p, setting, needs) for p in needs.writable()]
    others = [_there(p, setting, needs) for p in (*needs.secret_files, *needs.sources)]
    paths = [setting.workdir, *writable, *others]
    lines = [
        f"# {setting.name}.service: runs the jobs the tenants' schedules make due; started by the timer.",
        "# Install: copy both files to /etc/systemd/system/, then",
        f"#   systemctl daemon-reload && systemctl enable --now {setting.name}.timer",
        f"# Adjust: User= and Group= (a dedicated account: useradd --system {setting.user}),",
        "# WorkingDirectory= (the project folder), the command's path in ExecStart=, EnvironmentFile=.",
    ]
    if writable:
        lines += [
            "# ReadWritePaths= are the only folders a run may write (the archive, a SQLite state's folder);",
            "# they must exist before the first run: "
            + " && ".join(f"install -d -o {setting.user} -g {setting.user} -m 700 {p}" for p in writable),
        ]
    lines += [
        "# -q prints nothing when all is well; problems go to the journal: journalctl -u " + setting.name,
        f"# {zones_comment(needs)}",
        "",
        "[Unit]",
        f"Description=infiniti-sync: run the jobs that are due ({setting.name})",
        "Wants=network-online.target",
        "After=network-online.target",
        "",
        "[Service]",
        "Type=oneshot",
        f"User={_value(setting.user)}",
        f"Group={_value(setting.user)}",
        f"WorkingDirectory={_value(setting.workdir)}",
    ]
    if needs.env:
        lines += [
            f"# NAME=value lines, owned by root, mode 600, setting: {', '.join(needs.env)}",
            f"EnvironmentFile={_value(setting.env_file)}",
        ]
    lines += [
        f"ExecStart={' '.join(_word(w) for w in (setting.executable, *RUN))}",
        "# The cache of projects already validated (a project of thousands of tenants validates once).",
        "CacheDirectory=infiniti-sync",
        "Environment=INFINITI_SYNC_CACHE=%C/infiniti-sync",
        "UMask=0077",
        "# Hardening: the run reads the system, writes only ReadWritePaths= and its cache.",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        f"ProtectHome={'read-only' if any(map(_under_home, paths)) else 'yes'}",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectKernelLogs=yes",
        "ProtectControlGroups=yes",
        "ProtectClock=yes",
        "ProtectHostname=yes",
        "RestrictSUIDSGID=yes",
        "RestrictRealtime=yes",
        "RestrictNamespaces=yes",
        "LockPersonality=yes",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        "CapabilityBoundingSet=",
        "SystemCallArchitectures=native",
        *(f"ReadWritePaths={_value(p)}" for p in writable),
    ]
    return "\n".join(lines) + "\n"


def timer(setting: Setting) -> str:
    """The text of the timer unit."""
    return "\n".join(
        [
            f"# {setting.name}.timer: starts {setting.name}.service every {setting.every} minutes;",
            "# Persistent=true starts it at boot when a start was missed while the machine was off.",
            "",
            "[Unit]",
            f"Description=Start infiniti-sync every {setting.every} minutes ({setting.name})",
            "",
            "[Timer]",
            f"OnCalendar=*:0/{setting.every}",
            "Persistent=true",
            f"Unit={setting.name}.service",
            "",
            "[Install]",
            "WantedBy=timers.target",
            "",
        ]
    )


def emit(setting: Setting, needs: Needs) -> Emission:
    """The service and its timer."""
    return Emission(
        (
            Emitted(f"{setting.name}.service", service(setting, needs)),
            Emitted(f"{setting.name}.timer", timer(setting)),
        )
    )
