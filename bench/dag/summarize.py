#!/usr/bin/python3
"""Print markdown tables from run.sh results.

usage: summarize.py results/*.json   (hyperfine exports, each next to its .meta.json;
                                      .meta.json arguments are ignored)
"""
import json
import statistics
import sys

TOOLS = ("make", "ninja", "baton")


def fmt(x, spec):
    return "–" if x is None else format(x, spec)


def row(cells):
    return "| " + " | ".join(str(c) for c in cells) + " |"


def load(path):
    with open(path) as f:
        med = {r["command"]: statistics.median(r["times"]) for r in json.load(f)["results"]}
    with open(path[: -len(".json")] + ".meta.json") as f:
        meta = json.load(f)
    # The baseline runs every step sequentially; on 2 cores the best -j2 schedule
    # runs `ideal_j2_units` rounds of (up to) 2 steps, each costing one step's process time.
    per = med["baseline"] / meta["steps"]
    med["ideal"] = per * meta["ideal_j2_units"]
    return meta, med


def main(paths):
    data = [load(p) for p in paths if not p.endswith(".meta.json")]
    print("### Median wall time (s)\n")
    print(row(["shape", "kind", "steps", "baseline (seq)", "ideal -j2", *TOOLS]))
    print(row(["---"] * 8))
    for meta, med in data:
        print(row([meta["shape"], meta["kind"], meta["steps"], fmt(med["baseline"], ".3f"),
                   fmt(med["ideal"], ".3f"), *(fmt(med.get(t), ".3f") for t in TOOLS)]))

    print("\n### Per step (ms)\n")
    print(row(["shape", "kind", "process", *(f"{t}" for t in TOOLS),
               *(f"{t} overhead" for t in TOOLS),
               "baton − ninja", "baton − make", "baton / ninja", "baton / make"]))
    print(row(["---"] * 13))
    for meta, med in data:
        n = meta["steps"]
        ms = lambda x: None if x is None else 1000 * x / n
        diff = lambda a, b: None if a is None or b is None else ms(a - b)
        ratio = lambda a, b: None if a is None or b is None else a / b
        b = med.get("baton")
        print(row([meta["shape"], meta["kind"], fmt(ms(med["baseline"]), ".3f"),
                   *(fmt(ms(med.get(t)), ".3f") for t in TOOLS),
                   *(fmt(diff(med.get(t), med["ideal"]), ".3f") for t in TOOLS),
                   fmt(diff(b, med["ninja"]), "+.3f"), fmt(diff(b, med["make"]), "+.3f"),
                   fmt(ratio(b, med["ninja"]), ".2f") + "×" * (b is not None),
                   fmt(ratio(b, med["make"]), ".2f") + "×" * (b is not None)]))
    if any("baton-base" in med for _, med in data):
        print("\n### baton against baton-base (BATON_BASE: another build, same runs)\n")
        print(row(["shape", "kind", "baton (s)", "baton-base (s)", "baton / baton-base",
                   "baton / ninja", "baton-base / ninja"]))
        print(row(["---"] * 7))
        for meta, med in data:
            b, base, nin = med.get("baton"), med.get("baton-base"), med["ninja"]
            if b is None or base is None:
                continue
            print(row([meta["shape"], meta["kind"], fmt(b, ".3f"), fmt(base, ".3f"),
                       fmt(b / base, ".3f") + "×", fmt(b / nin, ".2f") + "×",
                       fmt(base / nin, ".2f") + "×"]))
    print("\nprocess = baseline / steps (one `/bin/sh -c CMD` per step, sequential); "
          "overhead = (tool − ideal -j2) / steps; medians over all timed runs.")


if __name__ == "__main__":
    main(sys.argv[1:])
