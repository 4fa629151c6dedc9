#!/usr/bin/python3
"""Generate one benchmark DAG as equivalent make / ninja / baton / plain-sh files.

usage: gen_dags.py SHAPE KIND OUTDIR
  SHAPE: chain200 | fan500 | layered1000 | layered-N (N steps, layers of width 100)
  KIND:  noop  (every step runs `true`, dependencies are ordering-only)
         files (every step cats its inputs and writes a one-line output file)

Writes OUTDIR/{Makefile,build.ninja,pipeline.yaml,commands.txt,meta.json}.
"""
import json
import os
import sys


def chain(n):
    return [(f"s{i}", [f"s{i - 1}"] if i else []) for i in range(n)]


def fan(n):
    return [("s0", [])] + [(f"s{i}", ["s0"]) for i in range(1, n + 1)]


def layered(layers, width):
    steps = []
    for l in range(layers):
        for j in range(width):
            deps = []
            if l:
                k = (j + 1 + (7 * j + l) % (width - 1)) % width  # != j
                deps = [f"s{(l - 1) * width + j}", f"s{(l - 1) * width + k}"]
            steps.append((f"s{l * width + j}", deps))
    return steps


SHAPES = {
    "chain200": lambda: chain(200),
    "fan500": lambda: fan(500),
    "layered1000": lambda: layered(20, 50),
}


def shape_steps(shape):
    """A named shape, or `layered-N`: N steps (a multiple of 100) in layers of width 100."""
    if shape in SHAPES:
        return SHAPES[shape]()
    if shape.startswith("layered-") and shape[8:].isdigit() and int(shape[8:]) % 100 == 0:
        return layered(int(shape[8:]) // 100, 100)
    return None


KINDS = ("noop", "files")


def ideal_units(steps, workers=2):
    """Makespan of greedy list scheduling with unit-cost steps on `workers` cores."""
    left = {name: set(deps) for name, deps in steps}
    done, t = set(), 0
    while left:
        ready = [n for n, d in left.items() if d <= done][:workers]
        for n in ready:
            del left[n]
        done.update(ready)
        t += 1
    return t


def step_cmd(name, ins, out):
    """Shell command of one `files` step; `ins`/`out` are already-rendered paths."""
    body = f"echo {name} > {out}"
    return f"cat {' '.join(ins)} > /dev/null && {body}" if ins else body


def write(outdir, fname, text):
    with open(os.path.join(outdir, fname), "w") as f:
        f.write(text)


def main(argv):
    steps = shape_steps(argv[1]) if len(argv) == 4 else None  # in topological order
    if steps is None or argv[2] not in KINDS:
        sys.exit(f"usage: {argv[0]} {{{'|'.join(SHAPES)}|layered-N}} {{{'|'.join(KINDS)}}} OUTDIR")
    shape, kind, outdir = argv[1:]
    has_child = {d for _, deps in steps for d in deps}
    sinks = [n for n, _ in steps if n not in has_child]
    os.makedirs(outdir, exist_ok=True)

    mk, nj, cmds = [], ["rule r", "  command = $cmd", ""], []
    yml = [f"name: {shape}-{kind}", "steps:"]
    for name, deps in steps:
        if kind == "noop":
            mk.append(f"{name}:{''.join(' ' + d for d in deps)}\n\ttrue")
            nj.append(f"build {name}: r{''.join(' ' + d for d in deps)}\n  cmd = true")
            cmds.append("true")
            yml += [f"  {name}:", '    run: "true"']
            if deps:
                yml.append(f"    after: [{', '.join(deps)}]")
        else:
            cmd = step_cmd(name, [f"out/{d}" for d in deps], f"out/{name}")
            ins = "".join(f" out/{d}" for d in deps)
            mk.append(f"out/{name}:{ins}\n\t{cmd}")
            nj.append(f"build out/{name}: r{ins}\n  cmd = {cmd}")
            cmds.append(cmd)
            local = [chr(ord("a") + i) for i in range(len(deps))]
            bcmd = step_cmd(name, [f"{{{{inputs.{a}}}}}" for a in local], "{{outputs.out}}")
            yml += [f"  {name}:", f'    run: "{bcmd}"', "    outputs: [out]"]
            if deps:
                yml.append("    inputs: {" + ", ".join(f"{a}: {d}.out" for a, d in zip(local, deps)) + "}")

    prefix = "" if kind == "noop" else "out/"
    goals = " ".join(prefix + s for s in sinks)
    phony = f".PHONY: all {' '.join(n for n, _ in steps)}\n" if kind == "noop" else ".PHONY: all\n"
    write(outdir, "Makefile", f"all: {goals}\n{phony}\n" + "\n".join(mk) + "\n")
    write(outdir, "build.ninja", "\n".join(nj) + f"\n\ndefault {goals}\n")
    write(outdir, "pipeline.yaml", "\n".join(yml) + "\n")
    write(outdir, "commands.txt", "\n".join(cmds) + "\n")
    meta = {"shape": shape, "kind": kind, "steps": len(steps),
            "edges": sum(len(d) for _, d in steps), "ideal_j2_units": ideal_units(steps) if len(steps) <= 10000 else None}
    write(outdir, "meta.json", json.dumps(meta) + "\n")


if __name__ == "__main__":
    main(sys.argv)
