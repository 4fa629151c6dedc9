#!/usr/bin/python3
"""Prints the results of hyperfine --export-json files as one Markdown table.

usage: medians.py s|ms FILE.json...   (the unit of the table's columns)
"""
import json
import sys


def main(argv):
    if len(argv) < 3 or argv[1] not in ("s", "ms"):
        sys.exit(__doc__.strip())
    unit = argv[1]
    scale, digits = (1, 3) if unit == "s" else (1000, 2)
    print(f"\n| command | median {unit} | mean {unit} | min {unit} | max {unit} |")
    print("|---|---|---|---|---|")
    for path in argv[2:]:
        for r in json.load(open(path))["results"]:
            cells = " | ".join(f"{r[k] * scale:.{digits}f}" for k in ("median", "mean", "min", "max"))
            print(f"| {r['command']} | {cells} |")


if __name__ == "__main__":
    main(sys.argv)
