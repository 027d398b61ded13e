"""The `memcycle` command line, run as a subprocess the way a person or script runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mcp_memory.config import SETTING_NAMES, Settings


def run(
    settings: Settings,
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MCP_MEMORY_")}
    base.update(
        MCP_MEMORY_HOME=str(settings.home),
        MCP_MEMORY_MODEL="minilm",
        MCP_MEMORY_EMBED_PORT=str(settings.embed_port),
    )
    base.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "mcp_memory.cli", *args],
        capture_output=True,
        text=True,
        env=base,
        cwd=cwd,
        input=stdin,
        timeout=120,
    )


def ok_json(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_remember_recall_forget_stats_json(settings: Settings, tmp_path: Path) -> None:
    ops = tmp_path / "ops"
    ops.mkdir()
    r = ok_json(
        run(
            settings,
            "remember",
            "Staging deploys need VPN access first",
            "--project",
            str(ops),
            "--tag",
            "deploy",
            "--tag",
            "VPN",
            "--json",
        )
    )
    assert r["status"] == "created" and r["project"] == str(ops)
    again = ok_json(
        run(
            settings,
            "remember",
            "Staging deploys need VPN access first",
            "--project",
            "ops",
            "--json",
        )
    )
    assert (again["id"], again["status"]) == (r["id"], "duplicate")
    hits = ok_json(run(settings, "recall", "vpn deploy", "--project", "ops", "-k", "3", "--json"))
    assert hits[0]["id"] == r["id"] and hits[0]["tags"] == ["deploy", "vpn"]
    assert ok_json(run(settings, "recall", "vpn", "--project", "global", "--json")) == []
    stats = ok_json(run(settings, "stats", "--json"))
    assert stats["counts"]["total"] == 1 and stats["model"] == "minilm"
    assert stats["counts"]["by_project"] == {str(ops): 1}
    ok_json(run(settings, "forget", str(r["id"]), "--json"))
    assert ok_json(run(settings, "recall", "vpn", "--project", "ops", "--json")) == []
    restored = ok_json(run(settings, "restore", str(r["id"]), "--json"))
    assert restored["state"] == "buffer"


def test_project_defaults_to_git_root_and_global_is_shared(
    settings: Settings, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "src" / "deep").mkdir(parents=True)
    here = ok_json(run(settings, "remember", "Repo uses tabs", "--json", cwd=repo / "src" / "deep"))
    assert here["project"] == str(repo.resolve())
    g = ok_json(run(settings, "remember", "User likes dark mode", "--global", "--json", cwd=repo))
    assert g["project"] == "@global"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    hits = ok_json(run(settings, "recall", "tabs dark mode", "--json", cwd=outside))
    assert [h["id"] for h in hits] == [g["id"]]  # the repo's memory does not leak out
    inside = ok_json(run(settings, "recall", "tabs dark mode", "--json", cwd=repo))
    assert {h["id"] for h in inside} == {here["id"], g["id"]}


def test_remember_reads_stdin_and_redacts_secrets(settings: Settings, tmp_path: Path) -> None:
    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    r = ok_json(
        run(
            settings,
            "remember",
            "-",
            "--project",
            ".",
            "--json",
            stdin=f"CI uses the token {token} for releases",
            cwd=tmp_path,
        )
    )
    assert r["redactions"] == 1
    hits = ok_json(run(settings, "recall", "CI releases token", "--json", cwd=tmp_path))
    assert token not in hits[0]["content"] and "[REDACTED" in hits[0]["content"]


def test_human_output_is_readable(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    proc = run(
        settings, "remember", "Use make test before pushing", "--project", "p/", cwd=tmp_path
    )
    assert proc.returncode == 0 and proc.stdout.startswith("created memory 1 (note) in p")
    proc = run(settings, "recall", "before pushing", "--project", "p")
    assert "[1]" in proc.stdout and "Use make test before pushing" in proc.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["remember", "   "], "content is empty"),
        (["recall", "x", "-k", "0"], "k must be"),
        (["recall", "x", "--since", "yesterday"], "ISO 8601"),
        (["forget", "999"], "no memory with id 999"),
        (["remember", "x", "--type", "bogus"], "type must be one of"),
    ],
)
def test_bad_input_exits_1_with_a_message(
    settings: Settings, args: list[str], message: str
) -> None:
    proc = run(settings, *args)
    assert proc.returncode == 1
    assert message in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MCP_MEMORY_EMBED_PORT", "not-a-port"),
        ("MCP_MEMORY_MODEL", "gpt-embedder"),
        ("MCP_MEMORY_NEAR_DUPLICATES", "sometimes"),
        ("MCP_MEMORY_EMBED_HOST", "0.0.0.0"),
    ],
)
def test_bad_setting_fails_at_startup_naming_the_variable(
    settings: Settings, variable: str, value: str
) -> None:
    proc = run(settings, "stats", env={variable: value})
    assert proc.returncode == 1 and variable in proc.stderr and "Traceback" not in proc.stderr


def test_readme_documents_every_setting() -> None:
    """The README's configuration table names each setting's variable in full."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    table = " ".join(line for line in readme.splitlines() if line.startswith("| `MCP_MEMORY_"))
    missing = [n for n in SETTING_NAMES if f"`MCP_MEMORY_{n.upper()}`" not in table]
    assert missing == []


def test_config_file_is_read_and_validated(settings: Settings) -> None:
    settings.home.mkdir(parents=True, exist_ok=True)
    (settings.home / "config.toml").write_text("max_content_chars = 10\n")
    proc = run(settings, "remember", "this text is longer than ten characters")
    assert proc.returncode == 1 and "limit is 10" in proc.stderr
    (settings.home / "config.toml").write_text("max_content_char = 10\n")
    proc = run(settings, "stats")
    assert proc.returncode == 1 and "unknown setting 'max_content_char'" in proc.stderr


def test_doctor_reports_each_part_with_fixes(settings: Settings) -> None:
    proc = run(settings, "doctor", "--json")
    checks = {c["name"]: c for c in json.loads(proc.stdout)}
    assert set(checks) == {
        "driver",
        "sqlite-vec",
        "model",
        "warm-server",
        "consolidation",
        "database",
        "permissions",
        "network",
        "redaction",
        "code",
    }
    assert checks["driver"]["ok"] and "apsw" in checks["driver"]["detail"]
    assert checks["sqlite-vec"]["ok"]
    assert checks["model"]["ok"] and "minilm" in checks["model"]["detail"]
    # Nothing listens on the test's port: a warning (the in-process fallback covers it), so
    # doctor still passes when everything else does, and fails on anything that is broken.
    assert not checks["warm-server"]["ok"] and checks["warm-server"]["level"] == "warn"
    assert checks["warm-server"]["fix"] == "memcycle embed-server start"
    assert [c["name"] for c in checks.values() if c["level"] == "fail"] == []
    assert proc.returncode == 0
    text = run(settings, "doctor").stdout
    assert (
        text.splitlines()[3].startswith("WARN warm-server")
        and "fix: memcycle embed-server start" in text
    )
    settings.home.mkdir(parents=True, exist_ok=True)
    settings.home.chmod(0o755)  # readable by others: a real failure
    bad = run(settings, "doctor", "--json")
    levels = {c["name"]: c["level"] for c in json.loads(bad.stdout)}
    assert levels["permissions"] == "fail" and bad.returncode == 1


def test_model_list_shows_choice_and_reason(settings: Settings) -> None:
    data = ok_json(run(settings, "model", "list", "--json", env={"MCP_MEMORY_MODEL": "auto"}))
    rows = {m["id"]: m for m in data["models"]}
    assert rows["minilm"]["installed"] and rows["minilm"]["default_for_new_databases"]
    assert not rows["qwen3-0.6b"]["installed"]
    assert "model pull qwen3-0.6b" in data["why"]


def test_database_built_with_one_model_refuses_another(settings: Settings) -> None:
    ok_json(run(settings, "remember", "first memory", "--json"))
    proc = run(settings, "recall", "first", env={"MCP_MEMORY_MODEL": "qwen3-0.6b"})
    assert proc.returncode == 1 and "built with minilm" in proc.stderr


def test_demo_without_serving(settings: Settings) -> None:
    proc = run(settings, "demo", "--no-serve")
    try:
        assert proc.returncode == 0, proc.stderr
        assert "remembered [" in proc.stdout and "claude mcp add" in proc.stdout
        # The sample recall ranks the sample about locks first, and says why it matched.
        hits = [line for line in proc.stdout.splitlines() if line.startswith("  [")]
        assert "database is locked" in hits[0] and "meaning 0." in hits[0], proc.stdout
        assert "keywords #1" in hits[0], proc.stdout
    finally:
        run(settings, "embed-server", "stop")
