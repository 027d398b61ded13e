"""Session replay: scripted Claude Code sessions through the real hook entry, measured end to end.

Run: ``.venv/bin/python bench/sessions.py`` (a few minutes on 2 cores). It rewrites the
"sessions" section of docs/benchmarks.md.

Data: ``bench/data/sessions.jsonl``, one scripted session a line over three projects (``ledger``
with pytest, ``storefront`` with vitest, ``relay`` with go test): ``{"project", "kind", "keep",
"summary", "note", "steps"}``. ``steps`` are a prompt (``expect``: ``inject`` with the
``answer`` a memory must contain, or ``none``), a shell command and its real output (piped
through ``tail`` as Claude runs tests, so it exits 0), a read, an edit or a write. ``keep``
says whether the session should leave a memory other than its summary (a fix, a note, a
decision); ``summary`` whether it deserves a session summary. Labels were written before the
first run.

Method: each session runs as Claude Code runs the hooks: ``hooks/run.py EVENT`` subprocesses
with the recorded 2.1.x payload shapes (tests/hook_fixtures.py) on stdin: SessionStart, then per
step UserPromptSubmit or PostToolUse, then SessionEnd with a transcript of the session. One
``MCP_MEMORY_HOME`` for all, the bundled model in the warm server SessionStart spawns, the
worker settled between sessions. Measured: capture precision and recall of ``keep`` and of
``summary``; memories injected per prompt and the share whose text holds the expected answer;
duplicate injections per session (an id shown twice by the briefing and the prompt hook); the
session summaries among the last briefing's items per project; then every answer prompt is
recalled in three sessions (the promotion path) and ``route`` planned per project: what got
promoted and what route would write.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _report import Rates, machine_line, table, write_section

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
import hook_fixtures as fx  # noqa: E402

from mcp_memory.hooks import reader as hook_recall  # noqa: E402

DATA = REPO / "bench" / "data" / "sessions.jsonl"
SECTION = "sessions"
PORT = 52711
# A small briefing, as in a project with more memories than its briefing holds: with the default
# budget the briefing of these small projects lists every note and decision, so the prompt hook
# (which never repeats what the briefing showed) would have nothing left to inject.
BRIEFING_TOKENS = 120
DEFAULT_BRIEFING = 800  # the settings' default: the summary share is measured at it
_ID = re.compile(r"^- \[(\d+)\]", re.M)


@dataclass
class Rate(Rates):
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def row(self) -> list[str]:
        return [
            f"{self.precision:.2f}",
            f"{self.recall:.2f}",
            f"{self.tp}/{self.fp}/{self.fn}/{self.tn}",
        ]

    def add(self, label: bool, got: bool) -> None:
        if label and got:
            self.tp += 1
        elif got:
            self.fp += 1
        elif label:
            self.fn += 1
        else:
            self.tn += 1


@dataclass
class Result:
    keep: Rate = field(default_factory=Rate)
    summary: Rate = field(default_factory=Rate)
    prompts_inject: list[tuple[int, int]] = field(default_factory=list)  # (injected, relevant)
    in_briefing: list[bool] = field(default_factory=list)  # answer prompts: already briefed
    prompts_none: list[int] = field(default_factory=list)  # injected
    noise: list[tuple[int, str, str]] = field(default_factory=list)  # (session, prompt, shown)
    duplicates: list[int] = field(default_factory=list)
    briefing_summaries: dict[str, int] = field(default_factory=dict)
    briefing_items: dict[str, int] = field(default_factory=dict)
    promoted: list[tuple[int, str]] = field(default_factory=list)
    routes: list[tuple[str, int, str, str]] = field(default_factory=list)


def load() -> list[dict[str, Any]]:
    return [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]


def hook(event: str, payload: dict[str, Any], env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, str(fx.RUNNER), event],
        input=json.dumps(payload).encode(),
        env=env,
        capture_output=True,
        timeout=60,
        check=True,
    )
    return fx.parse_output(event, done.stdout) or ""


def _entry(kind: str, content: Any, sid: str, cwd: Path) -> str:
    return json.dumps(
        {
            "type": kind,
            "sessionId": sid,
            "cwd": str(cwd),
            "isSidechain": False,
            "timestamp": datetime.now(UTC).isoformat(),
            "message": {"role": kind, "content": content},
        }
    )


def replay(n: int, session: dict[str, Any], root: Path, env: dict[str, str], out: Result) -> None:
    project = root / session["project"]
    sid = f"bench-session-{n:03d}"
    transcript = root / "transcripts" / f"{sid}.jsonl"
    lines: list[str] = []

    def payload(data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "session_id": sid, "transcript_path": str(transcript)}

    shown: list[int] = []
    briefing = hook("SessionStart", payload(fx.session_start(project)), env)
    shown += [int(i) for i in _ID.findall(briefing)]
    for i, step in enumerate(session["steps"]):
        tid = f"toolu_{n:03d}{i:02d}"
        if "prompt" in step:
            lines.append(_entry("user", step["prompt"], sid, project))
            context = hook("UserPromptSubmit", payload(fx.prompt(project, step["prompt"])), env)
            ids = [int(x) for x in _ID.findall(context)] if "Relevant memories" in context else []
            shown += ids
            relevant = 0
            if step["expect"] == "inject":
                texts = [ln for ln in context.splitlines() if ln.startswith("- [")]
                relevant = sum(1 for t in texts if step["answer"].lower() in t.lower())
                out.prompts_inject.append((len(ids), relevant))
                out.in_briefing.append(step["answer"].lower() in briefing.lower())
            else:
                out.prompts_none.append(len(ids))
            if ids and not (step["expect"] == "inject" and relevant == len(ids)):
                first = next((ln for ln in context.splitlines() if ln.startswith("- [")), "")
                out.noise.append((n, step["prompt"], first))
            continue
        if "bash" in step:
            event = fx.bash_success(project, step["bash"], step["stdout"])
            tool_input: dict[str, Any] = {"command": step["bash"]}
            result = step["stdout"]
        elif "read" in step:
            event = fx.read(project, step["read"])
            tool_input, result = {"file_path": str(project / step["read"])}, "x = 1"
        elif "edit" in step:
            event = fx.edit(project, step["edit"], step["old"], step["new"])
            tool_input, result = {"file_path": str(project / step["edit"])}, "updated"
        else:
            event = fx.write(project, step["write"], step["content"])
            tool_input, result = {"file_path": str(project / step["write"])}, "created"
        tool = event["tool_name"]
        lines.append(
            _entry(
                "assistant",
                [{"type": "tool_use", "id": tid, "name": tool, "input": tool_input}],
                sid,
                project,
            )
        )
        lines.append(
            _entry(
                "user",
                [{"type": "tool_result", "tool_use_id": tid, "content": result}],
                sid,
                project,
            )
        )
        hook(event["hook_event_name"], payload({**event, "tool_use_id": tid}), env)
    transcript.parent.mkdir(exist_ok=True)
    transcript.write_text("\n".join(lines) + "\n", encoding="utf-8")
    hook("SessionEnd", payload(fx.session_end(project, transcript)), env)
    fx.settle(root / "home" / "run")
    out.duplicates.append(len(shown) - len(set(shown)))


def stored_by(home: Path) -> dict[str, list[tuple[str, str]]]:
    """(type, content) of the memories each session stored, by session id."""
    from mcp_memory.store.database import Store

    store = Store.open(home / "memory.db")
    try:
        found = store.get_many(store.query_ids("state IN ('buffer','proven')", ()))
    finally:
        store.close()
    out: dict[str, list[tuple[str, str]]] = {}
    for m in found.values():
        if m.session_id:
            out.setdefault(m.session_id, []).append((m.type, m.content))
    return out


def after(sessions: list[dict[str, Any]], root: Path, env: dict[str, str], out: Result) -> None:
    """Briefings, promotion through repeated recalls, and the route plan, per project."""
    from mcp_memory.app import open_app
    from mcp_memory.config import load_settings
    from mcp_memory.routing.router import RouteConfig, Router
    from mcp_memory.service.briefing import build_briefing

    settings = load_settings(env)
    questions = [
        s["steps"][0]["prompt"] for s in sessions if s["steps"][0].get("expect") == "inject"
    ]
    with open_app(settings) as app:
        for name in sorted({s["project"] for s in sessions}):
            project = str(root / name)
            ids = build_briefing(app.service, project, None, budget_tokens=DEFAULT_BRIEFING).ids
            found = app.store.get_many(ids)
            out.briefing_items[name] = len(ids)
            out.briefing_summaries[name] = sum(1 for i in ids if found[i].type == "session_summary")
        for context in ("bench-recall-a", "bench-recall-b", "bench-recall-c"):
            for session in sessions:
                prompt = session["steps"][0]["prompt"]
                if prompt not in questions:
                    continue
                app.service.recall(
                    prompt, projects=[str(root / session["project"])], k=5, context=context
                )
        proven = app.store.get_many(app.store.query_ids("state = 'proven'", ()))
        out.promoted = [(m.id, m.type) for m in proven.values()]
        config = RouteConfig(claude_home=root / "claude", backup_dir=root / "backups")
        router = Router(app.store, app.embedder, config)
        for name in sorted({s["project"] for s in sessions}):
            plan = router.plan([str(root / name)])
            types = app.store.get_many([i.memory_id for i in plan.items])
            out.routes += [
                (name, i.memory_id, types[i.memory_id].type, i.action) for i in plan.items
            ]


def render(sessions: list[dict[str, Any]], out: Result, seconds: float) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    inject = out.prompts_inject
    hit = sum(1 for n, r in inject if r > 0)
    briefed = sum(out.in_briefing)
    in_context = sum(1 for (_, r), b in zip(inject, out.in_briefing, strict=True) if r > 0 or b)
    shown = sum(n for n, _ in inject) + sum(out.prompts_none)
    relevant = sum(r for _, r in inject)
    quiet = sum(1 for n in out.prompts_none if n == 0)
    prompts = len(inject) + len(out.prompts_none)
    lines = ["## Sessions: scripted sessions through the hooks\n"]
    lines.append(
        f"Written by `bench/sessions.py` on {stamp} in {seconds:.0f} s. Machine: "
        f"{machine_line()}. Data: `bench/data/sessions.jsonl`, {len(sessions)} scripted sessions "
        "over 3 projects (pytest, vitest and go test fixes piped through `tail`, notes, ADRs, "
        "refactors, flakes, one-shot questions with and without a stored answer), labelled "
        "before the first run; each replayed through `hooks/run.py` subprocesses with the real "
        "2.1.x payload shapes, the bundled model in the warm server SessionStart spawns, a "
        f"briefing budget of {BRIEFING_TOKENS} tokens (a project with more memories than its "
        "briefing holds).\n"
    )
    rows = [
        ["capture: keep (a fix, note or decision)", *out.keep.row()],
        ["capture: session summary", *out.summary.row()],
    ]
    lines.append(table(["what", "precision", "recall", "TP/FP/FN/TN"], rows))
    dup = sum(out.duplicates)
    summaries = max(out.briefing_summaries.values(), default=0)
    lines.append(
        "\n"
        + table(
            ["measure", "value", "target"],
            [
                [
                    "prompts with a stored answer: answer in context (briefing or injected)",
                    f"{in_context}/{len(inject)} ({in_context / max(1, len(inject)):.0%})",
                    ">= 70%",
                ],
                [
                    "... of which already in the session's briefing (not injected again)",
                    f"{briefed}/{len(inject)}",
                    "-",
                ],
                [
                    "... answer injected by the prompt hook",
                    f"{hit}/{len(inject)} ({hit / max(1, len(inject)):.0%})",
                    "-",
                ],
                [
                    "prompts about nothing stored: nothing injected",
                    f"{quiet}/{len(out.prompts_none)} ({quiet / max(1, len(out.prompts_none)):.0%})",
                    ">= 90%",
                ],
                ["memories injected per prompt", f"{shown / max(1, prompts):.2f}", "-"],
                [
                    "precision of injected memories",
                    f"{relevant}/{shown} ({relevant / max(1, shown):.0%})" if shown else "-",
                    "-",
                ],
                [
                    "duplicate injections per session",
                    f"{dup / max(1, len(out.duplicates)):.2f}",
                    "0",
                ],
                [
                    f"session summaries in the final {DEFAULT_BRIEFING}-token briefing "
                    "(max over projects, of items)",
                    f"{summaries} of "
                    + "/".join(str(out.briefing_items[p]) for p in sorted(out.briefing_items)),
                    "<= 2",
                ],
            ],
        )
    )
    kinds: dict[str, int] = {}
    for _, kind in out.promoted:
        kinds[kind] = kinds.get(kind, 0) + 1
    route_kinds: dict[tuple[str, str], int] = {}
    for _, _, kind, action in out.routes:
        route_kinds[(kind, action)] = route_kinds.get((kind, action), 0) + 1
    lines.append(
        "\nAfter the replay every answer prompt was recalled in three sessions (the promotion "
        "path): promoted to proven: "
        + (", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "nothing")
        + ". `route` would plan: "
        + (", ".join(f"{n} {k} ({a})" for (k, a), n in sorted(route_kinds.items())) or "nothing")
        + ". No session summary is promoted or routed.\n"
    )
    if out.noise:
        lines.append("Prompts that got a memory without the expected answer (first one shown):\n")
        rows = [
            [
                str(n),
                p.replace("|", "/"),
                (shown[:140] + "…" if len(shown) > 140 else shown).replace("|", "/"),
            ]
            for n, p, shown in out.noise
        ]
        lines.append(table(["session", "prompt", "injected"], rows))
    return "\n".join(lines) + "\n"


def main() -> int:
    began = time.perf_counter()
    sessions = load()
    out = Result()
    with tempfile.TemporaryDirectory(prefix="sessions-bench-") as tmp:
        root = Path(tmp)
        home = root / "home"
        home.mkdir()
        for name in {s["project"] for s in sessions}:
            (root / name / ".git").mkdir(parents=True)
            (root / name / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
        env = fx.hook_env(
            home, PORT, MCP_MEMORY_MODEL="minilm", MCP_MEMORY_BRIEFING_TOKENS=str(BRIEFING_TOKENS)
        )
        env["PYTHONPATH"] = str(REPO)
        try:
            for n, session in enumerate(sessions, start=1):
                if n == 1:  # the first SessionStart spawns the warm server: wait for it
                    hook("SessionStart", fx.session_start(root / session["project"]), env)
                    fx.wait_for(
                        lambda: hook_recall.server_health("127.0.0.1", PORT, 0.5), 120, "server"
                    )
                replay(n, session, root, env, out)
            stored = stored_by(home)
            for n, session in enumerate(sessions, start=1):
                mine = stored.get(f"bench-session-{n:03d}", [])
                out.keep.add(session["keep"], any(t != "session_summary" for t, _ in mine))
                out.summary.add(session["summary"], any(t == "session_summary" for t, _ in mine))
            after(sessions, root, env, out)
        finally:
            pid_file = home / "run" / f"embed-server-{PORT}.pid"
            try:
                pid = json.loads(pid_file.read_text()).get("pid")
                if isinstance(pid, int):
                    os.kill(pid, 15)
            except (OSError, ValueError):
                pass
    body = render(sessions, out, time.perf_counter() - began)
    path = write_section(SECTION, body)
    print(body)
    print(f"wrote section {SECTION!r} of {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
