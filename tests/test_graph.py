"""`memcycle graph`: a scripted store rendered to HTML and opened in headless Chromium.

The page must report the node, link, cluster and lineage counts of the store, keep hostile
memory text inert, select and search from the URL, and draw (a screenshot is saved under the
test's temporary directory). Chromium is Debian's ``chromium``; `make test` installs it. Without
it these tests are skipped, except in CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from bench_modules import load_bench

from mcp_memory.config import Settings
from mcp_memory.graph.layout import layout
from mcp_memory.graph.page import collect, embed_json, write_graph
from mcp_memory.lifecycle.consolidate import Consolidator
from mcp_memory.llm.budget import BudgetLimits
from mcp_memory.llm.factory import make_provider
from mcp_memory.projects import GLOBAL
from mcp_memory.service.memories import MemoryService
from mcp_memory.store.database import Store

API, WEB = "/work/api", "/work/web"
HOSTILE = '</script><img src=x onerror="document.body.dataset.pwned=1"> <!-- \u2028 & done'
FLAGS = load_bench("_browser").FLAGS  # the flags bench/graph.py uses, one list


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail("Chromium is missing in CI: `make test` installs it (apt-get install chromium)")
    pytest.skip("Chromium is not installed: apt-get install chromium (make test does it as root)")


def browse(page: Path, tmp_path: Path, *args: str, fragment: str = "") -> str:
    """Run headless Chromium on ``page`` with a fresh profile; returns its stdout."""
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    proc = subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", *args, page.as_uri() + fragment],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def body_data(dom: str) -> dict[str, str]:
    body = re.search(r"<body([^>]*)>", dom)
    assert body is not None, dom[:500]
    return dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body.group(1)))


@pytest.fixture(scope="module")
def scripted(tmp_path_factory: pytest.TempPathFactory, minilm: object) -> dict[str, object]:
    """Two projects and global memories through the real service (real links), one applied
    consolidation (lineage), an expired, a deleted and a hostile memory; written as HTML."""
    from mcp_memory.embedding.specs import MINILM
    from mcp_memory.service.types import Options

    tmp = tmp_path_factory.mktemp("graph")
    store = Store.open(tmp / "memory.db")
    service = MemoryService(
        store,
        minilm,
        Options(  # type: ignore[arg-type]
            duplicate_threshold=MINILM.duplicate_threshold, link_threshold=MINILM.link_threshold
        ),
    )
    api = [
        "The billing service retries webhooks 5 times with exponential backoff",
        "Webhook retries in billing use exponential backoff, up to 5 attempts",
        "Billing webhooks are retried with exponential backoff (5 tries max)",
        "We decided to use PostgreSQL for the billing ledger because of transactions",
        "Staging deploys need the VPN; run make deploy-staging",
        "Staging deploys require VPN access first",
        HOSTILE,
    ]
    web = [
        "The mobile app caches images for 7 days in the CDN",
        "Image cache lifetime on the CDN is 7 days for the mobile app",
        "Mobile app images stay cached 7 days at the CDN edge",
        "Login redirect loop fixed by clearing the session cookie domain",
        "Fixed the login redirect loop: the cookie domain was wrong",
        "An old note about the office coffee machine",
        "A forgotten note about lunch",
    ]
    ids = {
        t: service.remember(t, project=API, tags=["billing"] if "illing" in t else None).id
        for t in api
    }
    ids |= {t: service.remember(t, project=WEB).id for t in web}
    ids["global"] = service.remember("Always answer in English", project=GLOBAL).id
    store.set_state(ids["An old note about the office coffee machine"], "expired")
    store.set_state(ids["A forgotten note about lunch"], "deleted")
    worker = Consolidator(service, make_provider("extractive"), BudgetLimits())
    ready = worker.clusters(API)
    outcomes = worker.run(project=WEB)
    assert [o.status for o in outcomes] == ["applied"], outcomes
    html = tmp / "graph.html"
    summary = write_graph(store, html, age_after=50)
    expected = {
        "nodes": int(store.execute("SELECT count(*) FROM memories WHERE state != 'deleted'")[0][0]),
        "links": int(
            store.execute(
                "SELECT count(*) FROM links l JOIN memories a ON a.id = l.source_id "
                "JOIN memories b ON b.id = l.target_id "
                "WHERE a.state != 'deleted' AND b.state != 'deleted'"
            )[0][0]
        ),
        "lineage": int(store.execute("SELECT count(*) FROM lineage")[0][0]),
        "clusters": len(ready),
    }
    data = collect(store)
    store.close()
    return {"html": html, "summary": summary, "expected": expected, "ids": ids, "data": data}


def test_the_store_is_what_the_script_says(scripted: dict[str, object]) -> None:
    """The counts the browser test checks against are real: links, a cluster, lineage."""
    expected = scripted["expected"]
    assert isinstance(expected, dict)
    # 15 remembered - 1 deleted: the offline merge proves the most representative of the three
    # near-identical memories instead of storing a new one (its lineage rows still number 3)
    assert expected["nodes"] == 14
    assert expected["lineage"] == 3 and expected["clusters"] == 1
    assert expected["links"] >= 6
    summary = scripted["summary"]
    assert (summary.nodes, summary.links, summary.lineage, summary.clusters) == (  # type: ignore[attr-defined]
        expected["nodes"],
        expected["links"],
        expected["lineage"],
        expected["clusters"],
    )
    assert summary.projects == 3 and summary.consolidations == 1  # type: ignore[attr-defined]


def test_page_in_chromium_reports_counts_and_draws(
    scripted: dict[str, object], tmp_path: Path
) -> None:
    html = scripted["html"]
    assert isinstance(html, Path)
    dom = browse(html, tmp_path, "--dump-dom", "--virtual-time-budget=3000")
    data = body_data(dom)
    expected = scripted["expected"]
    assert isinstance(expected, dict)
    assert int(data["nodes"]) == expected["nodes"]
    assert int(data["links"]) == expected["links"]
    assert int(data["lineage"]) == expected["lineage"]
    assert int(data["clusters"]) == expected["clusters"]
    assert data["consolidations"] == "1" and data["projects"] == "3"
    assert data["visible-nodes"] == data["drawn-nodes"] == str(expected["nodes"])
    assert float(data["ready-ms"]) > 0
    assert "pwned" not in data  # the hostile text stayed text
    status = re.search(r'<div id="status"[^>]*>(.*?)</div>', dom, re.S)
    assert status is not None and f"<b>{expected['nodes']}</b> memories" in status.group(1)

    shot = tmp_path / "graph.png"
    browse(html, tmp_path, f"--screenshot={shot}", "--window-size=1200,800")
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (1200, 800)
    assert len(png) > 20_000  # a drawn page, not a blank one


def test_url_selects_a_memory_and_searches(scripted: dict[str, object], tmp_path: Path) -> None:
    """#q=, #project= and #id= set the search, the project filter and the open memory: the
    panel shows the full text (as text) and the page counts the matches."""
    html, ids = scripted["html"], scripted["ids"]
    assert isinstance(html, Path) and isinstance(ids, dict)
    fragment = f"#q=webhook&project=api&id={ids[HOSTILE]}"
    dom = browse(html, tmp_path, "--dump-dom", "--virtual-time-budget=3000", fragment=fragment)
    data = body_data(dom)
    assert data["matches"] == "3"  # the three billing webhook memories of api
    assert data["visible-nodes"] == "7"  # api alone
    panel = re.search(r'<div id="d-text">(.*?)</div>', dom, re.S)
    assert panel is not None
    assert panel.group(1) == (
        '&lt;/script&gt;&lt;img src=x onerror="document.body.dataset.pwned=1"&gt; '
        "&lt;!-- \u2028 &amp; done"
    )
    assert "pwned" not in data


def test_html_is_self_contained_and_escapes_data(scripted: dict[str, object]) -> None:
    html = scripted["html"]
    assert isinstance(html, Path)
    text = html.read_text(encoding="utf-8")
    assert "default-src 'none'" in text  # the page may not fetch anything
    assert not re.search(r"https?://", text)
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", text)
    payload = text.split('<script type="application/json" id="graph-data">', 1)[1]
    payload = payload.split("</script>", 1)[0]
    assert "<" not in payload and "\u2028" not in payload
    assert json.loads(payload)["nodes"]["text"].count(HOSTILE) == 1


def test_embed_json_round_trips_every_dangerous_character() -> None:
    value = {"t": "</script><!--<script>\u2028\u2029&'\"\\"}
    text = embed_json(value)
    assert not set("<>&\u2028\u2029") & set(text)
    assert json.loads(text) == value


def test_layout_keeps_projects_apart_and_links_close() -> None:
    """Blocks of different groups never overlap; linked nodes sit closer than unlinked ones."""
    n = 60
    groups = [i % 3 for i in range(n)]
    edges = [(i, i + 3, 0.8) for i in range(0, 27, 3)] + [(1, 4, 0.9), (4, 7, 0.9), (1, 7, 0.6)]
    pos, blocks = layout(n, edges, groups, [5.0] * n)
    assert len(blocks) == 3 and bool((abs(pos) < 1e6).all())
    for a in blocks:
        for b in blocks:
            if a.group < b.group:
                apart = (
                    a.x + a.width <= b.x
                    or b.x + b.width <= a.x
                    or a.y + a.height <= b.y
                    or b.y + b.height <= a.y
                )
                assert apart, (a, b)
    linked = [((pos[a] - pos[b]) ** 2).sum() ** 0.5 for a, b, _ in edges]
    assert max(linked) < 80
    assert min(((pos[i] - pos[j]) ** 2).sum() ** 0.5 for i in range(n) for j in range(i)) >= 10


def test_cli_graph_writes_the_file_and_reports_it(settings: Settings, tmp_path: Path) -> None:
    from mcp_memory.service.memories import content_hash
    from mcp_memory.store.base import NewMemory

    store = Store.open(settings.db)
    store.insert(NewMemory("a note to draw", content_hash("a note to draw"), "/src/p"))
    store.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_MEMORY_")}
    env.update(MCP_MEMORY_HOME=str(settings.home), MCP_MEMORY_MODEL="minilm")
    run = [sys.executable, "-m", "mcp_memory.cli", "graph"]
    out = tmp_path / "out" / "g.html"
    proc = subprocess.run(
        [*run, "--project", "p", "--out", str(out), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["nodes"] == 1 and report["links"] == 0 and report["uri"] == out.as_uri()
    assert "a note to draw" in out.read_text(encoding="utf-8")
    bad = subprocess.run(
        [*run, "--project", "nope"], env=env, capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 1 and "no project named 'nope'; known: p (/src/p)" in bad.stderr


@pytest.mark.parametrize("exact_max", [700, 50])
def test_a_large_component_stays_compact(monkeypatch: pytest.MonkeyPatch, exact_max: int) -> None:
    """A component past BATCH_MAX is simulated alone, exactly or (past EXACT_MAX) with sampled
    repulsion: linked memories end up much closer than the component is wide."""
    import numpy as np

    import mcp_memory.graph.layout as module

    monkeypatch.setattr(module, "EXACT_MAX", exact_max)
    n = 150
    edges = [(i, i // 2, 0.7) for i in range(1, n)] + [
        (i, (i * 7) % n, 0.5) for i in range(0, n, 5)
    ]
    pos, (block,) = layout(n, edges, [0] * n, [5.0] * n)
    assert np.isfinite(pos).all()
    linked = np.median([np.hypot(*(pos[a] - pos[b])) for a, b, _ in edges if a != b])
    assert linked < 0.25 * max(block.width, block.height)


def merged_result(scripted: dict[str, object]) -> tuple[int, int, list[int]]:
    """The merged memory of the fixture's consolidation: its id, the consolidation's id and
    the ids of its sources."""
    data = scripted["data"]
    ids = data.nodes["id"]  # type: ignore[attr-defined]
    lineage = data.lineage  # type: ignore[attr-defined]
    (result,) = {r for _, r, _ in lineage}
    (cid,) = {c for _, _, c in lineage}
    return int(ids[result]), int(cid), sorted(int(ids[s]) for s, _, _ in lineage)


def test_date_filter_from_the_url(scripted: dict[str, object], tmp_path: Path) -> None:
    """#from= and #to= keep the memories created on those days (inclusive); the fixture's
    memories are all from today."""
    from datetime import date, timedelta

    html, expected = scripted["html"], scripted["expected"]
    assert isinstance(html, Path) and isinstance(expected, dict)
    today = date.today()
    around = f"#from={today - timedelta(days=1)}&to={today + timedelta(days=1)}"
    data = body_data(
        browse(html, tmp_path, "--dump-dom", "--virtual-time-budget=3000", fragment=around)
    )
    assert data["visible-nodes"] == str(expected["nodes"])
    before = f"#to={today - timedelta(days=1)}"
    data = body_data(
        browse(html, tmp_path, "--dump-dom", "--virtual-time-budget=3000", fragment=before)
    )
    assert data["visible-nodes"] == "0"
    after = f"#from={today + timedelta(days=1)}&project=api"
    data = body_data(
        browse(html, tmp_path, "--dump-dom", "--virtual-time-budget=3000", fragment=after)
    )
    assert data["visible-nodes"] == "0"


def test_panel_offers_the_cli_commands_to_copy(scripted: dict[str, object], tmp_path: Path) -> None:
    """The page has no server: each action in a memory's panel is its `memcycle` command, on
    a copy button and shown as text."""
    html, ids = scripted["html"], scripted["ids"]
    assert isinstance(html, Path) and isinstance(ids, dict)
    mid = ids["Staging deploys need the VPN; run make deploy-staging"]
    dom = browse(html, tmp_path, "--dump-dom", "--virtual-time-budget=3000", fragment=f"#id={mid}")
    commands = re.findall(r'data-command="([^"]*)"', dom)
    assert f"memcycle forget {mid}" in commands
    assert f"memcycle promote {mid}" in commands
    assert f"memcycle links {mid}" in commands
    assert f"<code>memcycle forget {mid}</code>" in dom
    old = ids["An old note about the office coffee machine"]  # expired
    dom = browse(html, tmp_path, "--dump-dom", "--virtual-time-budget=3000", fragment=f"#id={old}")
    assert f'data-command="memcycle restore {old}"' in dom
    glob = ids["global"]
    dom = browse(html, tmp_path, "--dump-dom", "--virtual-time-budget=3000", fragment=f"#id={glob}")
    assert f'data-command="memcycle forget {glob}"' in dom


def test_merged_memory_panel_shows_its_lineage(scripted: dict[str, object], tmp_path: Path) -> None:
    """A consolidation result has no links of its own: its panel says where it came from,
    lists the sources and offers the undo command and a "show lineage" button."""
    html = scripted["html"]
    assert isinstance(html, Path)
    rid, cid, sources = merged_result(scripted)
    dom = browse(html, tmp_path, "--dump-dom", "--virtual-time-budget=3000", fragment=f"#id={rid}")
    meta = re.search(r'<dl id="d-meta">(.*?)</dl>', dom, re.S)
    assert meta is not None
    # an offline merge keeps one member as the statement (with its own links); an LLM merge is a
    # new memory with none: either way the panel lists the links and the lineage below
    assert re.search(r"<dt>links</dt><dd>\d+", meta.group(1))
    assert f"merged from {len(sources)} memories by consolidation {cid} (extractive," in meta.group(
        1
    )
    rel = re.search(r'<div id="d-rel">(.*?)</div>', dom, re.S)
    assert rel is not None and "<h3>merged from</h3>" in rel.group(1)
    merged_from = rel.group(1).split("<h3>merged from</h3>", 1)[1].split("<h3>", 1)[0]
    assert sorted(int(i) for i in re.findall(r"#(\d+) ", merged_from)) == sources
    assert f'data-command="memcycle unconsolidate {cid}"' in dom
    assert 'class="show-lineage"' in dom


def test_project_filter_zooms_to_fit(scripted: dict[str, object], tmp_path: Path) -> None:
    """Filtering to one project fits its box to the view: on screen, inside the canvas, and
    filling most of it along one side (or at the largest fitting zoom), with the whole store
    zoomed out further."""
    html = scripted["html"]
    assert isinstance(html, Path)
    everything = body_data(
        browse(html, tmp_path, "--dump-dom", "--virtual-time-budget=3000", "--window-size=1200,800")
    )
    for project in ("api", "web"):
        dom = browse(
            html,
            tmp_path,
            "--dump-dom",
            "--virtual-time-budget=3000",
            "--window-size=1200,800",
            fragment=f"#project={project}",
        )
        data = body_data(dom)
        x0, y0, x1, y1 = (int(v) for v in data["fit"].split(","))
        assert 0 <= x0 < x1 <= 1200 and 0 <= y0 < y1 <= 800, (project, x0, y0, x1, y1)
        # fills one side, unless a handful of memories reached the largest fitting zoom
        filled = (
            x1 - x0 >= 0.55 * 1200 or y1 - y0 >= 0.55 * 800
        )  # the bar and margins take the rest
        assert filled or data["scale"] == "3.000", (project, x0, y0, x1, y1, data["scale"])
        assert x0 >= 1200 - x1 - 300  # centred in what the legend leaves (about 260 px)
        assert float(data["scale"]) > float(everything["scale"])


def test_labels_stay_inside_their_project_box(scripted: dict[str, object], tmp_path: Path) -> None:
    """Memory labels are placed inside their project's box, clear of the legend, and most
    memories of this small store get one (linked or not)."""
    html, expected = scripted["html"], scripted["expected"]
    assert isinstance(html, Path) and isinstance(expected, dict)
    dom = browse(
        html, tmp_path, "--dump-dom", "--virtual-time-budget=3000", "--window-size=1400,900"
    )
    data = body_data(dom)
    assert data["labels-outside"] == "0"
    assert int(data["labels"]) >= expected["nodes"] // 2, data


def test_unlinked_memories_form_a_grid_not_a_speck() -> None:
    """Memories without links are laid out in columns with room for a label, recorded as the
    block's loose rectangle (which the page captions)."""
    import numpy as np

    from mcp_memory.graph.layout import LOOSE_COLUMN

    n = 40
    edges = [(0, 1, 0.8), (1, 2, 0.7)]
    pos, (block,) = layout(n, edges, [0] * n, [4.0] * n)
    assert block.loose is not None
    lx, ly, lw, lh = block.loose
    loners = pos[3:]
    assert (loners[:, 0] >= lx).all() and (loners[:, 0] <= lx + lw).all()
    assert (loners[:, 1] >= ly).all() and (loners[:, 1] <= ly + lh).all()
    columns = np.unique(np.round(loners[:, 0], 3))
    assert len(columns) >= 2 and np.diff(columns).min() >= LOOSE_COLUMN - 1e-6
    rows = np.diff(np.sort(loners[loners[:, 0] == loners[0, 0], 1]))
    assert rows.min() >= 2 * 4.0 + 2.5  # dots apart, none on another
    assert block.width >= lw  # the label room of the last column is inside the box


def test_copy_and_show_lineage_buttons_work_when_clicked(
    scripted: dict[str, object], tmp_path: Path
) -> None:
    """Clicked in a live page (driven over the DevTools protocol): a copy button hands its
    command to the clipboard and says so; "show lineage" rings and fits the merged memory and
    its sources."""
    chromium()  # skips without Chromium
    module = load_bench("_browser")
    html = scripted["html"]
    assert isinstance(html, Path)
    rid, cid, sources = merged_result(scripted)
    ready = "document.body && document.body.dataset.paintedMs"
    with module.Browser(chromium()) as browser:
        browser.open(html.as_uri() + f"#id={rid}", ready)
        before = browser.evaluate("document.body.dataset.fit")
        browser.evaluate(
            "document.querySelector('#d-actions button[data-command^=\"memcycle unconsolidate\"]')"
            ".click()"
        )
        assert browser.evaluate("document.body.dataset.copied") == f"memcycle unconsolidate {cid}"
        browser.evaluate("document.querySelector('#d-actions .show-lineage').click()")
        # the lineage: every source and the result (an offline merge kept one source as it)
        assert browser.evaluate("document.body.dataset.focus") == str(len({*sources, rid}))
        assert browser.evaluate("document.body.dataset.fit") != before
        assert "show lineage" in browser.evaluate("document.getElementById('d-actions').innerText")
