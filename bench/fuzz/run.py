"""Long fuzz run (issue 14): N generated or mutated inputs through the cleaning functions, counted per function.

Every input (see gen.py: bytes, text or a mutated PDF, from shared data or generated) goes through each function
that applies to its kind (checks.py: decode, extract, normalise, boilerplate, PII, quality, structure, PDF text,
the text path, the PDF sandbox, and every ``--capture-every``-th bytes input through ingest.process_capture with
the record checked against the schema). Per call: ok, crash (an undocumented exception), invalid (output breaks
the contract), slow (over ``--limit`` seconds, default 1). Inputs run in ``--workers`` worker processes; a
watchdog in this process kills a worker whose current input has run longer than ``--kill`` seconds, counts a hang
for that input and restarts the worker after it.

Crashing inputs are saved under bench/results/fuzz-crashes/ as their recipe (seed, index, steps: replay with
``--replay SEED:INDEX``), with the bytes only when the input holds no shared (third-party) material; at most
``--keep`` files per (function, status, location) signature, named `seedS-...json`: a run replaces only the files of
an earlier run of its own seed.

Run: ``.venv/bin/python bench/fuzz/run.py [--n 1000000] [--workers 2] [--seed 14]``; results in
bench/results/fuzz.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(REPO)]

RESULTS = REPO / "bench" / "results"
STATUSES = ("ok", "crash", "invalid", "slow")
SMALL_INPUT = 1_000_000  # bytes: the size up to which the per-input time limit applies as it is


def _worker(
    wid: int, workers: int, seed: int, start: int, n: int, args: dict[str, Any], progress: Any, queue: Any
) -> None:
    """Inputs start+wid, start+wid+workers, ... < n; per-chunk counts and failures go to the queue."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from bench.fuzz.checks import Runner
    from bench.fuzz.gen import generate

    runner = Runner(limit_s=args["limit"], capture_every=args["capture_every"])
    progress[wid * 2 + 1] = time.monotonic()
    runner.warm_up()
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    seconds: dict[str, float] = defaultdict(float)
    failures: list[dict[str, Any]] = []
    slow_inputs = done = 0
    last_flush = time.monotonic()
    first = start + ((wid - start) % workers)
    parent = os.getppid()
    for i in range(first, n, workers):
        if progress[-1]:  # the run's time budget is spent: stop after the input in hand
            break
        if (
            os.getppid() != parent
        ):  # the run was killed: a daemon worker outlives a SIGTERMed parent otherwise
            return
        progress[wid * 2] = i
        progress[wid * 2 + 1] = time.monotonic()
        inp = generate(seed, i, args["pdf_every"])
        t0 = time.perf_counter()
        outcomes = runner.run_input(inp, i)
        if time.perf_counter() - t0 > args["limit"] and inp.kind != "pdf":
            slow_inputs += 1
        for o in outcomes:
            counts[o.function][o.status] += 1
            seconds[o.function] += o.seconds
            if o.status != "ok":
                failures.append(_failure(seed, i, inp, o))
                failures[-1]["size"] = len(inp.data)
        done += 1
        if time.monotonic() - last_flush > 5 or len(failures) > 50:
            queue.put(
                (
                    "counts",
                    wid,
                    done,
                    {k: dict(v) for k, v in counts.items()},
                    dict(seconds),
                    failures,
                    slow_inputs,
                )
            )
            counts, seconds, failures, done, slow_inputs = defaultdict(Counter), defaultdict(float), [], 0, 0
            last_flush = time.monotonic()
    queue.put(
        ("counts", wid, done, {k: dict(v) for k, v in counts.items()}, dict(seconds), failures, slow_inputs)
    )
    queue.put(("done", wid))


def _failure(seed: int, index: int, inp: Any, o: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "seed": seed,
        "index": index,
        "kind": inp.kind,
        "function": o.function,
        "status": o.status,
        "detail": o.detail,
        "where": o.where,
        "seconds": round(o.seconds, 3),
        "recipe": inp.recipe[:40],
        "replay": f"python bench/fuzz/run.py --replay {seed}:{index}",
    }
    if not inp.shared:
        data = inp.data if isinstance(inp.data, bytes) else inp.data.encode("utf-8", "surrogatepass")
        if len(data) <= 4096:
            rec["input_hex" if inp.kind != "text" else "input_utf8_surrogatepass_hex"] = data.hex()
    return rec


def run(
    n: int,
    workers: int,
    seed: int,
    args: dict[str, Any],
    save: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    progress = ctx.Array("d", [0.0] * (2 * workers + 1), lock=False)  # per worker: index, start; stop flag
    queue = ctx.Queue()
    procs: dict[int, Any] = {}

    def start(wid: int, frm: int) -> None:
        p = ctx.Process(target=_worker, args=(wid, workers, seed, frm, n, args, progress, queue), daemon=True)
        progress[wid * 2], progress[wid * 2 + 1] = frm, time.monotonic()
        p.start()
        procs[wid] = p

    counts: dict[str, Counter[str]] = defaultdict(Counter)
    seconds: dict[str, float] = defaultdict(float)
    kept: dict[str, int] = Counter()
    signatures: dict[str, dict[str, Any]] = {}
    slow: list[dict[str, Any]] = []
    inputs = killed = slow_inputs = 0
    t0 = time.monotonic()
    for w in range(workers):
        start(w, 0)
    running = set(range(workers))
    crash_dir = args["crash_dir"]
    crash_dir.mkdir(parents=True, exist_ok=True)
    last_print = last_save = time.monotonic()
    while running:
        try:
            msg = queue.get(timeout=0.5)
        except Exception:
            msg = None
        if msg and msg[0] == "counts":
            _, wid, done, c, s, failures, over = msg
            inputs += done
            slow_inputs += over
            for k, v in c.items():
                counts[k].update(v)
            for k, v in s.items():
                seconds[k] += v
            for f in failures:
                _record(f, signatures, kept, args["keep"], crash_dir, slow)
        elif msg and msg[0] == "done":
            running.discard(msg[1])
        now = time.monotonic()
        for wid in list(running):
            idx, since = int(progress[wid * 2]), progress[wid * 2 + 1]
            if progress[-1] and not procs[wid].is_alive():
                time.sleep(0.5)
                if queue.empty():
                    running.discard(wid)  # stopped by the budget and its last counts are in
                continue
            if now - since > args["kill"] or not procs[wid].is_alive():
                if not procs[wid].is_alive() and now - since <= args["kill"]:
                    time.sleep(0.5)  # a worker that ended normally has its last messages in the queue
                    if not queue.empty():
                        continue
                procs[wid].kill()
                procs[wid].join()
                killed += 1
                inputs += 1
                from bench.fuzz.gen import generate

                inp = generate(seed, idx, args["pdf_every"])
                status = "hang" if now - since > args["kill"] else "worker-died"
                counts["(whole input)"][status] += 1
                _record(
                    {
                        "seed": seed,
                        "index": idx,
                        "kind": inp.kind,
                        "function": "(whole input)",
                        "status": status,
                        "detail": f"no answer after {now - since:.0f} s",
                        "where": "",
                        "recipe": inp.recipe[:40],
                        "replay": f"python bench/fuzz/run.py --replay {seed}:{idx}",
                    },
                    signatures,
                    kept,
                    args["keep"],
                    crash_dir,
                    slow,
                )
                if idx + workers < n:
                    start(wid, idx + workers)
                else:
                    running.discard(wid)
        if now - last_print > 60:
            last_print = now
            bad = sum(v[s] for v in counts.values() for s in ("crash", "invalid", "slow"))
            print(
                f"{inputs:>9,} inputs  {inputs / max(1e-9, now - t0):7.1f}/s  failures {bad}  "
                f"signatures {len(signatures)}",
                flush=True,
            )
        if args["max_minutes"] and now - t0 > 60 * args["max_minutes"] and not progress[-1]:
            progress[-1] = 1.0
            print(
                f"time budget of {args['max_minutes']} min spent: stopping after {inputs:,} inputs",
                flush=True,
            )
        if save is not None and now - last_save > 600:  # a partial result survives an interrupted run
            last_save = now
            save(summary(counts, seconds, inputs, now - t0, slow_inputs, killed, signatures, None))
    retimed = retime(slow, args)
    return summary(counts, seconds, inputs, time.monotonic() - t0, slow_inputs, killed, signatures, retimed)


def summary(
    counts: dict[str, Counter[str]],
    seconds: dict[str, float],
    inputs: int,
    wall: float,
    slow_inputs: int,
    killed: int,
    signatures: dict[str, dict[str, Any]],
    retimed: dict[str, Any] | None,
) -> dict[str, Any]:
    per_function = {
        k: {
            **{s: v.get(s, 0) for s in STATUSES},
            **{s: n_ for s, n_ in v.items() if s not in STATUSES},
            "calls": sum(v.values()),
            "mean_ms": round(1000 * seconds[k] / max(1, sum(v.values())), 3),
        }
        for k, v in sorted(counts.items())
    }
    return {
        "partial": retimed is None,
        "inputs": inputs,
        "wall_seconds": round(wall, 1),
        "inputs_per_second": round(inputs / wall, 1),
        "inputs_over_limit": slow_inputs,
        "workers_killed": killed,
        "per_function": per_function,
        "load_average_end": os.getloadavg(),
        "slow_retimed": retimed,
        "signatures": sorted(signatures.values(), key=lambda s: -s["count"]),
    }


def retime(slow: list[dict[str, Any]], args: dict[str, Any], most: int = 100) -> dict[str, Any]:
    """Calls over the limit, timed again one at a time in this process after the run (the machine is shared:
    a call can be slow because another process had the core). Confirmed = still over the limit (best of 2)."""
    from bench.fuzz.checks import Runner
    from bench.fuzz.gen import generate

    runner = Runner(limit_s=args["limit"], capture_every=1)
    runner.warm_up()
    out: list[dict[str, Any]] = []
    for f in slow[:most]:
        inp = generate(f["seed"], f["index"], args["pdf_every"])
        best = min(
            next((o.seconds for o in runner.run_input(inp, f["index"]) if o.function == f["function"]), 0.0)
            for _ in range(2)
        )
        out.append(
            {
                "index": f["index"],
                "function": f["function"],
                "size": len(inp.data),
                "in_run_s": f["seconds"],
                "retimed_s": round(best, 3),
                "recipe": inp.recipe[:8],
            }
        )
    confirmed = [x for x in out if x["retimed_s"] > args["limit"]]
    for x in confirmed:
        x["seconds_per_mb"] = round(x["retimed_s"] / max(x["size"], 1) * 1e6, 3)
    small = [x for x in confirmed if x["size"] <= SMALL_INPUT]
    return {
        "slow_calls": len(slow),
        "retimed": len(out),
        "confirmed_over_limit": len(confirmed),
        # the size split (libFuzzer's -max_len with -timeout): an input of at most 1 MB over the limit is a hang;
        # a larger one is reported with its seconds per MB, so linear cost is told from a blow-up
        "confirmed_up_to_1_mb": len(small),
        "confirmed_over_1_mb": len(confirmed) - len(small),
        "largest_seconds_per_mb_over_1_mb": max(
            (x["seconds_per_mb"] for x in confirmed if x["size"] > SMALL_INPUT), default=0.0
        ),
        "confirmed": confirmed[:50],
        "largest_retimed_s": max((x["retimed_s"] for x in out), default=0.0),
    }


def _record(
    f: dict[str, Any],
    signatures: dict[str, dict[str, Any]],
    kept: Counter[str],
    keep: int,
    crash_dir: Path,
    slow: list[dict[str, Any]],
) -> None:
    if f["status"] == "slow":  # one signature per function and input size band, not per duration
        band = next(b for b in (1_000, 10_000, 100_000, 1_000_000, 10**12) if f.get("size", 0) <= b)
        sig = f"{f['function']}|slow|size<={band}"
        if len(slow) < 5000:
            slow.append(f)
    else:
        sig = f"{f['function']}|{f['status']}|{f['where']}|{f['detail'].split(':')[0][:60]}"
    entry = signatures.setdefault(
        sig,
        {
            "function": f["function"],
            "status": f["status"],
            "where": f["where"],
            "detail": f["detail"][:200],
            "count": 0,
            "examples": [],
        },
    )
    entry["count"] += 1
    if kept[sig] < keep:
        kept[sig] += 1
        sig_hash = hashlib.blake2b(sig.encode(), digest_size=6).hexdigest()
        name = f"seed{f['seed']}-{sig_hash}-{kept[sig]}.json"  # per seed: runs of other seeds keep theirs
        (crash_dir / name).write_text(json.dumps(f, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        entry["examples"].append(f"{crash_dir.name}/{name}")


def replay(spec: str, pdf_every: int) -> None:
    from bench.fuzz.checks import Runner
    from bench.fuzz.gen import generate

    seed, index = (int(x) for x in spec.split(":"))
    inp = generate(seed, index, pdf_every)
    print(
        f"input {seed}:{index} kind={inp.kind} shared={inp.shared} size={len(inp.data)} recipe={inp.recipe}"
    )
    for o in Runner(capture_every=1).run_input(inp, index):
        print(f"  {o.function:<34} {o.status:<8} {o.seconds * 1000:9.1f} ms  {o.where}  {o.detail}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--limit", type=float, default=1.0, help="seconds per call before it counts as a hang")
    ap.add_argument("--kill", type=float, default=30.0, help="seconds before the watchdog kills a worker")
    ap.add_argument(
        "--capture-every", type=int, default=50, help="every k-th bytes input through process_capture"
    )
    ap.add_argument("--pdf-every", type=int, default=500, help="every k-th input is a mutated PDF")
    ap.add_argument("--keep", type=int, default=3, help="saved examples per failure signature")
    ap.add_argument(
        "--max-minutes", type=float, default=0, help="stop after this long (0: run all --n inputs)"
    )
    ap.add_argument("--out", type=Path, default=RESULTS / "fuzz.json")
    ap.add_argument("--replay", help="SEED:INDEX: rebuild one input and run it, printing every outcome")
    a = ap.parse_args()
    if a.replay:
        replay(a.replay, a.pdf_every)
        return
    from bench.provenance import provenance

    args = {
        "limit": a.limit,
        "kill": a.kill,
        "capture_every": a.capture_every,
        "pdf_every": a.pdf_every,
        "keep": a.keep,
        "max_minutes": a.max_minutes,
    }
    crash_dir = a.out.parent / "fuzz-crashes"
    if (
        crash_dir.is_dir()
    ):  # a new run's examples replace those of the last run of the same seed, nothing else
        for old in crash_dir.glob(f"seed{a.seed}-*.json"):
            old.unlink()
    head = {
        "provenance": provenance(),
        "n_requested": a.n,
        "seed": a.seed,
        "workers": a.workers,
        "settings": args,
    }

    def save(res: dict[str, Any]) -> None:
        a.out.write_text(json.dumps({**head, **res}, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")

    res = run(a.n, a.workers, a.seed, {**args, "crash_dir": crash_dir}, save)
    save(res)
    bad = {k: {s: v[s] for s in ("crash", "invalid", "slow") if v[s]} for k, v in res["per_function"].items()}
    print(
        json.dumps(
            {
                "inputs": res["inputs"],
                "per_second": res["inputs_per_second"],
                "failures": {k: v for k, v in bad.items() if v},
            },
            ensure_ascii=False,
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
