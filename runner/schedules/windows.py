"""Windows Task Scheduler: a task that starts `run --all --due -q` every few minutes as a service account,
whether anyone is signed in or not, as XML that `schtasks /Create /XML` imports.

The file is UTF-16 LE with a byte order mark and CRLF line ends, declared `encoding="UTF-16"`: what Task
Scheduler writes when it exports a task, and what schtasks reads.
"""

from __future__ import annotations

import subprocess
from datetime import date
from xml.sax.saxutils import escape

from runner.schedules import RUN, Emission, Emitted, Needs, Setting, zones_comment

NAMESPACE = "http://schemas.microsoft.com/windows/2004/02/mit/task"
# The built-in service accounts, which have no password: their well-known SIDs.
SERVICE_ACCOUNTS = {
    "nt authority\\system": "S-1-5-18",
    "nt authority\\localservice": "S-1-5-19",
    "nt authority\\local service": "S-1-5-19",
    "nt authority\\networkservice": "S-1-5-20",
    "nt authority\\network service": "S-1-5-20",
}


def _comment(text: str) -> str:
    """`text` as it may stand in an XML comment (which cannot hold `--`)."""
    return text.replace("--", "- -")


def schtasks(setting: Setting) -> str:
    """The command that imports the task."""
    command = ["schtasks", "/Create", "/XML", f"{setting.name}.xml", "/TN", setting.name]
    if setting.user.lower() not in SERVICE_ACCOUNTS:
        command += ["/RU", setting.user, "/RP", "*"]
    return subprocess.list2cmdline(command)


def _principal(user: str) -> str:
    sid = SERVICE_ACCOUNTS.get(user.lower())
    logon = "ServiceAccount" if sid else "Password"
    return (
        '    <Principal id="Author">\n'
        f"      <UserId>{escape(sid or user)}</UserId>\n"
        f"      <LogonType>{logon}</LogonType>\n"
        "      <RunLevel>LeastPrivilege</RunLevel>\n"
        "    </Principal>\n"
    )


def task(setting: Setting, needs: Needs, today: date) -> str:
    """The task's XML text."""
    secrets = (
        f"  The secrets read from the environment ({', '.join(needs.env)}) must be set for that account,\n"
        "  or read from files only it may read ({file: ...}): see docs/guides/windows.md.\n"
        if needs.env
        else ""
    )
    notes = (
        f"  infiniti-sync for Windows Task Scheduler: every {setting.every} minutes, run what the tenants'\n"
        "  schedules make due (the runner decides, and locks each job itself).\n"
        "  Import it in an elevated Command Prompt, in this folder (/RP * asks for the account's password):\n"
        f"    {schtasks(setting)}\n"
        f"  It runs as {setting.user}, whether anyone is signed in or not: a dedicated account that may\n"
        "  read the project folder and write its archive and state (adjust UserId and /RU).\n"
        "  Adjust: Command (the infiniti-sync.exe of the installation) and WorkingDirectory (the project).\n"
        f"{secrets}"
        "  -q prints nothing when all is well; the task's Last Run Result is the exit code (0: all well).\n"
        f"  {zones_comment(needs)}\n"
    )
    arguments = " ".join(RUN)
    return (
        '<?xml version="1.0" encoding="UTF-16"?>\n'
        f"<!--\n{_comment(notes)}-->\n"
        f'<Task version="1.2" xmlns="{NAMESPACE}">\n'
        "  <RegistrationInfo>\n"
        "    <Description>infiniti-sync: run the jobs that are due</Description>\n"
        f"    <URI>\\{escape(setting.name)}</URI>\n"
        "  </RegistrationInfo>\n"
        "  <Triggers>\n"
        "    <TimeTrigger>\n"
        "      <Repetition>\n"
        f"        <Interval>PT{setting.every}M</Interval>\n"
        "        <StopAtDurationEnd>false</StopAtDurationEnd>\n"
        "      </Repetition>\n"
        f"      <StartBoundary>{today.isoformat()}T00:00:00</StartBoundary>\n"
        "      <Enabled>true</Enabled>\n"
        "    </TimeTrigger>\n"
        "  </Triggers>\n"
        "  <Principals>\n"
        f"{_principal(setting.user)}"
        "  </Principals>\n"
        "  <Settings>\n"
        "    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>\n"
        "    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>\n"
        "    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>\n"
        "    <StartWhenAvailable>true</StartWhenAvailable>\n"
        "    <ExecutionTimeLimit>PT2H</ExecutionTimeLimit>\n"
        "    <Enabled>true</Enabled>\n"
        "  </Settings>\n"
        '  <Actions Context="Author">\n'
        "    <Exec>\n"
        f"      <Command>{escape(setting.executable)}</Command>\n"
        f"      <Arguments>{escape(arguments)}</Arguments>\n"
        f"      <WorkingDirectory>{escape(setting.workdir)}</WorkingDirectory>\n"
        "    </Exec>\n"
        "  </Actions>\n"
        "</Task>\n"
    )


def emit(setting: Setting, needs: Needs) -> Emission:
    """The task, starting today."""
    return Emission((Emitted(f"{setting.name}.xml", task(setting, needs, date.today()), encoding="utf-16"),))
