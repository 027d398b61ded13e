"""What a shell command is, for capture: routine, inert, a re-run of another, a lint or install run.

Pure functions on the command line (and, for a few, its output), standard library only: the
PostToolUse hook calls them on every Bash call. :mod:`mcp_memory.capture.observe` decides what to keep
with them; :mod:`mcp_memory.capture.transcript` and the hook's earlier-fix lookup use :func:`is_routine`.

- *routine*: a read, listing or search (``ls``, ``grep``, ``git status``) whose failure is not a
  failure (``grep`` exits 1 on no match) and whose output is not knowledge;
- *inert*: a command that neither breaks nor fixes anything (version and package queries, probes
  such as ``curl``, ``git add``): it is not "what changed" between a failure and its fix;
- *masked*: a pipeline (``pytest | tail -20``) or ``cmd; echo $?`` whose exit status is not the
  run's, so a failure has to be read from the output: :func:`shows_failure` knows the common
  runners' real failure lines (pytest, jest, vitest, go, cargo, npm, tsc, mypy, ruff), colour
  codes and all, and :func:`shows_pass` their pass lines.
"""

from __future__ import annotations

import re


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


ROUTINE_PROGRAMS = _names(
    "ls ll la cat bat less more head tail grep egrep fgrep rg ag ack find fd locate which where "
    "type command echo printf pwd cd pushd popd test [ true false wc diff cmp stat file tree du df "
    "ps pgrep top htop kill sleep env printenv whoami id date uname hostname history clear man help "
    "tldr open xdg-open jq yq sort uniq cut tr tee realpath dirname basename readlink mkdir touch cp "
    "mv ln chmod"
)
ROUTINE_GIT = _names(
    "status log diff show branch remote rev-parse ls-files blame describe shortlog reflog config "
    "stash tag fetch"
)
# Programs whose run only looks at something: a probe of a service or the network, a process or
# port query. Their failure says a service is down right now, not something worth keeping.
PROBES = _names(
    "curl wget http https httpie nc ncat telnet ping dig nslookup host lsof netstat ss journalctl"
)
# (program, subcommand) pairs that only query: versions, installed packages, containers, logs.
QUERIES = frozenset(
    (program, sub)
    for program, subs in {
        "pip": "list show freeze check config debug index inspect",
        "pip3": "list show freeze check config debug index inspect",
        "npm": "ls list view info outdated why explain doctor fund root bin prefix",
        "pnpm": "ls list why outdated",
        "yarn": "list info why outdated",
        "cargo": "tree metadata search version",
        "go": "version env list doc",
        "rustup": "show",
        "docker": "ps images logs inspect version info",
        "kubectl": "get describe logs version",
        "systemctl": "status",
        "alembic": "heads current history show branches",
        "poetry": "show env",
        "uv": "tree",
        "brew": "list info",
        "apt": "list show policy",
        "apt-cache": "policy show search",
        "git": "add",  # staging fixes nothing
    }.items()
    for sub in subs.split()
)
# Style and format tools: their complaints are cleaned up, not learnt.
LINTERS = _names(
    "ruff flake8 pylint pycodestyle pydocstyle black isort autopep8 yapf eslint prettier stylelint "
    "rubocop golangci-lint gofmt goimports shellcheck hadolint markdownlint pre-commit "
    "biome"
)
# Routine programs whose success changes something (a file, a process): a possible fix.
MUTATING = _names("mkdir touch cp mv ln chmod kill tee")
LINT_SCRIPTS = _names("lint lint:fix format fmt style")
INSTALLS = frozenset(
    (program, sub)
    for program, subs in {
        "pip": "install",
        "pip3": "install",
        "npm": "install i add",
        "pnpm": "install i add",
        "yarn": "add install",
        "bun": "add install",
        "go": "get install",
        "cargo": "add install",
        "gem": "install",
        "poetry": "add",
        "uv": "add",
        "brew": "install",
        "apt-get": "install",
        "apt": "install",
        "dnf": "install",
        "conda": "install",
        "mamba": "install",
    }.items()
    for sub in subs.split()
)
_RUNNERS = _names("python python3 node bash sh zsh uv uvx npx npm pnpm yarn bun deno")
_ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=\S*$")
_NOISE_SUFFIX = re.compile(
    r"(\s*2>&1|\s*\|\s*(tail|head|less|more|cat|tee)(\s+[-\w./]+)*|\s*;\s*echo\s+\S*\$\?\S*)+\s*$"
)
_SEPARATORS = ("&&", "||", ";", "|")
# Patterns are compiled (and cached) by re on first use: most hook runs need few of them.
# Quoted strings, escapes, separators, and runs of anything else (one bare & or > included).
_TOKENS = r"\"(?:[^\"\\]|\\.)*\"?|'[^']*'?|\\.?|&&|\|\||;|\||[^\"'\\&|;]+|&"
_QUOTED = r"\"(?:[^\"\\]|\\.)*\"|'[^']*'"
# git subcommands that change a setting: `git remote set-url`, `git config user.email x`.
_GIT_SETTINGS = (
    r"^git\s+(?:-\S+\s+)*(?:remote\s+(?:add|set-url|remove|rm|rename|set-head)\b"
    r"|config\s+(?:--(?:global|local|system|unset|add|replace-all)\s+)*\w[\w.-]*\s+\S)"
)
_FILE_REDIRECT = r"(?<![<>&\d=-])\d?>>?\s*(?!&|/dev/null\b)[^\s&|;<>]"
# Lines of a failed test run, type check or build, as the common runners really print them
# (issue 13: `pytest -q` ends with a bare `1 failed, 1 passed in 2.10s`, no `=` rule).
_FAILURE_SUMMARY = (
    # pytest: the `=` summary, the bare -q summary, a FAILED/ERROR line, the FAILURES header
    r"(?m)^\s*(?:=+ .*\b\d+ (?:failed|errors?)\b.* =+|!+ Interrupted: \d+ errors? during"
    r"|(?:\d+ [a-z]+, )*\d+ (?:failed|errors?)(?:, \d+ [a-z]+)* in [\d.]+s\b"
    r"|FAILED \S+::\S+|ERROR \S+\.py\b|=+ (?:FAILURES|ERRORS) =+$"
    # jest (`Tests: 1 failed`), vitest (`Test Files  1 failed (1)`, `Tests  1 failed | ...`,
    # ` FAIL  file > test`), go (`FAIL`, `FAIL\tpkg`, `--- FAIL:`), mocha (`1 failing`)
    r"|Tests?:?\s+\d+ failed\b|Test Suites:\s+\d+ failed\b|Test Files\s+\d+ failed\b"
    r"|FAIL(?:\s+\S+.*)?$|--- FAIL: |\d+ failing\b"
    # cargo, npm (6 and 10), make
    r"|test result: FAILED\b|error: test failed, to rerun|error(?:\[E\d{4}\])?: could not compile"
    r"|npm (?:ERR!|error) code |npm ERR! Test failed|npm error Lifecycle script .* failed"
    r"|make: \*\*\* .*\bError \d+"
    # tsc (`error TS2322:`, `Found 2 errors in 2 files.`), mypy, ruff (`Found 2 errors.`; not
    # `Found 2 errors (2 fixed, 0 remaining).`, which is ruff --fix succeeding)
    r"|.*\berror TS\d+:|Found \d+ errors?\b(?! \(\d+ fixed, 0 remaining\)))"
)
# Lines of a passing run: pytest, jest, vitest, go, cargo, mocha, mypy, ruff.
_PASS_SUMMARY = (
    r"(?m)^\s*(?:=+ )?(?:(?:\d+ [a-z]+, )*\d+ passed\b.* in [\d.]+s\b"
    r"|Tests:\s+(?:\d+ [a-z]+, )*\d+ passed, \d+ total|Test Files\s+\d+ passed\b"
    r"|ok\s+\S+|test result: ok\.|\d+ passing\b|Success: no issues found"
    r"|All checks passed!|Found \d+ errors? \(\d+ fixed, 0 remaining\))"
)
_ANSI = r"\x1b\[[0-9;?]*[ -/]*[@-~]"
_SECRET_FLAG = (
    r"(?i)(--(?:password|passwd|token|auth-token|api-key|apikey|secret|client-secret)(?:=|\s+))"
    r"([^\s\"']+|\"[^\"]*\"|'[^']*')"
)
_LOGIN_PASSWORD = r"(\s-p\s*)([^\s\"']+|\"[^\"]*\"|'[^']*')"
_CONFIG_SECRET = (
    r"(?i)(\bconfig(?:ure)?\s+set\s+\S*(?:secret|token|password|passwd|key)\S*\s+)(\S+)"
)
_SECRET_MARKER = "[REDACTED:password]"


def command_words(command: str) -> list[str]:
    """The words of the first real command: leading ``cd x &&`` and ``VAR=value`` dropped."""
    text = command.strip()
    while True:
        m = re.match(r"^cd\s+\S+\s*(&&|;)\s*", text)
        if not m:
            break
        text = text[m.end() :]
    words = text.split()
    while words and _ENV_ASSIGNMENT.match(words[0]):
        words.pop(0)
    for prefix in ("sudo", "time", "nice", "command", "exec"):
        if words and words[0] == prefix:
            words.pop(0)
    return words


def is_routine(command: str) -> bool:
    words = command_words(command)
    if not words:
        return True
    program = words[0].rsplit("/", 1)[-1]
    if program == "git":
        sub = next((w for w in words[1:] if not w.startswith("-")), "")
        return sub in ROUTINE_GIT or sub == ""
    return program in ROUTINE_PROGRAMS


def command_key(command: str) -> str:
    """The command without output plumbing (``2>&1 | tail -20``) and extra whitespace, so a
    re-run with different plumbing counts as the same command."""
    return " ".join(_NOISE_SUFFIX.sub("", " ".join(command_words(command))).split())


def same_run(a: str, b: str) -> bool:
    """True when two command keys run the same thing, one more narrowly: their words without
    flags agree up to the shorter one (``pytest`` / ``pytest -x tests/a.py``, ``cargo build`` /
    ``cargo build --release``), and that is more than a bare interpreter (``python``)."""

    def words(key: str) -> list[str]:
        return [w for w in key.split() if not w.startswith("-")]

    x, y = words(a), words(b)
    short, long = (x, y) if len(x) <= len(y) else (y, x)
    if not short or long[: len(short)] != short:
        return False
    return len(short) >= 2 or short[0].rsplit("/", 1)[-1] not in _RUNNERS


def _split(command: str) -> list[tuple[str, str]]:
    """(part, the separator after it) for each command of a compound line, splitting at
    ``&&``, ``||``, ``;`` and ``|`` outside quotes."""
    if not any(ch in command for ch in "&|;"):
        return [(command.strip(), "")] if command.strip() else []
    out: list[tuple[str, str]] = []
    current: list[str] = []
    for token in re.findall(_TOKENS, command):
        if token in _SEPARATORS and not (token == "|" and current and current[-1].endswith(">")):
            out.append(("".join(current).strip(), token))
            current = []
        else:
            current.append(token)
    out.append(("".join(current).strip(), ""))
    return [(part, sep) for part, sep in out if part]


def parts(command: str) -> list[str]:
    """The commands of a compound line (``a && b | c`` gives ``a``, ``b``, ``c``)."""
    return [part for part, _ in _split(command)]


def program_and_sub(command: str) -> tuple[str, str]:
    """The program (base name) and its first non-flag word: ``python -m pip install x`` and
    ``uv pip install x`` give ``("pip", "install")``, ``npm run lint`` ``("npm", "run")``."""
    words = command_words(command)
    if (
        len(words) >= 3
        and words[0].rsplit("/", 1)[-1] in ("python", "python3")
        and words[1] == "-m"
    ):
        words = words[2:]
    elif len(words) >= 2 and words[0] == "uv" and words[1] == "pip":
        words = words[1:]
    if not words:
        return "", ""
    program = words[0].rsplit("/", 1)[-1]
    sub = next((w for w in words[1:] if not w.startswith("-")), "")
    return program, sub


def _inert_part(part: str) -> bool:
    if is_routine(part):
        return True
    program, sub = program_and_sub(part)
    words = command_words(part)
    if program in PROBES or (program, sub) in QUERIES:
        return True
    if program == "docker" and sub == "compose":  # docker compose ps / logs / config
        rest = [w for w in words[2:] if not w.startswith("-")]
        return bool(rest) and rest[0] in ("ps", "logs", "config", "ls", "images")
    return len(words) == 2 and words[1] in ("--version", "-V", "version", "-v")


def writes_file(command: str) -> bool:
    """True when the line redirects output into a file (``echo x > ~/.npmrc``), outside
    quotes and not to ``/dev/null``."""
    return ">" in command and bool(re.search(_FILE_REDIRECT, re.sub(_QUOTED, "''", command)))


def changes_something(command: str) -> bool:
    """A routine line that still changes state: it writes a file (``echo x > ~/.npmrc``), runs a
    mutating program (``cp .env.example .env``, ``chmod +x``, ``kill``) or sets a git remote or
    setting (``git remote set-url``, ``git config user.email x``)."""
    if writes_file(command):
        return True
    for part in parts(command):
        words = command_words(part)
        if words and words[0].rsplit("/", 1)[-1] in MUTATING:
            return True
        if re.match(_GIT_SETTINGS, " ".join(words)):
            return True
    return False


def is_inert(command: str) -> bool:
    """True when every part of the line only looks (routine or a query or probe) and none
    writes a file: such a command is not a change that could have fixed anything."""
    return not writes_file(command) and all(_inert_part(p) for p in parts(command))


def is_probe(command: str) -> bool:
    """The line's first command probes a service or the network (``curl``, ``ping``)."""
    return program_and_sub(command)[0] in PROBES


def masks_exit(command: str) -> bool:
    """The line's exit status need not be the run's: a pipeline without ``pipefail`` (``pytest
    | tail -5`` exits with tail's status), or a command followed by another after ``;`` or
    ``||`` (``pytest; echo "exit=$?"``, ``pytest || true``)."""
    return "pipefail" not in command and any(sep in ("|", ";", "||") for _, sep in _split(command))


def strip_ansi(text: str) -> str:
    """The text without terminal colour and cursor codes (``--color=yes``, ``FORCE_COLOR``)."""
    return re.sub(_ANSI, "", text) if "\x1b" in text else text


def shows_failure(output: str) -> bool:
    """The output holds a failed test run, type check or build as the common runners print
    it: pytest (``1 failed in 0.94s``, ``FAILED tests/x.py::t``), jest and vitest, ``go test``,
    ``cargo test``, mocha and npm, tsc, mypy, ruff, make. Colour codes are ignored."""
    return bool(re.search(_FAILURE_SUMMARY, strip_ansi(output)))


def shows_pass(output: str) -> bool:
    """The output holds a passing run's summary (``3 passed in 0.12s``, ``ok  pkg``,
    ``test result: ok.``, ``Success: no issues found``, ``All checks passed!``)."""
    return bool(re.search(_PASS_SUMMARY, strip_ansi(output)))


def is_lint(command: str, output: str) -> bool:
    """A style or format check: a linter or formatter, a ``lint``/``format`` script, or a
    pre-commit hook's complaint inside another command's output (``git commit``)."""
    program, sub = program_and_sub(command)
    if program in LINTERS:
        return True
    if program == "cargo" and sub in ("clippy", "fmt"):
        return True
    if program in ("npm", "pnpm", "yarn", "bun", "make", "just", "task"):
        words = [w for w in command_words(command)[1:] if not w.startswith("-")]
        script = words[1] if words[:1] == ["run"] and len(words) > 1 else (words or [""])[0]
        if script in LINT_SCRIPTS:
            return True
    return "- hook id: " in output


def install_of(command: str) -> tuple[str, str] | None:
    """``(manager, subcommand)`` when the line's first command installs packages."""
    pair = program_and_sub(command)
    return pair if pair in INSTALLS else None


def scrub(command: str) -> str:
    """The command with values of secret-bearing options masked (``--token X``, ``login -p X``,
    ``mysql -pX``, ``config set <...token> X``): redaction does not know every CLI's flags."""
    text = command
    if "--" in text:
        text = re.sub(_SECRET_FLAG, lambda m: m.group(1) + _SECRET_MARKER, text)
    if " set " in text:
        text = re.sub(_CONFIG_SECRET, lambda m: m.group(1) + _SECRET_MARKER, text)
    words = command_words(text)
    if "login" in words:
        text = re.sub(_LOGIN_PASSWORD, lambda m: m.group(1) + _SECRET_MARKER, text)
    if words and words[0].rsplit("/", 1)[-1] in ("mysql", "mysqldump", "mysqladmin", "mariadb"):
        text = re.sub(r"(\s-p)(?=\S)(\S+)", lambda m: m.group(1) + _SECRET_MARKER, text)
    return text
