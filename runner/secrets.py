"""Reading secrets at run time, and keeping them out of everything the runner writes.

A secret is read only when a command needs it (never by `validate`): from an environment variable, a file,
or the operating system's keyring through the optional `keyring` library. Every value read is remembered for
the life of the process so that `redact()` can blank it out of any text before it is printed, logged, archived
or reported, whatever path it took to get there (an error message from a driver, a URL, a traceback): as
written, and as URL, JSON and XML escapes write it. The Basic-auth credentials sent to Infiniti are
remembered in every form they travel in (`user:password`, its base64, the `Basic ...` header value), and
any `Basic` header value that decodes to `user:password` is masked whole, whoever's it is: a proxy's error
page that echoes the request headers must not put them into an answer, a report or the state.

A secret file is read up to SECRET_FILE_LIMIT bytes: a secret is one line, and a path such as /dev/zero
must not fill the memory.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from runner.errors import UsageError
from runner.spec import Secret

if TYPE_CHECKING:
    from runner.client import Response

MASK = "***"
SECRET_FILE_LIMIT = 64 * 1024  # bytes; a secret file holds one value on its first line


class _Known:
    """The secret values read by this process, and the patterns that find them: levels, each the values of
    a few tenants or of many, compiled when next needed after values came (a tenant's credentials add five
    groups of values one after another: remember_basic) and only when new ones came, so that a process that
    runs thousands of tenants, each with its own password, compiles each value some log2(values) times
    (`_LEVELS`), not once for each tenant after it (a thousand tenants' credentials, each followed by a
    redact: some 2 minutes of CPU, 1.4 s now). Each level's pattern is a trie of its values (`_trie`): a
    plain alternation of thousands of values tries every one at every character of a text (with a
    thousand tenants' 8,000 values, 3.6 ms a short message and 14 s a megabyte, against 0.03 and 120 ms)."""

    def __init__(self) -> None:
        self.values: set[str] = set()
        self._new: set[str] = set()  # values in no level yet
        self._levels: list[tuple[set[str], re.Pattern[str]]] = []  # each more than twice the next
        self.lock = threading.Lock()

    def add(self, values: Iterable[str]) -> None:
        with self.lock:
            new = set(values) - self.values
            self.values |= new
            self._new |= new

    def patterns(self) -> list[re.Pattern[str]]:
        """The patterns that find any of the values: each matches where one of its values starts, the
        longest of them in its group 1."""
        with self.lock:
            if self._new:
                level, self._new = self._new, set()
                while self._levels and len(self._levels[-1][0]) <= _LEVELS * len(level):
                    level |= self._levels.pop()[0]
                self._levels.append((level, _finder(level)))
            return [pattern for _, pattern in self._levels]

    def clear(self) -> None:
        with self.lock:
            self.values.clear()
            self._new.clear()
            self._levels.clear()


# A level is merged with the values that come after it while it holds at most this many times as many: the
# levels shrink at least that fast from the first, so a value is compiled again only when the values
# around it have grown that many times (some log2(values) times in all), and a text is searched once a
# level.
_LEVELS = 2


def _finder(values: Iterable[str]) -> re.Pattern[str]:
    """A pattern that matches, without consuming, where any of `values` starts, with the longest of them
    that starts there in group 1: so every occurrence of every value is found, even one that overlaps
    another. A trie too deep for the regular expression compiler (values that are each a prefix of the
    next, hundreds deep) is written as a plain alternation, longest first."""
    ordered = sorted(values, key=len, reverse=True)
    try:
        return re.compile(f"(?=({_trie(ordered)}))")
    except (RecursionError, re.error):
        return re.compile("(?=({}))".format("|".join(map(re.escape, ordered))))


def _trie(values: Iterable[str]) -> str:
    """The values as one regular expression that shares their common prefixes, and matches the longest value
    where several start at the same place (a node's children before its end); a run of characters with
    no branch in it is written as one literal."""
    root: dict[str, Any] = {}
    for value in values:
        node = root
        for char in value:
            node = node.setdefault(char, {})
        node[""] = {}  # a value ends here
    return _written(root)


def _written(node: dict[str, Any]) -> str:
    """The regular expression of a trie `node` (see _trie)."""
    branches = []
    for first, after in sorted(node.items()):
        if not first:
            continue
        run, child = first, after
        while len(child) == 1 and "" not in child:  # no branch and no end: one literal
            ((char, child),) = child.items()
            run += char
        branches.append(re.escape(run) + _written(child))
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
    return f"(?:{body})?" if "" in node else body


_known = _Known()


def remember(value: str) -> str:
    """Register `value` as secret, so redact() hides it, and the escapes that could write it; returns it
    unchanged."""
    if len(value) >= 3:  # shorter strings would blank out ordinary text; nobody uses them
        _known.add(_forms(value))
    return value


def _forms(value: str) -> dict[str, None]:
    """`value` as written, and as URL, JSON, HTML and XML escapes write it (ordered, without repeats)."""
    return dict.fromkeys(
        [
            value,
            quote(value),
            quote(value, safe=""),
            json.dumps(value)[1:-1],
            json.dumps(value, ensure_ascii=False)[1:-1],
            _escape(value, quote=False),
            _escape(value),
            _escape(value, quote=False).replace('"', "&quot;"),  # ElementTree's attributes
        ]
    )


def _escape(text: str, *, quote: bool = True) -> str:
    """What html.escape writes: that module builds its table of every named entity when it is imported,
    a millisecond of each start-up for five replacements."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace('"', "&quot;").replace("'", "&#x27;") if quote else text


def remember_basic(username: str, password: str) -> None:
    """Register the password and the forms HTTP Basic auth sends it in: `username:password`, its base64
    (with and without padding) and the whole `Basic ...` header value."""
    pair = f"{username}:{password}"
    token = base64.b64encode(pair.encode("utf-8")).decode("ascii")
    for form in (password, pair, f"Basic {token}", token, token.rstrip("=")):
        remember(form)


_URL_PASSWORD = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/@:?#]*(?::(?P<password>[^/@?#]*))?@)?")
_QUERY_SECRET = re.compile(r"[?&]((?:ssl)?password|passwd|pwd)=([^&#]+)", re.IGNORECASE)


def remember_url(url: str) -> str:
    """Register the password of a database URL (as written, and decoded) and any password-like query
    value, not the whole URL, so that messages can still say which server; returns `url` unchanged."""
    from urllib.parse import unquote

    match = _URL_PASSWORD.match(url)
    if match is None:
        return remember(url)  # not a URL we can read: keep all of it out of every message
    for value in [match["password"] or "", *(value for _, value in _QUERY_SECRET.findall(url))]:
        if value:
            remember(value)
            remember(unquote(value))
    return url


def known_values() -> set[str]:
    """Every secret value read so far (a worker process hands them to its parent, which masks them too)."""
    with _known.lock:
        return set(_known.values)


def forget_all() -> None:
    """Forget every secret read so far (for tests, which run many projects in one process)."""
    _known.clear()


# A Basic-auth header value (the token is base64 of user:password); see _basic_credentials.
_BASIC = re.compile(r"\bBasic\s+([A-Za-z0-9+/]{4,}={0,2})(?![A-Za-z0-9+/=])")


def _basic_credentials(match: re.Match[str]) -> str:
    """*** for a Basic-auth value that decodes to `user:password`; other text ("Basic settings") stays."""
    try:
        decoded = base64.b64decode(match[1], validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return match[0]
    return MASK if ":" in decoded and decoded.isprintable() else match[0]


def redact(text: str) -> str:
    """`text` with every secret read so far, and any Basic-auth credentials, replaced by ***."""
    spans = sorted((m.start(), m.end(1)) for p in _known.patterns() for m in p.finditer(text))
    if spans:
        text = _masked(text, spans)
    return _BASIC.sub(_basic_credentials, text) if "Basic" in text else text


def _masked(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """`text` with each run of the sorted `spans` that overlap one another replaced by one MASK."""
    parts, done = [], 0
    start, end = spans[0]
    for begin, stop in spans[1:]:
        if begin < end:  # overlaps the run: one mask for both
            end = max(end, stop)
            continue
        parts += [text[done:start], MASK]
        done, (start, end) = end, (begin, stop)
    parts += [text[done:start], MASK, text[end:]]
    return "".join(parts)


def redact_bytes(body: bytes) -> bytes:
    """`body` with its secrets masked as redact() masks them in text (bytes that are not UTF-8 kept)."""
    text = body.decode("utf-8", errors="surrogateescape")
    return redact(text).encode("utf-8", errors="surrogateescape")


def redact_response(response: Response) -> Response:
    """Infiniti's answer with the secrets in its body masked, before anything reads it: an error page that
    echoes the request's headers must not carry the credentials into the archive, a message or the state."""
    body = redact_bytes(response.body)
    return response if body == response.body else dataclasses.replace(response, body=body)


def resolve(secret: Secret, environ: Mapping[str, str], *, what: str, mask: bool = True) -> str:
    """The value of `secret` (`what` names it in messages, e.g. "tenant stmarys: password"; messages also
    name the file and line the secret is written at, when the record knows them).

    With `mask=False` the caller remembers the secret parts itself: a database URL's password, so that
    messages can still name the server and database.
    """
    what = secret.named(what)
    if secret.env is not None:
        value = _environment(secret.env, environ, what=what)
    elif secret.keyring is not None:
        value = read_keyring(*secret.keyring, what=what)
    else:
        assert secret.file is not None
        value = read_secret_file(secret.file, what=what)
    return remember(value) if mask else value


_OTHER_FORMS = "or write {file: PATH} (a secret file) or {keyring: SERVICE/USERNAME} in its place"


def _environment(name: str, environ: Mapping[str, str], *, what: str) -> str:
    """The value of environment variable `name`; UsageError when it is not set, or set but empty."""
    value = environ.get(name)
    if value is None:
        raise UsageError(
            f"{what}: environment variable {name} is not set",
            hint=f"set {name} in the environment the sync runs in, {_OTHER_FORMS}",
        )
    if not value:
        raise UsageError(
            f"{what}: environment variable {name} is set but empty",
            hint=f"set {name} to the secret itself, {_OTHER_FORMS}",
        )
    return value


KEYRING_EXTRA = "pip install 'infiniti-sync[keyring]'"


def read_keyring(service: str, username: str, *, what: str) -> str:
    """The password of `username` for `service` in the operating system's keyring; UsageError when the
    keyring library is missing, the entry is absent or empty, or the keyring cannot be used.

    A keyring that cannot be used (no backend on a server without a desktop session, a locked keychain) is
    exit 2, as a secret file that cannot be read is: the fix is on this machine's setup, and running again
    unchanged does not help.
    """
    try:
        import keyring
        from keyring.errors import KeyringError
    except ImportError as err:
        raise UsageError(
            f"{what}: {{keyring: {service}/{username}}} needs the keyring library, which is not installed",
            hint=f"install it with: {KEYRING_EXTRA}",
        ) from err
    try:
        value = keyring.get_password(service, username)
    except (KeyringError, OSError) as err:
        raise UsageError(
            f"{what}: the keyring cannot be read ({type(err).__name__}: {err})",
            hint="unlock or set up the keyring of the account that runs the sync, "
            "or use {env: NAME} or {file: PATH}",
        ) from err
    if not value:
        raise UsageError(
            f"{what}: the keyring holds no password for service {service!r}, user {username!r}",
            hint="store it once, as the account that runs the sync: "
            f"keyring set {_arg(service)} {_arg(username)}",
        )
    return value


def _arg(text: str) -> str:
    """`text` as one argument of a command line, in a POSIX shell, cmd.exe and PowerShell alike."""
    return text if re.fullmatch(r"[\w@%+=:,./-]+", text) else f'"{text}"'


_LINE_END = re.compile(r"\r\n|\r|\n")


def read_secret_file(path: Path, *, what: str) -> str:
    """The first line of secret file `path` (UTF-8, a byte order mark and the line end dropped), read up to
    SECRET_FILE_LIMIT bytes; UsageError when it cannot be read, is larger, empty or not UTF-8."""
    try:
        with path.open("rb") as handle:
            data = handle.read(SECRET_FILE_LIMIT + 1)
    except FileNotFoundError as err:
        raise UsageError(
            f"{what}: secret file {path} does not exist",
            hint="write the secret on the first line of that file, or correct the path (a relative path is "
            "relative to the project file's folder; ~ is the home folder of the account that runs the sync)",
        ) from err
    except OSError as err:
        raise UsageError(
            f"{what}: cannot read secret file {path}: {err.strerror}",
            hint="the account that runs the sync must be able to read the file",
        ) from err
    if len(data) > SECRET_FILE_LIMIT:
        raise UsageError(
            f"{what}: secret file {path} is larger than {SECRET_FILE_LIMIT // 1024} KiB",
            hint="a secret file holds the secret alone, on its first line",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise UsageError(f"{what}: secret file {path} is not UTF-8 text") from err
    value = _LINE_END.split(text, maxsplit=1)[0]
    if not value:
        raise UsageError(f"{what}: secret file {path} is empty")
    return value
