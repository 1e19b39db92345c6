"""`infiniti-sync report --html DIR`: a static, self-contained run-history site, read from the state store
and the run archive (never written to either).

    state store + archive -> data.jobs_of (JobView per job) -> pages (times, trends, charts) -> site.write
    DIR/index.html                 every job: last run, last ok run and how long ago, counts, a trend
    DIR/jobs/TENANT/SPEC.html      one job: a chart of its runs, its recent runs, the latest run's failed
                                   rows and unmet expectations, a held run's approve command, archive links

(The run's own report, text, JSON and JUnit, is runner.report.)
"""
