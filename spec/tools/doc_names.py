#!/usr/bin/env python3
"""Names in the documentation that must exist in the tree.

  doc_names.py [--strict] FILE.md...     # ctest `docs_names`, `architecture_doc`

For every Markdown file given:
- each `crater_*` / `crater__*` identifier appears as a word in the sources
  (host/, lua/, spec/c, spec/tools, the CMake files): a renamed function
  cannot stay in the docs;
- each repository path (host/..., lua/..., spec/..., docs/..., examples/...,
  cmake/...) with a file extension names a file that exists;
- each `FILE:NAME()` in backticks (`conn.c:read_cb()`, `dispatch.lua:new()`)
  names a function that FILE defines: a C definition (not a prototype) in
  host/src/FILE, or a Lua `function ...NAME(` / `NAME = function` in
  lua/crater/FILE.
With --strict (docs/architecture.md, which walks the code by name), also:
- each bare file name (`conn.c`, `vm.h`, `router.lua`, `schema/compile.lua`)
  is a file of host/src, host/include or lua/crater;
- each identifier with an underscore, in backticks or in a ```text diagram
  (`read_cb`, `CONN_F_INFLIGHT`, `uv_write`), appears as a word in those
  sources: a diagram cannot name a function that is gone;
- each bare `NAME()` in backticks is a function defined in host/src or
  lua/crater (or one of libuv's, llhttp's or Lua's, used by host/src).
Prints each name that is missing, with its file:line; exits 1 if any is.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SRC = os.path.join(ROOT, "host", "src")
INCLUDE = os.path.join(ROOT, "host", "include")
LUA = os.path.join(ROOT, "lua", "crater")

PATH = re.compile(r"(?<![\w/.-])((?:host|lua|spec|docs|examples|cmake)/[\w./-]*\w\.(?:c|h|lua|py|md|json|txt|sh|cmake))\b")
CRATER_ID = re.compile(r"\bcrater__?[A-Za-z0-9_]*")
FILE_FN = re.compile(r"^([\w/]+\.(?:c|lua)):([A-Za-z_]\w*)\(\)$")
BARE_FILE = re.compile(r"^(?:[\w]+/)?[\w]+\.(?:c|h|lua)$")
BARE_FN = re.compile(r"^([A-Za-z_]\w*)\(\)$")
UNDERSCORED = re.compile(r"\b[A-Za-z_]\w*_\w*\b")
INLINE_CODE = re.compile(r"``?([^`\n]+?)``?")
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```\s*$", re.M | re.S)


def read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def sources():
    """{relative path: text} of the files whose words count as existing."""
    found = {}
    for top in ("host", "lua", "cmake"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, top)):
            for f in files:
                if f.endswith((".c", ".h", ".lua", ".cmake", ".in")):
                    p = os.path.join(dirpath, f)
                    found[os.path.relpath(p, ROOT)] = read(p)
    for dirpath, exts in (("spec/c", (".c", ".h")), ("spec/tools", (".py",))):
        for f in os.listdir(os.path.join(ROOT, dirpath)):
            if f.endswith(exts):
                found[dirpath + "/" + f] = read(os.path.join(ROOT, dirpath, f))
    for f in ("CMakeLists.txt", "spec/CMakeLists.txt"):
        found[f] = read(os.path.join(ROOT, f))
    return found


def c_defines(text, name):
    """1 when C text defines function name (a body follows its parameters)."""
    for m in re.finditer(r"(?m)^[A-Za-z_][^;{}()\n]*?\b%s\s*\(" % re.escape(name), text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        rest = text[i:].lstrip()
        if rest.startswith("{"):
            return True
    return False


def lua_defines(text, name):
    n = re.escape(name)
    return re.search(r"(?m)^\s*(?:local\s+)?function\s+(?:[\w.]+[.:])?%s\s*\(" % n, text) or \
        re.search(r"[\w\]]\s*[.\[]\s*\"?%s\"?\]?\s*=\s*function\b|\blocal\s+%s\s*=\s*function\b" % (n, n), text)


class Checker:
    def __init__(self):
        self.src = sources()
        self.words = set()
        for text in self.src.values():
            self.words.update(re.findall(r"\b\w+\b", text))
        self.c_files = {f: t for f, t in self.src.items() if f.startswith("host/src/") and f.endswith(".c")}
        self.lua_files = {f: t for f, t in self.src.items() if f.startswith("lua/crater/")}
        self.missing = []

    def miss(self, where, what):
        self.missing.append("%s: %s" % (where, what))

    def defined(self, fn, file=None):
        """Where fn is defined: in file (host/src or lua/crater relative), or anywhere."""
        if file is not None:
            if file.endswith(".c"):
                text = self.src.get("host/src/" + file)
                return text is not None and c_defines(text, fn)
            text = self.src.get("lua/crater/" + file)
            return text is not None and bool(lua_defines(text, fn))
        return any(c_defines(t, fn) for t in self.c_files.values()) or \
            any(lua_defines(t, fn) for t in self.lua_files.values())

    def check(self, md, strict):
        text = read(md)
        rel = os.path.relpath(md, ROOT)

        def where(pos):
            return "%s:%d" % (rel, text.count("\n", 0, pos) + 1)

        for m in CRATER_ID.finditer(text):
            name = m.group(0).rstrip("_")
            after = text[m.end():m.end() + 1]
            if after == "*" or name in ("crater", ""):
                continue  # a prefix (crater_*), or the word itself
            if name not in self.words:
                self.miss(where(m.start()), "%s is not a name in host/, lua/, spec/c, spec/tools or the CMake files" % name)
        for m in PATH.finditer(text):
            if not os.path.exists(os.path.join(ROOT, m.group(1))):
                self.miss(where(m.start()), "no file %s" % m.group(1))

        # Inline code: outside fences only (a fence's body is code, checked below).
        fences = [(f.start(), f.end()) for f in FENCE.finditer(text)]
        for m in INLINE_CODE.finditer(text):
            if any(a <= m.start() < b for a, b in fences):
                continue
            self.check_span(m.group(1).strip(), where(m.start()), strict)
        if strict:
            for f in FENCE.finditer(text):
                if f.group(1).strip() != "text":
                    continue
                for w in UNDERSCORED.finditer(f.group(2)):
                    self.check_word(w.group(0), where(f.start(2) + w.start()))

    def check_span(self, span, at, strict):
        m = FILE_FN.match(span)
        if m:
            file, fn = m.group(1), m.group(2)
            if not self.defined(fn, file):
                self.miss(at, "%s does not define %s()" % (file, fn))
            return
        if not strict:
            return
        if BARE_FILE.match(span):
            if not any(os.path.exists(os.path.join(d, span)) for d in (SRC, INCLUDE, LUA)):
                self.miss(at, "no file %s in host/src, host/include or lua/crater" % span)
            return
        if "/" in span or re.search(r"\.(py|md|json|txt)$", span):
            return  # a path: checked with the paths
        m = BARE_FN.match(span)
        if m and not self.defined(m.group(1)) and m.group(1) not in self.words:
            self.miss(at, "%s() is defined nowhere in host/src or lua/crater" % m.group(1))
            return
        for w in UNDERSCORED.finditer(span):
            self.check_word(w.group(0), at)

    def check_word(self, word, at):
        if word.strip("_") and word not in self.words:
            self.miss(at, "%s is not a name in host/, lua/, spec/c or spec/tools" % word)


def main(argv):
    strict = "--strict" in argv
    files = [a for a in argv[1:] if a != "--strict"]
    if not files:
        print(__doc__)
        return 2
    c = Checker()
    for md in files:
        c.check(md, strict)
    for line in c.missing:
        print(line)
    if c.missing:
        print("%d name%s in the docs do%s not exist in the tree" %
              (len(c.missing), "" if len(c.missing) == 1 else "s", "es" if len(c.missing) == 1 else ""))
        return 1
    print("doc_names: every name checked in %d file%s exists%s" %
          (len(files), "" if len(files) == 1 else "s", " (strict)" if strict else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
