"""cron: one crontab line that starts `run --all --due -q` every few minutes, for one machine."""

from __future__ import annotations

import shlex

from runner.schedules import RUN, Emission, Emitted, Needs, Setting, zones_comment


def line(setting: Setting, needs: Needs) -> str:
    """The crontab line (a `%`, which cron turns into a new line, is escaped)."""
    steps = [f"cd {shlex.quote(setting.workdir)}"]
    if needs.env:
        steps.append(f"set -a && . {shlex.quote(setting.env_file)} && set +a")
    command = shlex.join([setting.executable, *RUN])
    steps.append(f"{command} 2>&1 | tee -a {shlex.quote(setting.log)}")
    return f"*/{setting.every} * * * * " + " && ".join(steps).replace("%", "\\%")


def emit(setting: Setting, needs: Needs) -> Emission:
    """The crontab of the user the runs belong to."""
    comments = [
        f"infiniti-sync for cron: every {setting.every} minutes, run what the tenants' schedules make due.",
        "The runner decides what is due and locks each job itself: no flock is needed, and a run that",
        "takes longer than the interval never overlaps a job with the next one.",
        "Install as the user the runs belong to (not root):",
        f"  crontab -u {setting.user} {setting.name}.crontab   (replaces that user's crontab; or crontab -e)",
        "Adjust: the project folder (cd), the command's path, the environment file and the log file.",
    ]
    if needs.env:
        comments += [
            f"{setting.env_file}: NAME=value lines (as systemd's EnvironmentFile reads them), owned by the",
            f"user, mode 600, setting: {', '.join(needs.env)}.",
        ]
    comments += [
        "-q prints nothing when all is well: problems are appended to the log and mailed by cron to",
        "MAILTO (this user, unless set below).",
        zones_comment(needs),
    ]
    text = "".join(f"# {c}\n" for c in comments)
    text += "# MAILTO=it@school.example\nSHELL=/bin/sh\n" + line(setting, needs) + "\n"
    return Emission((Emitted(f"{setting.name}.crontab", text),))
