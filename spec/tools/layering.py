#!/usr/bin/env python3
"""Layering of the C core (host/src): who may include and call whom.

  layering.py cycles SRC_DIR OBJECT...    # the ctest `layering`
  layering.py headers SRC_DIR OBJECT...   # the ctest `layering_headers`
  layering.py public HEADER               # the ctest `public_header_names`

`cycles` fails when host/src has a cycle
- in its `#include "..."` graph (a header that ends up including itself), or
- in its file-level call graph, read from the compiled objects with nm: a.c
  depends on b.c when a.c's object has an undefined symbol that b.c's object
  defines. A cycle means neither file can be understood, tested or replaced
  without the other.
A cycle is accepted only when one of its edges is in ALLOWED below (libuv's
child -> parent "closed" callbacks); that edge is left out and what remains
must have no cycle. Each cycle is printed as `a.c -> b.c -> a.c` with the
symbols behind each edge.

`headers` fails when a header declares a function that the .c file of the
same name does not define (a header without function declarations, a pure
types header, passes).

`public` fails when a `crater_*` name in the public header (its comments
included) is not declared there: a comment must not name a function that
does not exist.

An OBJECT argument may hold several paths separated by ';' (CMake's
$<TARGET_OBJECTS:...>). The object of x.c is named x.c.o; NM names nm.
"""
import os
import re
import subprocess
import sys

NM = os.environ.get("NM", "nm")
SCRIPT = os.path.relpath(os.path.abspath(__file__),
                         os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

# Call edges that may close a cycle: a child object telling its parent that
# it is gone, as libuv's handles do their loop with close callbacks. The
# parent owns and starts the child; the child knows only this one function.
# (from file, to file, symbol): why.
ALLOWED = {
    ("conn.c", "server.c", "crater__server_conn_closed"):
        "a connection's handles are closed: its server unlinks it (and may end a shutdown)",
    ("inject.c", "server.c", "crater__server_maybe_done"):
        "an injected request finished: crater_close() may have been waiting for it",
    ("timer.c", "server.c", "crater__server_maybe_done"):
        "a timer's run ended: crater_close() may have been waiting for it",
    ("conn.c", "server.c", "crater__server_maybe_done"):
        "the spare handle that took a connection there was no memory for is closed: "
        "crater_close() may have been waiting for it",
}


# --- reading the sources and objects ---------------------------------------------

def objects(args):
    """{"x.c": path of x.c.o} from the OBJECT arguments (the first of a name wins)."""
    found = {}
    for arg in args:
        for path in filter(None, arg.split(";")):
            name = os.path.basename(path)
            if name.endswith(".o"):
                found.setdefault(name[:-2], path)
    return found


def symbols(path):
    """(defined, undefined): the global symbols an object defines and needs."""
    out = subprocess.run([NM, "-P", path], capture_output=True, text=True, check=True).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        name, kind = parts[0], parts[1]
        if kind == "U":
            undefined.add(name)
        elif kind.isupper():
            defined.add(name)
    return defined, undefined


def call_graph(objs):
    """{a: {b: sorted symbols}}: a.c's object needs these symbols of b.c's."""
    syms = {f: symbols(p) for f, p in objs.items()}
    owner = {}
    for f, (defined, _) in syms.items():
        for s in defined:
            owner[s] = f
    graph = {f: {} for f in syms}
    for f, (_, undefined) in syms.items():
        for s in sorted(undefined):
            g = owner.get(s)
            if g is not None and g != f:
                graph[f].setdefault(g, []).append(s)
    return graph, syms


INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)


def include_graph(src):
    """{a: {b: []}} for every `#include "b"` in a that names a file of src."""
    files = sorted(f for f in os.listdir(src) if f.endswith((".c", ".h")))
    graph = {}
    for f in files:
        with open(os.path.join(src, f)) as fh:
            graph[f] = {inc: [] for inc in INCLUDE.findall(fh.read()) if inc in files}
    return graph


# --- cycles ---------------------------------------------------------------------------

def cycles(graph, limit=200):
    """Every elementary cycle, each as [a, b, ..., a] starting at its smallest
    file, shortest first. A cycle is found once, from its smallest file, by a
    depth-first walk that visits only larger files."""
    found = []

    def walk(start, node, path, on_path):
        for nxt in sorted(graph.get(node, {})):
            if nxt == start:
                found.append(path + [start])
            elif nxt > start and nxt not in on_path and len(found) < limit:
                on_path.add(nxt)
                walk(start, nxt, path + [nxt], on_path)
                on_path.discard(nxt)

    for start in sorted(graph):
        walk(start, start, [start], {start})
    return sorted(found, key=lambda c: (len(c), c))


def print_cycles(title, graph, found, with_symbols):
    print("%s: %d cycle%s" % (title, len(found), "" if len(found) == 1 else "s"))
    for c in found:
        print("  " + " -> ".join(c))
        if with_symbols:
            for a, b in zip(c, c[1:]):
                print("      %s -> %s: %s" % (a, b, ", ".join(graph[a][b])))


def check_cycles(src, objs):
    failed = False
    inc = include_graph(src)
    found = cycles(inc)
    if found:
        print_cycles("#include cycles in host/src", inc, found, False)
        failed = True

    calls, _ = call_graph(objs)
    for (a, b, sym), why in sorted(ALLOWED.items()):
        if sym not in calls.get(a, {}).get(b, []):
            print("allowlist entry %s -> %s (%s) matches no call: remove it from %s"
                  % (a, b, sym, SCRIPT))
            failed = True
            continue
        calls[a][b].remove(sym)
        if not calls[a][b]:
            del calls[a][b]
        print("allowed: %s -> %s (%s): %s" % (a, b, sym, why))
    found = cycles(calls)
    if found:
        print_cycles("call cycles in host/src (break each one, or allowlist a child -> parent "
                     "callback in %s)" % SCRIPT, calls, found, True)
        failed = True

    if not failed:
        print("layering: no #include or call cycles among the %d files of host/src "
              "(%d objects)" % (len(inc), len(objs)))
    return 1 if failed else 0


# --- headers ---------------------------------------------------------------------------

COMMENT_OR_STRING = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'', re.S)
NOT_FUNCTIONS = {"void", "char", "short", "int", "long", "float", "double", "signed", "unsigned",
                 "const", "volatile", "struct", "union", "enum", "sizeof", "__attribute__"}


def without_ifdef_blocks(text):
    """text without `#ifdef NAME ... #endif` blocks: what they declare exists
    only in builds that define NAME (the fault-injection hooks of the ASan
    core), which the objects checked need not be. Include guards are
    #ifndef, and stay."""
    out, depth = [], 0
    for line in text.splitlines():
        d = line.strip()
        if depth == 0 and d.startswith("#ifdef"):
            depth = 1
            continue
        if depth > 0:
            if d.startswith("#if"):
                depth += 1
            elif d.startswith("#endif"):
                depth -= 1
            continue
        out.append(line)
    return "\n".join(out)


def declared_functions(text):
    """Names of the functions a header declares (not defines) at file scope."""
    text = COMMENT_OR_STRING.sub(lambda m: " " if m.group(0)[0] == "/" else '""', text)
    text = without_ifdef_blocks(text)
    text = re.sub(r"\\\n", " ", text)
    text = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#"))
    # Only file scope matters: a body (struct, enum, inline function) becomes {}.
    flat, depth = [], 0
    for ch in text:
        if ch == "{":
            depth += 1
            if depth == 1:
                flat.append("{}")
        elif ch == "}":
            depth -= 1
            if depth == 0:
                flat.append(";")  # ends the definition
        elif depth == 0:
            flat.append(ch)
    names = []
    for stmt in "".join(flat).split(";"):
        stmt = " ".join(stmt.split())
        if not stmt or stmt.startswith(("typedef", "static")) or "{}" in stmt:
            continue
        m = re.search(r"\b([A-Za-z_]\w*)\s*\(", stmt)
        if m and m.group(1) not in NOT_FUNCTIONS:
            names.append(m.group(1))
    return names


def check_headers(src, objs):
    defs = {f: symbols(p)[0] for f, p in objs.items()}
    where = {s: f for f, d in sorted(defs.items()) for s in d}
    failed = 0
    for h in sorted(f for f in os.listdir(src) if f.endswith(".h")):
        with open(os.path.join(src, h)) as fh:
            names = declared_functions(fh.read())
        if not names:
            continue  # a pure types header
        own = h[:-2] + ".c"
        if own not in defs and os.path.exists(os.path.join(src, own)):
            print("%s: no object for %s among the arguments" % (h, own))
            return 2
        wrong = [n for n in names if n not in defs.get(own, ())]
        if not wrong:
            continue
        failed += 1
        if own in defs:
            print("%s declares functions %s does not define:" % (h, own))
        else:
            print("%s declares functions, and there is no %s:" % (h, own))
        for n in wrong:
            print("  %-32s %s" % (n, "defined in " + where[n] if n in where else "defined nowhere"))
    if failed:
        print("%d header%s declare%s functions of other files: move each declaration to the "
              "header of the file that defines it" % (failed, "" if failed == 1 else "s",
                                                     "s" if failed == 1 else ""))
        return 1
    print("layering_headers: each header of host/src declares only functions of its own .c")
    return 0


def check_public(header):
    with open(header) as fh:
        text = fh.read()
    declared = set(re.findall(r"\b(crater_\w+)\s*\(", COMMENT_OR_STRING.sub(" ", text)))
    declared |= set(re.findall(r"\b(crater_\w+)\s*;", text))          # typedef names
    declared |= set(re.findall(r"\(\*(crater_\w+)\)", text))            # callback types
    declared |= set(re.findall(r"typedef struct (crater_\w+)", text))
    named = set(re.findall(r"\b(crater_[a-z_0-9]+)\b", text))
    missing = sorted(n for n in named - declared)
    for n in missing:
        print("%s names %s, which it does not declare" % (os.path.basename(header), n))
    if missing:
        return 1
    print("public_header_names: every crater_* name in %s is declared there" % os.path.basename(header))
    return 0


def main(argv):
    if len(argv) == 3 and argv[1] == "public":
        return check_public(argv[2])
    if len(argv) < 4 or argv[1] not in ("cycles", "headers"):
        print(__doc__)
        return 2
    src, objs = argv[2], objects(argv[3:])
    if not objs:
        print("no objects given")
        return 2
    return (check_cycles if argv[1] == "cycles" else check_headers)(src, objs)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
