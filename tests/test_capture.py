"""Capture filter, session state and transcript summaries (pure functions, no subprocess)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import hook_fixtures as fx
from bench_modules import load_bench

from mcp_memory.capture import transcript
from mcp_memory.capture.observe import bash_outcome, error_tail, observe
from mcp_memory.capture.session_state import remove_stale_states, session_state, state_path
from mcp_memory.capture.shell_commands import (
    command_key,
    is_inert,
    is_routine,
    masks_exit,
    parts,
    same_run,
    scrub,
    shows_failure,
    shows_pass,
)
from mcp_memory.redaction.redact import redact

CWD = Path("/work/proj")


def feed(events: list[dict[str, Any]], state: dict[str, Any] | None = None) -> list[Any]:
    state = {} if state is None else state
    out = []
    for event in events:
        out += observe(event, state, CWD)
    return out


def test_failure_then_edit_then_success_is_one_error_fix_memory() -> None:
    captured = feed(
        [
            fx.bash_failure(
                CWD, "python -m pytest -q tests/test_client.py 2>&1 | tail -20", fx.PYTEST_ERROR
            ),
            fx.read(CWD, "src/client.py"),
            fx.edit(CWD, "src/client.py"),
            fx.bash_success(CWD, "python -m pytest -q tests/test_client.py", "12 passed"),
        ]
    )
    assert len(captured) == 1
    fix = captured[0]
    assert fix.type == "error_fix" and fix.tags == ("error", "fix")
    assert fix.content.startswith("Fixed: `python -m pytest -q tests/test_client.py 2>&1 | tail")
    assert "httpx.ReadTimeout: timed out" in fix.content
    assert "Exit code 1" not in fix.content.splitlines()[1]  # the tail, not the status line first
    assert fix.content.endswith("It passed after editing src/client.py.")


def test_intervening_command_counts_as_the_fix() -> None:
    captured = feed(
        [
            fx.bash_failure(CWD, "npm test", "Error: Cannot find module 'left-pad'"),
            fx.bash_success(CWD, "npm install left-pad"),
            fx.bash_success(CWD, "npm test", "ok"),
        ]
    )
    assert [c.type for c in captured] == ["error_fix"]
    assert "running `npm install left-pad`" in captured[0].content


def test_nothing_kept_from_routine_work() -> None:
    """Reads, listings, grep's exit 1, git queries, a green run without a prior failure, edits
    without a failure, a re-run that passes with nothing changed, interrupted commands."""
    state: dict[str, Any] = {}
    captured = feed(
        [
            fx.read(CWD, "README.md"),
            fx.bash_success(CWD, "ls -la"),
            fx.bash_failure(CWD, "grep -rn TODO src", "Exit code 1"),
            fx.bash_failure(CWD, "git diff --exit-code", "Exit code 1\ndiff --git a/x b/x"),
            fx.bash_success(CWD, "git status"),
            fx.bash_success(CWD, "pytest -q", "3 passed"),
            fx.edit(CWD, "src/app.py"),
            fx.bash_failure(CWD, "make lint", "Exit code 2\nflake8: E501"),
            fx.bash_success(CWD, "make lint"),
            {**fx.bash_failure(CWD, "make build", "Interrupted"), "is_interrupt": True},
        ],
        state,
    )
    assert captured == []
    assert state.get("failures") == []


def test_failed_edit_is_ignored_and_failed_again_keeps_changes() -> None:
    state: dict[str, Any] = {}
    failed_edit = {
        **fx.edit(CWD, "src/a.py"),
        "hook_event_name": "PostToolUseFailure",
        "error": "String to replace not found in file.",
    }
    assert feed([failed_edit], state) == []
    feed(
        [
            fx.bash_failure(CWD, "cargo build", "error[E0425]: cannot find value `x`"),
            fx.edit(CWD, "src/main.rs"),
            fx.bash_failure(CWD, "cargo build", "error[E0308]: mismatched types"),
        ],
        state,
    )
    (failure,) = state["failures"]
    assert failure["edits"] == ["src/main.rs"] and "E0308" in failure["error"]
    (fix,) = feed(
        [fx.edit(CWD, "src/lib.rs"), fx.bash_success(CWD, "cargo build --release")], state
    )
    assert "mismatched types" in fix.content and "src/main.rs, src/lib.rs" in fix.content
    assert fix.content.endswith("(then `cargo build --release`).")


def test_decisions_and_plans_are_captured() -> None:
    adr = fx.write(CWD, "docs/adr/0007-retry-policy.md", "# 7. Retry GETs three times\n\nWhy...")
    plan = {
        **fx.base("PostToolUse", CWD),
        "tool_name": "ExitPlanMode",
        "tool_input": {"plan": "1. Add retries\n2. Test them"},
        "tool_response": {},
    }
    other = fx.write(CWD, "docs/guide.md", "# Guide")
    captured = feed([adr, plan, other])
    assert [(c.type, c.tags) for c in captured] == [
        ("decision", ("decision",)),
        ("note", ("plan",)),
    ]
    assert captured[0].content.startswith("Decision recorded in docs/adr/0007-retry-policy.md:")
    assert "Retry GETs three times" in captured[0].content
    assert captured[1].content == "Plan approved by the user:\n1. Add retries\n2. Test them"


def test_command_helpers() -> None:
    assert command_key("cd /x && FOO=1 pytest  -x 2>&1 | tail -n 30") == "pytest -x"
    assert command_key("make test; echo $?") == "make test"
    assert is_routine("cd src && rg foo") and is_routine("git log -5") and is_routine("")
    assert not is_routine("git push") and not is_routine("sudo make install")
    assert same_run("pytest", "pytest -x tests/a.py") and same_run("cargo build", "cargo build -r")
    assert not same_run("npm run build", "npm run test")
    assert not same_run("python", "python -m pytest")
    assert not same_run("python -m pytest", "python -m pip install x")
    assert bash_outcome(fx.bash_success(CWD, "x")) == (False, "")
    as_text = {**fx.base("PostToolUse", CWD), "tool_response": "Error: Exit code 1\nboom"}
    assert bash_outcome(as_text) == (True, "Error: Exit code 1\nboom")
    coded = {**fx.base("PostToolUse", CWD), "tool_response": {"stdout": "", "exit_code": 3}}
    assert bash_outcome(coded) == (True, "")
    assert error_tail("\n".join(f"line {i}" for i in range(40))).startswith("line 28")


def test_session_state_is_locked_across_concurrent_updates(tmp_path: Path) -> None:
    """Parallel tool calls run hooks at once: no update may be lost."""

    def bump(n: int) -> None:
        for _ in range(20):
            with session_state(tmp_path, "sess-1") as state:
                state["count"] = int(state.get("count", 0)) + 1

    threads = [threading.Thread(target=bump, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with session_state(tmp_path, "sess-1") as state:
        assert state["count"] == 120
    odd = state_path(tmp_path, "../../etc/passwd")
    assert odd.parent == tmp_path / "sessions" and ".." not in odd.name
    assert state_path(tmp_path, "sess-1").stat().st_mode & 0o777 == 0o600
    assert remove_stale_states(tmp_path, max_age_days=0) == 1


def test_transcript_parse_extracts_requests_files_commands_errors(tmp_path: Path) -> None:
    path = fx.write_transcript(tmp_path / "t.jsonl", CWD)
    session = transcript.read(path)
    assert session.session_id == fx.SESSION and session.branch == "fix/retry-timeouts"
    assert session.requests == [
        "The HTTP client in src/client.py should retry on timeouts; "
        "tests/test_client.py::test_retry_on_timeout fails.",
        # redacted before it is cut to length (issue 14): the secret never reaches the summary
        "Push it with the token [REDACTED:github_token] and note that [private] "
        "should never be stored.",
    ]  # slash-command plumbing, caveats, tool results, compaction preambles are not requests
    assert session.files == ["src/client.py", "docs/adr/0007-retry-policy.md"]  # no sidechain
    assert session.commands == [
        "python -m pytest -q tests/test_client.py",
        "git push origin fix/retry-timeouts",
    ]
    assert session.errors == [
        "Bash `python -m pytest -q tests/test_client.py`: "
        "FAILED tests/test_client.py::test_retry_on_timeout - httpx.ReadTimeout: timed out",
        "Bash `git push origin fix/retry-timeouts`: remote: Permission denied",
    ]
    assert session.request_count == 2 and session.tool_calls == 8


def test_summary_is_compact_and_empty_sessions_give_none(tmp_path: Path) -> None:
    path = fx.write_transcript(tmp_path / "t.jsonl", CWD)
    text = transcript.summarize(transcript.read(path))
    assert text.splitlines()[0] == (
        "Session summary 2026-11-21 (branch fix/retry-timeouts, 2 request(s), 8 tool call(s))"
    )
    assert "Files touched: src/client.py, docs/adr/0007-retry-policy.md" in text
    assert "Commands: `python -m pytest -q tests/test_client.py`; `git push" in text
    assert len(text) <= transcript.MAX_SUMMARY_CHARS
    assert transcript.summarize(transcript.parse(['{"type": "summary"}', "garbage"])) == ""


def test_many_requests_keep_the_first_and_the_latest() -> None:
    lines = [
        f'{{"type": "user", "message": {{"role": "user", "content": "request {i}"}}}}'
        for i in range(20)
    ]
    session = transcript.parse(lines)
    assert session.request_count == 20
    assert session.requests == [f"request {i}" for i in (0, 1, 2, 3, 16, 17, 18, 19)]


# -- what the capture benchmark changed (bench/capture.py, bench/data/capture_cases.jsonl) ------


def test_own_slip_fixed_by_editing_is_not_kept_but_a_regression_test_is() -> None:
    """An error pointing into a file Claude edited earlier in the session (its own typo) is not
    knowledge; a failing assertion in a test it just wrote (a reproduced bug) is."""
    slip = feed(
        [
            fx.edit(CWD, "src/api/routes.py"),
            fx.bash_failure(
                CWD,
                "pytest -q tests/api",
                "Exit code 2\nE     File "
                f"\"{CWD}/src/api/routes.py\", line 14\nE   SyntaxError: '(' was never closed",
            ),
            fx.edit(CWD, "src/api/routes.py"),
            fx.bash_success(CWD, "pytest -q tests/api", "22 passed"),
        ]
    )
    assert slip == []
    regression = feed(
        [
            fx.write(CWD, "tests/test_orders.py", "def test_refund_restocks(): ..."),
            fx.bash_failure(
                CWD,
                "pytest -q tests/test_orders.py",
                "FAILED tests/test_orders.py::test_refund_restocks - AssertionError: assert 4 == 5",
            ),
            fx.edit(CWD, "src/orders.py"),
            fx.bash_success(CWD, "pytest -q tests/test_orders.py", "21 passed"),
        ]
    )
    assert [c.type for c in regression] == ["error_fix"]
    assert "assert 4 == 5" in regression[0].content
    assert regression[0].content.endswith("It passed after editing src/orders.py.")


def test_lint_cleanup_and_errors_that_name_their_fix_are_not_kept() -> None:
    lint = feed(
        [
            fx.bash_failure(
                CWD,
                'git commit -m "Add coupons"',
                "ruff....Failed\n- hook id: ruff\n"
                "src/coupons.py:3:8: F401 `datetime` imported but unused",
            ),
            fx.edit(CWD, "src/coupons.py"),
            fx.bash_success(CWD, "git add src/coupons.py"),  # staging is no fix
            fx.bash_success(CWD, 'git commit -m "Add coupons"', "[main 1a2b3c4] Add coupons"),
        ]
    )
    hinted = feed(
        [
            fx.bash_failure(
                CWD,
                "mypy src",
                'error: Library stubs not installed for "requests"\n'
                'note: Hint: "python3 -m pip install types-requests"',
            ),
            fx.bash_success(CWD, "pip install types-requests"),
            fx.bash_success(CWD, "mypy src", "Success: no issues found"),
        ]
    )
    assert lint == [] and hinted == []


def test_only_inert_commands_between_failure_and_rerun_is_a_flake() -> None:
    state: dict[str, Any] = {}
    assert (
        feed(
            [
                fx.bash_failure(CWD, "pytest -q tests/test_search.py", "FAILED ... TimeoutError"),
                fx.bash_success(CWD, "python --version && pip show pytest", "Python 3.12.3"),
                fx.bash_success(CWD, "curl -s localhost:8000/health", "ok"),
                fx.bash_success(CWD, "pytest -q tests/test_search.py", "12 passed"),
            ],
            state,
        )
        == []
    )
    assert state["failures"] == []


def test_masked_pipeline_failure_is_a_failure_not_a_fix() -> None:
    """``pytest | tail`` exits 0; the summary line says it failed, so nothing is 'fixed' until a
    run really passes."""
    failed_tail = (
        "FAILED tests/test_orders.py::test_refund - assert 4 == 5\n=== 1 failed in 0.9s ==="
    )
    state: dict[str, Any] = {}
    assert (
        feed(
            [
                fx.bash_failure(
                    CWD, "pytest -q tests/test_orders.py", "Exit code 1\n" + failed_tail
                ),
                fx.edit(CWD, "src/orders.py"),
                fx.bash_success(CWD, "pytest -q tests/test_orders.py 2>&1 | tail -5", failed_tail),
            ],
            state,
        )
        == []
    )
    (fix,) = feed(
        [
            fx.edit(CWD, "src/stock.py"),
            fx.bash_success(CWD, "pytest -q tests/test_orders.py | tail -3", "21 passed"),
        ],
        state,
    )
    assert fix.content.endswith("It passed after editing src/orders.py, src/stock.py.")
    assert masks_exit("pytest -q 2>&1 | tail -5") and not masks_exit("set -o pipefail; a | b")
    assert shows_failure("test result: FAILED. 11 passed; 1 failed")
    assert not shows_failure("=== 1254 passed, 1 xfailed in 40s ===")


def test_narrower_passing_run_keeps_the_wider_failure_open() -> None:
    captured = feed(
        [
            fx.bash_failure(
                CWD, "pytest -q", "FAILED tests/test_invoices.py::test_due - assert 30 == 31"
            ),
            fx.bash_success(CWD, "pytest -q tests/test_orders.py", "21 passed"),
            fx.edit(CWD, "src/invoices.py"),
            fx.bash_success(CWD, "pytest -q", "1254 passed"),
        ]
    )
    assert len(captured) == 1
    assert captured[0].content.endswith("It passed after editing src/invoices.py.")


def test_setup_then_rerun_and_an_install_variant_are_fixes() -> None:
    (setup,) = feed(
        [
            fx.bash_failure(
                CWD, "npm run build", "For Next.js, Node.js version >= v18.17.0 is required."
            ),
            fx.bash_success(CWD, "source ~/.nvm/nvm.sh && nvm use 20 && npm run build", "Compiled"),
        ]
    )
    assert "running `source ~/.nvm/nvm.sh && nvm use 20`" in setup.content
    (variant,) = feed(
        [
            fx.bash_failure(
                CWD,
                "pip install torch==2.0.1",
                "ERROR: No matching distribution found for torch==2.0.1",
            ),
            fx.bash_success(CWD, "pip install torch==2.2.2", "Successfully installed torch-2.2.2"),
        ]
    )
    assert variant.content == (
        "Fixed: `pip install torch==2.0.1` failed with:\n"
        "ERROR: No matching distribution found for torch==2.0.1\n"
        "`pip install torch==2.2.2` worked instead."
    )


def test_routine_commands_that_change_state_count_as_the_fix() -> None:
    (fix,) = feed(
        [
            fx.bash_failure(CWD, "git push origin main", "fatal: ... returned error: 403"),
            fx.bash_success(CWD, "git remote set-url origin git@github.com:acme/shop.git"),
            fx.bash_success(CWD, "git push origin main"),
        ]
    )
    assert "running `git remote set-url origin git@github.com:acme/shop.git`" in fix.content
    assert is_inert("pip list | grep -i shop") and not is_inert("echo x > ~/.npmrc")
    assert parts('git commit -m "a; b" && git push') == ['git commit -m "a; b"', "git push"]


def test_secret_in_the_fixing_command_never_reaches_the_memory() -> None:
    """Redaction does not know ``docker login -p``; capture masks it, then the hook redacts."""
    token = "dckr_pat_7Hq2Mx9LkP4vRt8Zb1Wn6Yc3Fd0"
    (fix,) = feed(
        [
            fx.bash_failure(
                CWD,
                "docker push registry.acme.io/shop:0.4.0",
                "denied: requested access to the resource is denied",
            ),
            fx.bash_success(
                CWD, f"docker login registry.acme.io -u deploy -p {token}", "Login Succeeded"
            ),
            fx.bash_success(
                CWD, "docker push registry.acme.io/shop:0.4.0", "0.4.0: digest: sha256:4b8e"
            ),
        ]
    )
    stored = redact(fix.content).text  # what the hook enqueues
    assert token not in fix.content and token not in stored
    assert "`docker login registry.acme.io -u deploy -p [REDACTED:password]`" in stored
    assert scrub("mysql -u root -pS3cret db") == "mysql -u root -p[REDACTED:password] db"
    assert scrub("docker run -p 8080:80 shop") == "docker run -p 8080:80 shop"


def test_decision_scaffolding_and_one_line_plans_are_not_kept() -> None:
    plan = {
        **fx.base("PostToolUse", CWD),
        "tool_name": "ExitPlanMode",
        "tool_input": {"plan": "Fix the typo in README.md."},
        "tool_response": {},
    }
    assert (
        feed(
            [
                fx.write(
                    CWD,
                    "docs/adr/README.md",
                    "# Decisions\n\n- [1. Use Postgres](0001-postgres.md)",
                ),
                fx.write(
                    CWD, "docs/adr/template.md", "# NUMBER. TITLE\n\n## Context\n\n## Decision"
                ),
                plan,
            ]
        )
        == []
    )


# -- the precision floor on the benchmark's held-out half ------------------------------------

# bench/capture.py measured held-out precision 0.86 (24 of 28 episodes kept were labelled keep)
# and recall 0.92 (24 of 26) after issue 13's runner episodes. The floors leave room for one
# more stored noise episode (24/29 = 0.83) or two fewer true captures (22/26 = 0.85), not more.
MIN_HELD_OUT_PRECISION = 0.82
MIN_HELD_OUT_RECALL = 0.84
RUNNER_TARGET = 0.9  # issue 13: test-fix loops of every common runner


def test_held_out_precision_floor() -> None:
    """The held-out half (odd lines) of bench/data/capture_cases.jsonl through the real capture
    path: precision must stay within a small margin of what bench/capture.py measured (see the
    constants above), recall must not collapse, and no secret may reach a stored memory."""
    bench = load_bench("capture")
    from mcp_memory.capture.observe import observe

    outcomes = [bench.replay(case, observe) for case in bench.load_cases()]
    held = [o for o in outcomes if not o.case.calibration]
    assert len(held) >= 60
    score = bench.score(held)
    assert score.precision >= MIN_HELD_OUT_PRECISION, bench.mistakes(held)
    assert score.recall >= MIN_HELD_OUT_RECALL, bench.mistakes(held)
    assert [o.case.line for o in outcomes if o.leaked] == []
    runs = [o for o in held if bench.runner_of(o.case) is not None]
    runner_score = bench.score(runs)
    assert runner_score.precision >= RUNNER_TARGET, bench.mistakes(runs)
    assert runner_score.recall >= RUNNER_TARGET, bench.mistakes(runs)


# -- issue 13: the common runners' real output --------------------------------------------------

PAYLOADS = Path(__file__).parent / "fixtures" / "claude_payloads"
ANSI = "\x1b"
# (runner, command, failing output of a run that exits 0 through a pipe, passing output)
RUNNER_LOOPS = [
    (
        "pytest -q | tail",
        "pytest -q tests/test_calc.py 2>&1 | tail -5",
        "FAILED tests/test_calc.py::test_add - assert -1 == 5\n1 failed, 1 passed in 0.94s\n",
        "..                                                                       [100%]\n"
        "2 passed in 0.02s\n",
    ),
    (
        "pytest colour",
        "pytest -q --color=yes | tail -2",
        f"{ANSI}[31m{ANSI}[1m1 failed{ANSI}[0m, {ANSI}[32m1 passed{ANSI}[0m{ANSI}[31m in "
        f"0.94s{ANSI}[0m\n",
        f"{ANSI}[32m{ANSI}[1m3 passed{ANSI}[0m{ANSI}[32m in 0.12s{ANSI}[0m\n",
    ),
    (
        "pytest | head",
        "pytest -q 2>&1 | head -8",
        "F..                                                                      [100%]\n"
        "=================================== FAILURES ===================================\n"
        "___________________________________ test_add ___________________________________\n",
        "...                                                                      [100%]\n",
    ),
    (
        "pytest; echo",
        'pytest -q; echo "exit=$?"',
        "FAILED tests/x.py::test_t - assert 1 == 2\n1 failed in 0.31s\nexit=1\n",
        ".\n1 passed in 0.30s\nexit=0\n",
    ),
    (
        "jest",
        "npx jest 2>&1 | tail -4",
        "Test Suites: 1 failed, 1 total\nTests:       1 failed, 3 passed, 4 total\n",
        "Test Suites: 1 passed, 1 total\nTests:       4 passed, 4 total\n",
    ),
    (
        "vitest",
        "npx vitest run | tail -6",
        " FAIL  src/a.test.ts > a > adds\n Test Files  1 failed (1)\n      Tests  1 failed | 3 passed "
        "(4)\n",
        " Test Files  1 passed (1)\n      Tests  4 passed (4)\n",
    ),
    (
        "go test",
        "go test ./... 2>&1 | tail -5",
        "--- FAIL: TestAdd (0.00s)\n    add_test.go:9: got -1, want 5\nFAIL\n"
        "FAIL\tgithub.com/acme/calc\t0.004s\n",
        "ok  \tgithub.com/acme/calc\t0.004s\n",
    ),
    (
        "cargo test",
        "cargo test 2>&1 | tail -4",
        "test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out\n\n"
        "error: test failed, to rerun pass `--lib`\n",
        "test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out\n",
    ),
    (
        "npm test (mocha)",
        "npm test | tail -6",
        "  3 passing (12ms)\n  1 failing\n\n  1) adds:\n     AssertionError: expected -1 to equal 5\n",
        "  4 passing (11ms)\n",
    ),
    (
        "npm 6",
        "npm test | tail -3",
        "     AssertionError: expected -1 to equal 5\nnpm ERR! Test failed.  See above for more "
        "details.\n",
        "  4 passing (11ms)\n",
    ),
    (
        "tsc",
        "npx tsc --noEmit 2>&1 | head -5",
        "src/api.ts(4,3): error TS2322: Type 'string | undefined' is not assignable to type "
        "'string'.\n\nFound 2 errors in 1 file.\n",
        "",
    ),
    (
        "mypy",
        "mypy src | tail -2",
        'src/db.py:41: error: Item "None" of "Optional[Session]" has no attribute "commit"  '
        "[union-attr]\nFound 3 errors in 1 file (checked 23 source files)\n",
        "Success: no issues found in 23 source files\n",
    ),
]


def test_each_runners_piped_fail_edit_pass_loop_is_one_error_fix() -> None:
    """Issue 13 item 1: a run that exits 0 through a pipe (``| tail``, ``| head``, ``; echo``)
    while its output ends a failed run, an edit, the same command passing: one error_fix, for
    every common runner, with colour codes stripped from what is stored."""
    for runner, command, failing, passing in RUNNER_LOOPS:
        (fix,) = feed(
            [
                fx.bash_success(CWD, command, failing),
                fx.edit(CWD, "src/calc.py", "a - b", "a + b"),
                fx.bash_success(CWD, command, passing),
            ]
        ) or [None]
        assert fix is not None, runner
        assert fix.type == "error_fix" and f"`{command}`" in fix.content, runner
        assert "editing src/calc.py" in fix.content and ANSI not in fix.content, runner


def test_runners_real_failure_and_pass_lines_are_recognised() -> None:
    failures = [
        "1 failed in 0.94s",
        "1 failed, 1 passed in 2.10s",
        "2 failed, 10 passed, 1 warning in 3.01s (0:00:03)",
        "1 error in 0.30s",
        "FAILED tests/x.py::t - AssertionError",
        f"{ANSI}[31m{ANSI}[1m1 failed{ANSI}[0m, {ANSI}[32m1 passed{ANSI}[0m{ANSI}[31m in 0.9s",
        "Tests:       1 failed, 3 passed, 4 total",
        " Test Files  1 failed (1)",
        " FAIL  src/a.test.ts > a > adds",
        "--- FAIL: TestAdd (0.00s)",
        "FAIL\tgithub.com/acme/calc\t0.004s",
        "test result: FAILED. 1 passed; 1 failed; 0 ignored",
        "  1 failing",
        "npm ERR! Test failed.  See above for more details.",
        "npm error Lifecycle script `test` failed with error:",
        "src/a.ts(4,3): error TS2322: Type 'string' is not assignable to type 'number'.",
        "Found 2 errors in 2 files.",
        "Found 3 errors in 1 file (checked 5 source files)",
        "Found 2 errors.",
    ]
    for line in failures:
        assert shows_failure(f"some output\n{line}\n"), line
    passes = [
        "3 passed in 0.12s",
        "Tests:       4 passed, 4 total",
        " Test Files  1 passed (1)",
        "ok  \tgithub.com/acme/calc\t0.004s",
        "test result: ok. 2 passed; 0 failed; 0 ignored",
        "  4 passing (11ms)",
        "Success: no issues found in 1 source file",
        "All checks passed!",
        "Found 2 errors (2 fixed, 0 remaining).",
    ]
    for line in passes:
        assert not shows_failure(line), line
        assert shows_pass(line), line
    assert masks_exit('pytest -q; echo "exit=$?"') and masks_exit("pytest -q || true")
    assert not masks_exit("pip install -e . && pytest -q")


def test_real_bash_payloads_are_read_as_claude_code_sends_them() -> None:
    """The captured 2.1.x shapes: a PostToolUse Bash has no exit code (a success), a failure is
    PostToolUseFailure with ``Exit code N`` first; the real fix loop stores one error_fix."""

    failure = json.loads((PAYLOADS / "posttoolusefailure-bash.json").read_text())
    edit = json.loads((PAYLOADS / "posttooluse-edit.json").read_text())
    passed = json.loads((PAYLOADS / "posttooluse-bash.json").read_text())
    assert bash_outcome(passed) == (False, passed["tool_response"]["stdout"])
    assert bash_outcome(failure) is not None and bash_outcome(failure)[0] is True  # type: ignore[index]
    cwd = Path(failure["cwd"])
    state: dict[str, Any] = {}
    out = []
    for event in (failure, edit, {**passed, "tool_input": failure["tool_input"]}):
        out += observe(event, state, cwd)
    (fix,) = out
    assert "`pytest -x tests/test_calc.py` failed with:" in fix.content
    assert "assert -1 == 5" in fix.content and "editing calc/__init__.py" in fix.content


def test_npm_trailer_is_not_the_error_kept() -> None:
    output = (
        'Exit code 1\n  ● query › escapes percent signs\n    Expected: "50\\\\%"\n'
        "Tests:       1 failed, 7 passed, 8 total\n"
        + "".join(f"npm error {w}\n" for w in ("code 1", "path /p", "command failed", "x"))
    )
    tail = error_tail(output)
    assert "escapes percent signs" in tail and "npm error path" not in tail


# -- issue 13: session summaries only for sessions worth keeping ------------------------------


def _user(text: str, **extra: Any) -> str:

    return json.dumps({"type": "user", "message": {"role": "user", "content": text}, **extra})


def test_real_transcript_counts_only_typed_requests() -> None:
    """The captured transcript: one typed request; the background job's <task-notification>,
    the /compact plumbing, its caveat and the continuation preamble are not requests."""
    lines = (PAYLOADS / "transcript-fix-loop.jsonl").read_text().splitlines()
    session = transcript.parse(lines)
    assert session.requests == ["Fix the failing calc tests, then build in the background."]
    assert session.request_count == 1
    assert "calc/__init__.py" in session.files
    text = transcript.summarize(session)
    assert "task-notification" not in text and "1 request(s)" in text


def test_sessions_with_nothing_worth_keeping_give_no_summary() -> None:
    assistant = json.dumps(
        {
            "type": "assistant",
            "message": {
                "role": "assistant",
                "content": [{"type": "text", "text": "With Decimal."}],
            },
        }
    )
    one_shot = [_user("How does calc round money amounts?"), assistant]
    remember = [_user("#remember the calc tests run from the project root"), assistant]
    system = [
        _user(
            "<task-notification>\n<task-id>b1</task-id>\n<status>completed</status>\n"
            "</task-notification>"
        ),
        _user("<system-reminder>Plan mode is active.</system-reminder>"),
        _user("<local-command-caveat>Caveat: The messages below were generated by the user"),
        assistant,
    ]
    reads_only = [
        _user("Explain the calc module."),
        json.dumps(
            {
                "type": "assistant",
                "message": {
                    "role": "assistant",
                    "content": [
                        {
                            "type": "tool_use",
                            "id": "t1",
                            "name": "Read",
                            "input": {"file_path": "/work/proj/calc.py"},
                        }
                    ],
                },
            }
        ),
        assistant,
    ]
    for lines in (one_shot, remember, system, reads_only):
        assert transcript.summarize(transcript.parse(lines)) == "", lines
    assert transcript.parse(remember).request_count == 0
    assert transcript.parse(system).request_count == 0
