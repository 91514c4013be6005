"""Site templates for a run: learned per template group from a bounded sample of its own pages, kept in the home.

Before a source's captures are processed, every template group of its HTML captures (``sitetemplate.
template_group``: host, plus a named section such as /kuaixun/) gets a template:

- a group the home already has a template for reuses it (``FINCORPUS_HOME/templates/index.json`` names the
  current template of each group; ``fincorpus`` never edits a stored template, a relearned one is a new file);
- a new group with at least ``sitetemplate.MIN_PAGES`` pages is learned from a deterministic sample of at most
  ``SAMPLE_PAGES`` of them (the pages with the smallest URL hashes, so reruns pick the same sample), decoded and
  extracted exactly as processing will; the template is stored as ``templates/<sha256>.json``.

The run records which template each group used (``staging/<run>/templates-<source>.json``); each document records
``site_template = group@sha256`` and the step ``boilerplate:site-template``, so cleaning can be re-run with the very
same template. Cost: one extra extraction per sampled page, once per group and home.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path

from fincorpus.cleaning import sitetemplate
from fincorpus.cleaning.normalize import normalize_text
from fincorpus.sources.base import Capture
from fincorpus.storage import Storage, area

SAMPLE_PAGES = 40
HTML_TYPES = ("text/html", "application/xhtml+xml")


def templates_store(home: Path) -> Storage:
    """``templates/`` under the home, or under FINCORPUS_WAREHOUSE: shared by every machine of a cluster."""
    return area(home, "templates")


def _index(home: Path) -> dict[str, str]:
    store = templates_store(home)
    return store.read_json("index.json") if store.is_file("index.json") else {}


def _store(home: Path, tpl: sitetemplate.SiteTemplate, group: str) -> str:
    store = templates_store(home)
    sha = tpl.sha256
    if not store.exists(f"{sha}.json"):
        store.write_json(f"{sha}.json", tpl.to_json())
    index = _index(home)
    index[group] = sha
    store.write_json("index.json", dict(sorted(index.items())))
    return sha


def _store_empty(home: Path, group: str) -> str:
    """A group whose pages share no frame: remembered (as "") so it is not learned again every run."""
    index = _index(home)
    index[group] = ""
    templates_store(home).write_json("index.json", dict(sorted(index.items())))
    return ""


@lru_cache(maxsize=256)
def load_template(home: str, sha: str) -> sitetemplate.SiteTemplate:
    return sitetemplate.SiteTemplate.from_json(templates_store(Path(home)).read_json(f"{sha}.json"))


def _url_rank(url: str) -> int:
    return int.from_bytes(hashlib.blake2b(url.encode("utf-8"), digest_size=8).digest(), "big")


def learn_templates(
    home: Path,
    run_id: str,
    source_id: str,
    captures: Iterable[Capture],
    extract_text: Callable[[Capture], str | None],
) -> dict[str, str]:
    """group -> template sha for the HTML ``captures`` of one source; ``extract_text`` as processing extracts."""
    counts: dict[str, int] = {}
    samples: dict[str, list[tuple[int, str, int, Capture]]] = {}
    known = _index(home)
    for seq, capture in enumerate(captures):
        if capture.content_type not in HTML_TYPES:
            continue
        group = sitetemplate.template_group(capture.final_url)
        counts[group] = counts.get(group, 0) + 1
        if group in known:
            continue
        heap = samples.setdefault(group, [])
        item = (-_url_rank(capture.final_url), capture.final_url, -seq, capture)
        if len(heap) < SAMPLE_PAGES:
            heapq.heappush(heap, item)
        elif item > heap[0]:
            heapq.heapreplace(heap, item)
    used: dict[str, str] = {g: known[g] for g in counts if known.get(g)}
    for group, heap in sorted(samples.items()):
        if counts[group] < sitetemplate.MIN_PAGES:
            continue
        texts = []
        for _, _, _, capture in sorted(heap, key=lambda x: (x[1], x[2])):
            try:
                t = extract_text(capture)
            except Exception:  # a page that fails here fails in processing too, with its reason
                continue
            if t:
                texts.append(normalize_text(t))
        tpl = sitetemplate.learn(texts, group)
        sha = _store(home, tpl, group) if tpl else _store_empty(home, group)
        if sha:
            used[group] = sha
    area(home, "staging").write_json(f"{run_id}/templates-{source_id}.json", dict(sorted(used.items())))
    return used


def run_templates(home: Path, run_id: str) -> dict[str, str]:
    """Every group -> template sha the run's sources learned or reused."""
    out: dict[str, str] = {}
    store = area(home, "staging")
    for name in store.list(run_id):
        if name.startswith("templates-") and name.endswith(".json"):
            out.update(store.read_json(f"{run_id}/{name}"))
    return out
