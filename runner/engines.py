"""The scheduling engines `infiniti-sync schedule FORMAT` writes configuration for, one module each under
runner/schedules/. Apart from that package so that the command line can list them without importing it."""

FORMATS = ("cron", "systemd", "windows", "kubernetes")
