"""Telling people how a run went: a webhook, an e-mail and a dead man's switch (`notify:` in the project
file, and in a tenant for that tenant's jobs alone, besides the project's).

    run: begin(jobs)          -> each ping: URL/start
         ... the jobs run ...
         end(results, state)  -> each destination: one digest of the jobs it hears of that meet its `on`
                                 (nothing when none does); each ping: URL when every job is ok, else URL/fail

A job is `recovered` when it is ok and the run of it before this one was not: the last run of every job is
read from the state in one query before the jobs run (`begin`), whatever their number, and only when some
destination listens for `recovered`. Results come back to the parent process under `run --jobs N`, so only
the parent notifies; a job skipped under its lock (`run --due`) is not told.

A digest is bounded, however many jobs it tells of: it lists the first jobs in full (at most LISTED, and no
more than fit in TEXT_BYTES of text and a webhook body of BODY_BYTES), then one line counting the others by
outcome; its subject counts every job. A listed job's paragraph is cut at JOB_BYTES, and in its entry of
the webhook's `runs` each list (findings, failed rows, notes) holds its first ENTRIES and each text at most
JOB_BYTES / 2 characters (the run's report.json has them all).

Delivery is best effort and bounded: each message is tried ATTEMPTS times, each attempt ended by its own
deadline (runner/deadline.py for HTTP, socket timeouts for SMTP); one that still fails is an error on
standard error, and never changes a run's outcome or exit code. Every message is redacted (runner/secrets.py)
before it leaves, and an address read from a secret is itself a secret.
"""

from __future__ import annotations

import json
import ssl
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from runner.console import Console, one_line
from runner.errors import SyncError
from runner.jobs import Job
from runner.numbers import number
from runner.records import record
from runner.report.run import run_line
from runner.secrets import redact, resolve
from runner.spec import Email, Notify, Project, Secret

if TYPE_CHECKING:
    import smtplib

    import urllib3

    from runner.run import JobResult
    from runner.state import StateStore

ATTEMPTS = 2
PAUSE = 1.0  # seconds between attempts
CONNECT_TIMEOUT = 5.0  # seconds to connect, per attempt
ATTEMPT_TIMEOUT = 15.0  # seconds one attempt may take in all (HTTP); each wait of an SMTP exchange (e-mail)
NOT_OK = ("failed", "held", "error")
USER_AGENT = "infiniti-sync-notify"
LISTED = 20  # jobs a digest lists in full at most; the others are counted in its last line
TEXT_BYTES = 12_000  # a digest's text at most, in UTF-8: the e-mail's body, the webhook's `text`
BODY_BYTES = 27_000  # a webhook's JSON body at most (Microsoft Teams refuses one over 28 KB)
JOB_BYTES = 2_000  # one listed job's paragraph at most; a longer one is cut
ENTRIES = 10  # a listed run's findings, failed rows and notes in the webhook's `runs`, at most each
CUT = " ... (cut here: the run's report.json in its archive has it all)"


class DeliveryError(Exception):
    """A notification that could not be delivered (refused, timed out, TLS, an HTTP error status)."""


@record
class Audience:
    """One `notify:` and the jobs it hears of: every job (the project's), or one tenant's."""

    notify: Notify
    tenant: str | None  # None: every job

    @property
    def who(self) -> str:
        """Whose notify this is, as messages name it."""
        return "the project" if self.tenant is None else f"tenant {self.tenant}"

    def hears(self, tenant: str) -> bool:
        """Whether this audience hears of a job of `tenant`."""
        return self.tenant is None or self.tenant == tenant


def audiences(project: Project) -> list[Audience]:
    """The project's notify (if any), then each tenant's own."""
    found = [Audience(project.notify, None)] if project.notify is not None else []
    return found + [Audience(t.notify, t.name) for t in project.tenants.values() if t.notify is not None]


@record
class Told:
    """A job a digest tells of, and how: its outcome, or `recovered` (with the outcome of the run before)."""

    result: JobResult
    how: str
    before: str | None = None

    def line(self) -> str:
        """The job's line of the text digest, then its reasons, failed rows and archive."""
        line = run_line(self.result)
        if self.how == "recovered":
            head = f"{self.result.name}: ok"
            line = f"{self.result.name}: recovered (the run before was {self.before})" + line[len(head) :]
        lines = [line]
        if self.result.outcome == "held":
            lines += [f"  held: {h}" for h in self.result.holds]
        if self.result.planned is not None:
            lines += [f"  failed: {f}" for f in self.result.planned.failures]
        lines += [f"  unmet: {u}" for u in self.result.unmet]
        if failed := len(self.result.failed_rows):
            lines.append(f"  failed rows: {number(failed)}")
        if self.result.archive is not None:
            lines.append(f"  archive: {self.result.archive}")
        return _cut("\n".join(lines), JOB_BYTES)

    def run(self) -> dict[str, Any]:
        """The job as the webhook's `runs` list it: `run --format json`'s fields, each list (findings,
        failed rows, notes) cut to its first ENTRIES and each text to JOB_BYTES / 2 characters."""
        shortened: dict[str, Any] = _short(self.result.to_json())
        return shortened


def digest_subject(told: Sequence[Told]) -> str:
    """The digest's first line (the e-mail's subject): how many jobs need attention, how many recovered."""
    attention = sum(t.how != "recovered" for t in told)
    recovered = len(told) - attention
    parts = [_count(attention, "job needs", "jobs need") + " attention"] if attention else []
    if recovered:
        parts.append(
            _count(recovered, "job", "jobs") + " recovered" if not attention else f"{recovered} recovered"
        )
    return "infiniti-sync: " + ", ".join(parts)


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


@record
class Digest:
    """One destination's digest, redacted: its subject (counting every job told), its text and the runs it
    lists in full (the first jobs, as many as the bounds allow), and how many jobs it only counts."""

    subject: str
    text: str
    runs: list[dict[str, Any]]
    unlisted: int

    @classmethod
    def of(cls, told: Sequence[Told]) -> Digest:
        """The digest of `told`: the longest prefix of at most LISTED jobs whose text and body fit."""
        subject = redact(digest_subject(told))
        paragraphs: list[str] = []
        runs: list[dict[str, Any]] = []
        best = cls(subject, _text(subject, [], told), [], len(told))
        for t in told[:LISTED]:
            paragraphs.append(redact(t.line()))
            runs.append(json.loads(redact(json.dumps(t.run(), ensure_ascii=False))))
            fits = cls(subject, _text(subject, paragraphs, told), list(runs), len(told) - len(runs))
            if len(fits.text.encode()) > TEXT_BYTES or len(fits.body()) > BODY_BYTES:
                break
            best = fits
        return best

    def body(self) -> bytes:
        """The webhook's JSON body."""
        data = {"text": self.text, "runs": self.runs, "unlisted": self.unlisted}
        return json.dumps(data, ensure_ascii=False).encode()


def _text(subject: str, paragraphs: Sequence[str], told: Sequence[Told]) -> str:
    """The digest as text: its subject line, a paragraph per listed job, then the others counted."""
    rest = told[len(paragraphs) :]
    tail = [_unlisted(rest)] if rest else []
    return "\n".join([subject, "", *paragraphs, *tail])


def _unlisted(rest: Sequence[Told]) -> str:
    """`and 4980 more jobs not listed here: 4000 failed, 980 error; infiniti-sync history lists them`."""
    counts = Counter(t.how for t in rest)
    each = ", ".join(f"{counts[how]} {how}" for how in (*NOT_OK, "recovered") if counts[how])
    more = _count(len(rest), "more job", "more jobs")
    return f"and {more} not listed here: {each}; infiniti-sync history lists them"


def _cut(text: str, limit: int) -> str:
    """`text` in at most `limit` bytes of UTF-8: whole lines while they fit, then a line saying it was cut."""
    if len(text.encode()) <= limit:
        return text
    room = limit - len(CUT.encode()) - 2
    kept = text.encode()[:room].decode(errors="ignore")
    if "\n" in kept:
        kept = kept.rsplit("\n", 1)[0]
    return f"{kept}\n {CUT}"


def _short(value: Any) -> Any:
    """A run's JSON value with each list cut to its first ENTRIES and each text to JOB_BYTES / 2."""
    if isinstance(value, str) and len(value) > JOB_BYTES // 2:
        return value[: JOB_BYTES // 2 - len(CUT)] + CUT
    if isinstance(value, list):
        return [_short(v) for v in value[:ENTRIES]]
    if isinstance(value, dict):
        return {k: _short(v) for k, v in value.items()}
    return value


class Notifier:
    """Sends the notifications of one invocation of `run`, with the collaborators passed in."""

    def __init__(
        self,
        project: Project,
        *,
        environ: Mapping[str, str],
        console: Console,
        pool: urllib3.PoolManager | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.audiences = audiences(project)
        self.environ = environ
        self.console = console
        self._pool = pool
        self.sleep = sleep
        self.started: list[Audience] = []  # the audiences whose ping heard /start
        self.undelivered: list[str] = []  # what could not be delivered, one line each, for the run's report
        self.before: dict[tuple[str, str], str] = {}  # each job's last outcome before the jobs ran

    def begin(self, jobs: Sequence[Job], state: StateStore) -> None:
        """Ping URL/start of the project's ping, and of each tenant's with a job among `jobs`; when a
        destination listens for `recovered`, read the last run of every job, in one query."""
        tenants = {job.tenant.name for job in jobs}
        for audience in self.audiences:
            if audience.tenant is None or audience.tenant in tenants:
                self.started.append(audience)
                if audience.notify.ping is not None:
                    self._deliver(audience, "ping", partial(self._ping, audience, "/start"))
        if any("recovered" in a.notify.on for a in self.started):
            self.before = self._before(state)

    def end(self, results: Sequence[JobResult]) -> None:
        """Send each audience its digest of the jobs in `results` that meet its `on`, and end its ping."""
        ran = [r for r in results if r.outcome != "skipped"]
        for audience in self.started:
            mine = [r for r in ran if audience.hears(r.job.tenant.name)]
            told = [t for r in mine if (t := _told(r, audience.notify.on, self._outcome_before(r)))]
            digest = Digest.of(told) if told else None
            if digest is not None and audience.notify.webhook is not None:
                self._deliver(audience, "webhook", partial(self._webhook, audience, digest))
            if digest is not None and audience.notify.email is not None:
                self._deliver(audience, "e-mail", partial(self._email, audience, digest))
            if audience.notify.ping is not None:
                tail = "" if all(r.outcome == "ok" for r in mine) else "/fail"
                self._deliver(audience, "ping", partial(self._ping, audience, tail))

    def _before(self, state: StateStore) -> dict[tuple[str, str], str]:
        """The outcome of the last recorded run of every job, by (tenant, spec), in one query (none when the
        store cannot tell: then no job is `recovered`, and standard error says why)."""
        try:
            return {job: last.outcome for job, (last, _) in state.last_runs().items()}
        except SyncError as err:
            self.console.error(f"notify: cannot tell which jobs recovered: {err}")
            return {}

    def _outcome_before(self, result: JobResult) -> str | None:
        return self.before.get((result.job.tenant.name, result.job.spec.name))

    # --- delivery ---------------------------------------------------------------------------------

    def _deliver(self, audience: Audience, what: str, send: Callable[[], None]) -> None:
        """Send with `send`, ATTEMPTS times at most; a failure is an error message, never an exception."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                send()
                return
            except (DeliveryError, SyncError) as err:
                if attempt < ATTEMPTS and isinstance(err, DeliveryError):
                    self.sleep(PAUSE)
                    continue
                tries = f" after {attempt} attempts" if attempt > 1 else ""
                line = f"the {what} of {audience.who} was not delivered{tries}: {err}"
                self.undelivered.append(line)
                self.console.error(
                    f"notify: {line} (the runs' outcomes and exit code are unchanged)", event="notify.failed"
                )
                return

    def _address(self, audience: Audience, what: str, url: str | Secret) -> str:
        if isinstance(url, Secret):
            return resolve(url, self.environ, what=f"notify of {audience.who}: {what} url")
        return url

    def _ping(self, audience: Audience, tail: str) -> None:
        assert audience.notify.ping is not None
        url = self._address(audience, "ping", audience.notify.ping).rstrip("/") + tail
        self._post(audience, url, b"", "text/plain")

    def _webhook(self, audience: Audience, digest: Digest) -> None:
        assert audience.notify.webhook is not None
        url = self._address(audience, "webhook", audience.notify.webhook)
        self._post(audience, url, digest.body(), "application/json")

    def _post(self, audience: Audience, url: str, body: bytes, content_type: str) -> None:
        """POST `body` to `url` within one attempt's deadline; DeliveryError unless it answers 2xx."""
        import urllib3
        from urllib3.exceptions import HTTPError

        from runner.client import tls_context
        from runner.deadline import Attempt, watched

        context = tls_context(audience.notify.ca_bundle)
        headers = {"Content-Type": content_type, "User-Agent": USER_AGENT}
        timeout = urllib3.Timeout(connect=CONNECT_TIMEOUT, read=ATTEMPT_TIMEOUT)
        try:
            with Attempt(ATTEMPT_TIMEOUT).running():
                pool = self.pool.connection_from_url(
                    url, pool_kwargs={"cert_reqs": "CERT_REQUIRED", "ssl_context": context}
                )
                pool.ConnectionCls = watched(pool.scheme)
                path = urllib3.util.parse_url(url).request_uri
                answer = pool.urlopen(
                    "POST", path, body=body, headers=headers, retries=False, redirect=False, timeout=timeout
                )
        except (HTTPError, OSError) as err:
            raise DeliveryError(_reason(err)) from err
        if not 200 <= answer.status < 300:
            raise DeliveryError(f"the receiver answered HTTP {answer.status}")

    @property
    def pool(self) -> urllib3.PoolManager:
        """The connection pool of the webhooks and pings (made on first use)."""
        if self._pool is None:
            import urllib3

            self._pool = urllib3.PoolManager()
        return self._pool

    def _email(self, audience: Audience, digest: Digest) -> None:
        """Mail the digest through the audience's SMTP server; DeliveryError when it cannot."""
        import smtplib
        from email.message import EmailMessage
        from email.utils import formatdate, make_msgid

        from runner.client import tls_context

        server = audience.notify.email
        assert server is not None
        message = EmailMessage()
        message["Subject"] = digest.subject
        message["From"] = server.sender
        message["To"] = ", ".join(server.to)
        message["Date"] = formatdate(localtime=True)
        message["Message-ID"] = make_msgid(domain=server.sender.rpartition("@")[2])
        message.set_content(digest.text)
        context = tls_context(audience.notify.ca_bundle) if server.tls or server.starttls else None
        password = self._password(audience, server)
        try:
            with _smtp(server, context) as smtp:
                if server.starttls and not server.tls:
                    smtp.starttls(context=context)
                if server.username is not None and password is not None:
                    smtp.login(server.username, password)
                smtp.send_message(message)
        except (smtplib.SMTPException, OSError) as err:
            raise DeliveryError(_reason(err)) from err

    def _password(self, audience: Audience, server: Email) -> str | None:
        if server.password is None:
            return None
        return resolve(server.password, self.environ, what=f"notify of {audience.who}: e-mail password")


def _smtp(server: Email, context: ssl.SSLContext | None) -> smtplib.SMTP:
    """A connection to the SMTP server: implicit TLS, or plain (STARTTLS follows)."""
    import smtplib

    if server.tls:
        return smtplib.SMTP_SSL(server.host, server.port, timeout=ATTEMPT_TIMEOUT, context=context)
    return smtplib.SMTP(server.host, server.port, timeout=ATTEMPT_TIMEOUT)


def _told(result: JobResult, on: frozenset[str], before: str | None) -> Told | None:
    """How the digest of an audience listening `on` tells of `result`; None when it does not."""
    if result.outcome in on:
        return Told(result, result.outcome)
    if result.outcome == "ok" and "recovered" in on and before in NOT_OK:
        return Told(result, "recovered", before)
    return None


def _reason(err: BaseException) -> str:
    """Why a delivery failed, in one line, from the error's class: the HTTP library's or smtplib's error
    translated, through the operating system's error that caused it when there is one."""
    import smtplib

    from urllib3.exceptions import TimeoutError as Urllib3Timeout

    if isinstance(err, smtplib.SMTPResponseException):
        answer = err.smtp_error.decode("utf-8", errors="replace") if isinstance(err.smtp_error, bytes) else ""
        return one_line(f"the mail server answered {err.smtp_code} {answer}")
    inner = _cause(err)
    if isinstance(inner, ssl.SSLCertVerificationError):
        return f"TLS: the server's certificate was not verified ({inner.verify_message})"
    if isinstance(inner, ssl.SSLError):
        return f"TLS: {inner.reason or inner}"
    if isinstance(inner, ConnectionRefusedError):
        return "cannot connect: the connection was refused"
    if isinstance(inner, TimeoutError) or (inner is err and isinstance(err, Urllib3Timeout)):
        return "timed out"
    if isinstance(inner, OSError) and inner.strerror:
        return str(inner.strerror)
    return one_line(f"{type(err).__name__}: {err}")


def _cause(err: BaseException) -> BaseException:
    """The operating system's error (OSError, TLS and timeouts included) that caused `err`, else `err`.
    smtplib's own errors are OSErrors too: the one that caused them is looked for (a timeout, say)."""
    import smtplib

    seen: BaseException | None = err
    for _ in range(10):  # a chain is short; a cycle must not hang the run
        if seen is None or (isinstance(seen, OSError) and not isinstance(seen, smtplib.SMTPException)):
            break
        reason = getattr(seen, "reason", None)
        seen = reason if isinstance(reason, BaseException) else seen.__cause__ or seen.__context__
    return seen if isinstance(seen, OSError) and not isinstance(seen, smtplib.SMTPException) else err
