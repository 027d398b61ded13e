"""Issue 19: a newcomer's first hour with the CLI, each item run as a subprocess of the real
``memcycle`` (``python -m mcp_memory.cli``) against a temporary MCP_MEMORY_HOME."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_cli import ok_json, run

from mcp_memory.config import Settings

# -- item 1: one project resolver for every command -----------------------------------------


@pytest.fixture
def two_projects(settings: Settings, tmp_path: Path) -> dict[str, Path]:
    """Memories in ``.../src/ingest`` and ``.../src/webshop`` (each a git root) plus one
    global memory, stored from inside each project as a person would."""
    roots = {}
    for name, text in (
        ("ingest", "ClickHouse ingestion batches rows by 10k before inserting"),
        ("webshop", "The webshop checkout uses Stripe webhooks for payment status"),
    ):
        root = tmp_path / "src" / name
        (root / ".git").mkdir(parents=True)
        ok_json(run(settings, "remember", text, "--json", cwd=root))
        roots[name] = root
    ok_json(run(settings, "remember", "The user prefers short answers", "--global", "--json"))
    return roots


def test_recall_by_short_name_dot_path_and_key(
    settings: Settings, two_projects: dict[str, Path], tmp_path: Path
) -> None:
    ingest = str(two_projects["ingest"])
    for spelling, cwd in (
        ("ingest", tmp_path),
        (".", two_projects["ingest"]),
        (ingest, tmp_path),
        ("src/ingest", tmp_path),
    ):
        hits = ok_json(
            run(settings, "recall", "clickhouse", "--project", spelling, "--json", cwd=cwd)
        )
        assert [h["project"] for h in hits if "ClickHouse" in h["content"]] == [ingest], spelling


def test_unknown_project_is_an_error_listing_the_known_ones(
    settings: Settings, two_projects: dict[str, Path], tmp_path: Path
) -> None:
    for command in (
        ["recall", "clickhouse"],
        ["export"],
        ["graph", "--out", str(tmp_path / "g.html")],
        ["briefing"],
        ["consolidate"],
        ["route"],
        ["remember", "a note"],
    ):
        proc = run(settings, *command, "--project", "ingset", cwd=tmp_path)
        assert proc.returncode == 1, (command, proc.stdout)
        assert (
            f"memcycle: error: no project named 'ingset'; known: ingest ({two_projects['ingest']}), "
            f"webshop ({two_projects['webshop']})"
        ) in proc.stderr, command
    hint = run(settings, "remember", "a note", "--project", "newthing", cwd=tmp_path).stderr
    assert "to start a new project pass its directory" in hint


def test_export_and_remember_resolve_short_names(
    settings: Settings, two_projects: dict[str, Path], tmp_path: Path
) -> None:
    proc = run(settings, "export", "--project", "webshop", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    memories = [x for x in lines if x.get("kind") == "memory"]
    assert [m["project"] for m in memories] == [str(two_projects["webshop"])]
    r = ok_json(
        run(settings, "remember", "Ingest retries failed batches", "--project", "ingest", "--json")
    )
    assert r["project"] == str(two_projects["ingest"])  # no second "ingest" project
    stats = ok_json(run(settings, "stats", "--json"))
    assert len(stats["counts"]["by_project"]) == 3


def test_ambiguous_short_name_is_an_error(settings: Settings, tmp_path: Path) -> None:
    for parent in ("a", "b"):
        root = tmp_path / parent / "api"
        (root / ".git").mkdir(parents=True)
        ok_json(run(settings, "remember", f"api in {parent}", "--json", cwd=root))
    proc = run(settings, "recall", "api", "--project", "api")
    assert proc.returncode == 1 and "'api' is ambiguous" in proc.stderr


# -- item 3: pipes and narrow terminals -------------------------------------------------------


def memcycle_into_head(settings: Settings, command: str) -> tuple[int, str]:
    """``memcycle COMMAND | head -1`` in a shell: memcycle's own exit status and its stderr."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_MEMORY_")}
    env.update(MCP_MEMORY_HOME=str(settings.home), MCP_MEMORY_MODEL="minilm")
    env["MCP_MEMORY_EMBED_PORT"] = str(settings.embed_port)
    script = (
        f"{sys.executable} -m mcp_memory.cli {command} 2>err | head -c 1 >/dev/null; "
        "echo ${PIPESTATUS[0]}"
    )
    proc = subprocess.run(
        ["bash", "-c", script],
        cwd=settings.home,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return int(proc.stdout.strip()), (settings.home / "err").read_text()


def test_piping_into_head_ends_quietly(settings: Settings) -> None:
    """A closed pipe is no crash: no traceback, status 141 (128 + SIGPIPE, like cat or git)."""
    settings.home.mkdir(parents=True, exist_ok=True)
    for n in range(30):
        ok_json(
            run(
                settings,
                "remember",
                f"note {n} about piping output " + "x " * 200,
                "--global",
                "--json",
            )
        )
    for command in ("stats", "recall piping -k 30", "export", "--help"):
        status, err = memcycle_into_head(settings, command)
        assert "Traceback" not in err and "BrokenPipe" not in err, (command, err)
        assert status in (0, 141), (command, status)  # 0 when it all fitted in the pipe


def test_tables_fit_a_narrow_terminal_with_one_ellipsis(settings: Settings) -> None:
    ok_json(
        run(
            settings,
            "remember",
            "Deploys go through the staging cluster... " * 20,
            "--global",
            "--json",
        )
    )
    for command in (["stats"], ["recall", "deploys staging"]):
        proc = run(settings, *command, env={"COLUMNS": "60"})
        assert proc.returncode == 0, proc.stderr
        wide = [line for line in proc.stdout.splitlines() if len(line) > 60]
        assert wide == [], command
        assert "……" not in proc.stdout and "... …" not in proc.stdout and ". …" not in proc.stdout


# -- item 4: exit codes, flags, help, completion, repeated actions ---------------------------


def test_embed_server_status_exits_3_when_not_running(settings: Settings) -> None:
    proc = run(settings, "embed-server", "status")
    assert proc.returncode == 3 and "not running" in proc.stdout


def test_global_flags_work_before_or_after_the_command(settings: Settings) -> None:
    for argv in (
        ["model", "--json", "list"],
        ["--json", "model", "list"],
        ["model", "list", "--json"],
    ):
        assert "models" in ok_json(run(settings, *argv)), argv
    assert "counts" in ok_json(run(settings, "--json", "stats"))


def test_bare_memcycle_prints_help_and_exits_0(settings: Settings) -> None:
    proc = run(settings)
    assert proc.returncode == 0 and proc.stdout.startswith("usage: memcycle")
    assert "remember" in proc.stdout and proc.stderr == ""


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_script_names_every_command(settings: Settings, shell: str) -> None:
    proc = run(settings, "completion", shell)
    assert proc.returncode == 0, proc.stderr
    for word in ("remember", "recall", "embed-server", "unconsolidate", "--project", "--json"):
        if shell == "fish" and word.startswith("--"):
            word = f"-l {word[2:]}"  # fish names long options without their dashes
        assert word in proc.stdout, (shell, word)


def test_bash_completion_completes_commands_and_flags(settings: Settings, tmp_path: Path) -> None:
    import subprocess

    script = tmp_path / "memcycle.bash"
    script.write_text(run(settings, "completion", "bash").stdout)

    def complete(line: str) -> list[str]:
        words = line.split(" ")
        probe = (
            f"source {script}; COMP_WORDS=({' '.join(repr(w) for w in words)}); "
            f"COMP_CWORD={len(words) - 1}; _memcycle; printf '%s\\n' \"${{COMPREPLY[@]}}\""
        )
        out = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=30)
        return out.stdout.split()

    assert "recall" in complete("memcycle rec") and "remember" not in complete("memcycle rec")
    assert "--all-projects" in complete("memcycle recall x --all")
    assert sorted(complete("memcycle embed-server st")) == ["start", "status", "stop"]


def test_forget_twice_says_already_forgotten(settings: Settings) -> None:
    r = ok_json(run(settings, "remember", "a note to forget", "--global", "--json"))
    first = run(settings, "forget", str(r["id"]))
    assert first.returncode == 0 and "forgotten" in first.stdout
    again = run(settings, "forget", str(r["id"]))
    assert (
        again.returncode == 0 and again.stdout.strip() == f"memory {r['id']} is already forgotten"
    )
    back = run(settings, "restore", str(r["id"]))
    assert back.returncode == 0 and back.stdout.strip() == f"memory {r['id']} restored"
    old = run(settings, "forget", str(r["id"]), "--restore")  # the old spelling, for one release
    assert old.returncode == 1 and "now `memcycle restore ID`" in old.stderr


def test_import_twice_reports_nothing_new(settings: Settings, tmp_path: Path) -> None:
    for text in ("first note for the export", "second note for the export"):
        ok_json(run(settings, "remember", text, "--global", "--json"))
    dump = tmp_path / "all.jsonl"
    assert run(settings, "export", str(dump)).returncode == 0
    other = Settings(**{**settings.__dict__, "home": tmp_path / "other"})
    first = ok_json(run(other, "import", str(dump), "--json"))
    again = ok_json(run(other, "import", str(dump), "--json"))
    assert first["memories"] == 2
    assert (again["memories"], again["duplicates"], again["consolidations"]) == (0, 2, 0)


# -- item 5: reindex says what is true ---------------------------------------------------------


def test_reindex_to_a_model_not_installed_says_to_pull_it(settings: Settings) -> None:
    ok_json(run(settings, "remember", "a note", "--global", "--json"))
    proc = run(settings, "reindex", "--model", "qwen3-0.6b")
    assert proc.returncode == 1 and "database uses" not in proc.stderr
    assert "model qwen3-0.6b is not installed" in proc.stderr
    assert "memcycle model pull qwen3-0.6b" in proc.stderr


def test_reindex_to_the_same_model_does_nothing(settings: Settings) -> None:
    ok_json(run(settings, "remember", "a note", "--global", "--json"))
    proc = run(settings, "reindex", "--model", "minilm")
    assert proc.returncode == 0 and "already on minilm" in proc.stdout
    assert "Restart" not in proc.stdout


# -- item 7: the fallback line once, not on every command --------------------------------------


def test_warm_server_down_is_said_once_an_hour(settings: Settings) -> None:
    first = run(settings, "remember", "a note while the warm server is down", "--global")
    said = [
        "embedding server not reachable" in run(settings, "recall", "note warm server").stderr
        for _ in range(2)
    ]
    assert "embedding server not reachable" in first.stderr and said == [False, False]
    verbose = run(settings, "-v", "recall", "note warm server")
    assert "embedding server not reachable" in verbose.stderr


# -- item 2: doctor right after `make run` -----------------------------------------------------


def test_doctor_passes_right_after_make_runs_steps(settings: Settings) -> None:
    """`make run` is `memcycle demo`: it starts the warm server (which creates the data folder)
    and stores samples. doctor right after must pass (no `.data is 755`)."""
    try:
        proc = run(settings, "demo", "--no-serve")
        assert proc.returncode == 0, proc.stderr
        doctor = run(settings, "doctor")
        assert doctor.returncode == 0, doctor.stdout
    finally:
        run(settings, "embed-server", "stop")
