"""Segments of a chain step's critical path from `perf trace` output (see step_latency.sh).

A segment runs from one marked system call of baton's main thread to the next, starting when
the step's shell calls exit_group and ending when baton calls clone3 for the next step. Prints
each segment's median in microseconds, and the median of the whole gap."""
import collections
import re
import statistics
import sys

LINE = re.compile(r"\s*([\d.]+) .*?: (\S+)/(\d+) (\w+)\(")


def main(paths):
    segments = collections.defaultdict(list)
    gaps = []
    for path in paths:
        previous = None  # (label, time in ms) of the last mark in the current gap
        start = None
        for line in open(path):
            m = LINE.match(line)
            if not m:
                continue
            t, comm, call = float(m.group(1)), m.group(2), m.group(4)
            if call == "exit_group":
                if comm == "sh":
                    start, previous = t, ("step exits", t)
                continue
            if comm != "baton" or previous is None:
                continue
            label = {"openat": "open", "pipe2": "pipe (log)"}.get(call, call)
            segments[previous[0] + " -> " + label].append((t - previous[1]) * 1000)
            previous = (label, t)
            if call == "clone3":
                gaps.append((t - start) * 1000)
                previous = None
    if not gaps:
        print("no step gaps found (is perf allowed to trace?)")
        return 1
    print(f"step exit -> next step's spawn: median {statistics.median(gaps):.0f} us over {len(gaps)} steps")
    for name, values in sorted(segments.items(), key=lambda kv: -len(kv[1])):
        if len(values) >= len(gaps) // 2:
            print(f"  {name:<28} {statistics.median(values):6.0f} us  (n={len(values)})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
