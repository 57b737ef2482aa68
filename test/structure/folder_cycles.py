#!/usr/bin/env python3
"""Fails when the project's folders include each other in a cycle.

The graph is derived from the #include "..." lines of every C++ file outside test/ and the build
directories: a folder is the directory of a file (a `detail/` folder counts as its parent), and
an include of a project header adds an arrow from the including file's folder to the header's.
Every strongly connected set of more than one folder is reported with one include per arrow, so
the line to change is named. Prints the layers (folders in dependency order) when there is none.

  test/structure/folder_cycles.py [ROOT]
  test/structure/folder_cycles.py --self-test   (a planted cycle is found, then ROOT is checked)
"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
SKIP = {"test", ".git", ".ci"}
SOURCES = (".cpp", ".hpp", ".h", ".cc", ".def", ".in")


def folder_of(path):
    folder = os.path.dirname(path)
    while os.path.basename(folder) == "detail":
        folder = os.path.dirname(folder)
    return folder or "."


def project_files(root):
    for top, dirs, files in os.walk(root):
        rel_top = os.path.relpath(top, root)
        first = rel_top.split(os.sep)[0]
        if first in SKIP or first.startswith("build"):
            dirs[:] = []
            continue
        dirs[:] = [d for d in dirs if not d.startswith("build") and d not in SKIP]
        for name in files:
            if name.endswith(SOURCES):
                yield os.path.normpath(os.path.join(rel_top, name))


def edges(root):
    files = set(project_files(root))
    # A header made by the build (runtime/base/version.hpp from version.hpp.in) counts as its source.
    made = {f[: -len(".in")]: f for f in files if f.endswith(".in")}
    out = {}
    for path in sorted(files):
        with open(os.path.join(root, path), encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                target = m.group(1)
                if target not in files and target not in made:
                    continue  # a system or third-party header
                a, b = folder_of(path), folder_of(target)
                if a != b:
                    out.setdefault((a, b), f"{path}:{number}: #include \"{target}\"")
    return out


def strongly_connected(nodes, succ):
    index, low, on_stack, stack, result = {}, {}, set(), [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in succ.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            result.append(sorted(group))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return result


def layers(nodes, succ):
    depth = {}

    def level(v):
        if v not in depth:
            depth[v] = 0
            depth[v] = 1 + max((level(w) for w in succ.get(v, ())), default=-1)
        return depth[v]

    for v in nodes:
        level(v)
    return depth


def self_test():
    """A two-folder cycle through a detail/ folder is found and named; without it, none is."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        def put(path, text):
            os.makedirs(os.path.dirname(os.path.join(tmp, path)), exist_ok=True)
            with open(os.path.join(tmp, path), "w") as f:
                f.write(text)

        put("low/a.hpp", "#include <vector>\n")
        put("high/b.cpp", '#include "low/a.hpp"\n')
        if check(tmp) != 0:
            return "a tree without a cycle was reported"
        put("low/detail/c.cpp", '#include "high/b.hpp"\n')
        put("high/b.hpp", "\n")
        if check(tmp) != 1:
            return "the planted cycle low <-> high was not found"
    return None


def main():
    if sys.argv[1:] == ["--self-test"]:
        failure = self_test()
        if failure:
            print("self-test failed: " + failure)
            return 1
        print("self-test: the planted cycle was found")
        del sys.argv[1]
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
    return check(os.path.abspath(root))


def check(root):
    arrows = edges(root)
    succ, nodes = {}, set()
    for a, b in arrows:
        succ.setdefault(a, set()).add(b)
        nodes.update((a, b))
    cycles = [g for g in strongly_connected(nodes, succ) if len(g) > 1]
    if cycles:
        for group in cycles:
            print("folder cycle: " + " <-> ".join(group))
            for (a, b), where in sorted(arrows.items()):
                if a in group and b in group:
                    print(f"  {a} -> {b}: {where}")
        print(f"{len(cycles)} folder cycle(s)")
        return 1
    depth = layers(nodes, succ)
    for d in range(max(depth.values(), default=-1) + 1):
        print(f"layer {d}: " + ", ".join(sorted(v for v in nodes if depth[v] == d)))
    print(f"no folder cycle among {len(nodes)} folders ({len(arrows)} arrows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
