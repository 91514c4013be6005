"""Takedown and erasure at corpus scale: what a request costs against what reading the corpus once costs.

Corpus: N synthetic-from-real documents on the `dataset` path (bench/store.py's generator: ~1.5 KB of real
sentences from shared/data each, fixed seed), plus one document of our own holding a phone number. Two runs and
two tags: v1 (N documents + the one), v2 (+5 % new). Then, each timed:

- match of a PII request (dry run): every retained data file read once, every document's raw record read back
  and decoded, identifiers found and hashed: the slow kind of request;
- match of a doc-id request (dry run);
- takedown (no purge) + the publish that turns the document into a tombstone (nothing staged);
- purge of the PII document: snapshots replaced, files rewritten, staged parts, crawl state, WARC records;
- baseline, same home: a full pull of v2 (read every document, write Parquet, sign), and the v2 publish.

Run: .venv/bin/python bench/takedown.py [--n 20000] [--out bench/results/takedown.json]
Timings on a shared machine are provisional.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(HERE), str(REPO)]

from provenance import provenance  # noqa: E402
from store import SOURCES_YAML, sentences, write_dataset  # noqa: E402

PHONE = "13512345678"


def ingest(src: Path, home: Path, workers: int) -> None:
    from fincorpus.pipelines import ingest as st

    sources = st.load_sources_for(str(src))
    res = st.crawl_source(sources, "synth", home)
    run_id, _ = st.open_run(home, res.pass_ids)
    shards = st.plan_pass_shards(home, res.pass_ids, workers=workers)
    with ProcessPoolExecutor(workers) as ex:
        st.run_in_process(str(src), home, shards, run_id, {}, res.pass_ids, map_fn=ex.map)


def timed(fn):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    out = fn()
    return out, round(time.perf_counter() - t, 2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "takedown.json")
    args = ap.parse_args()
    from fincorpus.catalog import erasure
    from fincorpus.catalog.export import pull
    from fincorpus.catalog.store import CorpusCatalog
    from fincorpus.pipelines.publish import publish
    from fincorpus.takedown import TakedownRequest, pii_value_hash

    workers = max(1, int(os.environ.get("FINCORPUS_WORKERS") or os.cpu_count() or 1))
    work = Path(tempfile.mkdtemp(prefix="fincorpus-bench-takedown-"))
    try:
        pool = sentences(args.data)
        data, home = work / "data", work / "home"
        write_dataset(data / "a.parquet", 0, args.n, pool)
        schema = pa.schema(
            [("id", pa.string()), ("title", pa.string()), ("text", pa.string()), ("date", pa.string())]
        )
        text = pool[0] + pool[1] + f"联系人：王女士，电话 {PHONE}。" + pool[2]
        pq.write_table(pa.Table.from_pylist([{"id": "pii-1", "title": "通知", "text": text, "date": "2024-06-01"}],
                                            schema=schema), data / "p.parquet")  # fmt: skip
        src = work / "sources.yaml"
        src.write_text(SOURCES_YAML.format(path=str(data)), encoding="utf-8")
        _, t_ingest1 = timed(lambda: ingest(src, home, workers))
        publish(home, "v1")
        write_dataset(data / "b.parquet", args.n, args.n // 20, pool)
        ingest(src, home, workers)
        _, t_publish2 = timed(lambda: publish(home, "v2"))
        docs = CorpusCatalog(home).tag("v2").documents

        def req(kind: str, value: str, purge: bool = False) -> TakedownRequest:
            return TakedownRequest(kind=kind, value=value, requester="bench", reason="bench",
                                   legal_basis="pipl-art47", purge=purge)  # fmt: skip

        pii = req("pii_hash", pii_value_hash(PHONE))
        m, t_match_pii = timed(lambda: erasure.take_down(home, pii, dry_run=True))
        one = CorpusCatalog(home).read("v2", columns=("doc_id",)).column("doc_id")[7].as_py()
        _, t_match_id = timed(lambda: erasure.take_down(home, req("doc_id", one), dry_run=True))
        _, t_takedown = timed(lambda: erasure.take_down(home, req("doc_id", one)))
        _, t_publish3 = timed(lambda: publish(home, "v3"))
        res, t_purge = timed(
            lambda: erasure.take_down(home, req("pii_hash", pii_value_hash(PHONE), purge=True))
        )
        _, t_pull = timed(lambda: pull(home, "v2", work / "pull"))
        out = {
            "provenance": provenance(),
            "documents": docs,
            "workers": workers,
            "ingest_v1_seconds": t_ingest1,
            "match_pii_seconds": t_match_pii,
            "match_pii_docs_per_s": round(docs / t_match_pii) if t_match_pii else None,
            "match_pii_found": len(m.doc_ids),
            "match_doc_id_seconds": t_match_id,
            "takedown_seconds": t_takedown,
            "publish_with_tombstone_seconds": t_publish3,
            "purge_seconds": t_purge,
            "purge": res.purge.replaced() if res.purge else None,
            "purge_problems": res.problems,
            "baseline_pull_v2_seconds": t_pull,
            "baseline_publish_v2_seconds": t_publish2,
            "note": "a purge also verifies itself (reads every retained data file again); timings provisional",
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        print(json.dumps(out, ensure_ascii=False, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
