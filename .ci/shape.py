#!/usr/bin/env python3
"""The codebase's shape rules (issue 17), checked in CI.

- No file under server/src other than migrations is over 600 lines.
- No function in the production code of server/ or dispatcher/ is over 80 lines.
- No import circle among the modules of server/src/storage, and nothing there imports a service or the API.

Production code excludes `#[cfg(test)]` items and files under tests/ or benches/.
Functions are found by brace matching on code with strings, chars and comments blanked out.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
MAX_FILE = 600
MAX_FN = 80


def blank(src: str) -> str:
    """Replaces the contents of comments, strings and char literals by spaces, keeping newlines."""
    out = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif src.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
        elif c == "r" and re.match(r'r#*"', src[i:]) and not (i and (src[i - 1].isalnum() or src[i - 1] == "_")):
            m = re.match(r'r(#*)"', src[i:])
            end = '"' + m.group(1)
            j = src.find(end, i + len(m.group(0)))
            j = n if j < 0 else j + len(end)
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            j += 1
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
        elif c == "'":
            m = re.match(r"'(\\.[^']*|[^\\'])'", src[i:])
            if m:
                out.append(" " * len(m.group(0)))
                i += len(m.group(0))
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def matching(code: str, open_at: int) -> int:
    depth = 0
    for j in range(open_at, len(code)):
        if code[j] == "{":
            depth += 1
        elif code[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return len(code) - 1


def test_ranges(code: str):
    """Character ranges of items under #[cfg(test)]."""
    for m in re.finditer(r"#\[cfg\(test\)\]", code):
        brace = code.find("{", m.end())
        semi = code.find(";", m.end())
        if brace < 0 or (0 <= semi < brace):
            continue
        yield m.start(), matching(code, brace)


def long_functions(path: pathlib.Path):
    code = blank(path.read_text())
    skip = list(test_ranges(code))
    for m in re.finditer(r"\bfn\s+([A-Za-z_][A-Za-z0-9_]*)", code):
        if any(a <= m.start() <= b for a, b in skip):
            continue
        j = m.end()
        depth = 0
        # The body's brace is the first `{` at paren/angle depth 0 before a `;` (a declaration).
        while j < len(code):
            ch = code[j]
            if ch in "(<[":
                depth += 1
            elif ch in ")>]":
                depth -= 1 if not (ch == ">" and code[j - 1] == "-") else 0
            elif ch == ";" and depth <= 0:
                j = -1
                break
            elif ch == "{" and depth <= 0:
                break
            j += 1
        if j < 0 or j >= len(code):
            continue
        end = matching(code, j)
        first = code.count("\n", 0, m.start()) + 1
        last = code.count("\n", 0, end) + 1
        if last - first + 1 > MAX_FN:
            yield m.group(1), first, last - first + 1


def production_files(crate: str):
    for path in sorted((ROOT / crate).rglob("*.rs")):
        rel = path.relative_to(ROOT)
        parts = rel.parts
        if "tests" in parts or "benches" in parts or "target" in parts:
            continue
        if path.name.endswith("_tests.rs") or path.name == "tests.rs":
            continue
        yield path, rel


def storage_problems():
    """Import circles among storage's modules, and imports of anything above storage but the model."""
    base = ROOT / "server/src/storage"
    mods = {p.stem for p in base.glob("*.rs") if p.name != "mod.rs"} | {
        p.name for p in base.iterdir() if p.is_dir()
    }
    graph = {m: set() for m in mods}
    for m in mods:
        files = [base / f"{m}.rs"] if (base / f"{m}.rs").exists() else list((base / m).rglob("*.rs"))
        for f in files:
            text = f.read_text()
            for up in re.findall(r"\buse crate::(\w+)", text):
                if up not in ("storage", "model"):
                    yield f"{f.relative_to(ROOT)}: storage imports crate::{up}"
            nested = f.parent != base
            prefix = r"super::super::" if nested and f.name != "mod.rs" else r"super::"
            for other in mods - {m}:
                if re.search(r"(crate::storage::|\b%s)%s\b" % (prefix, other), text):
                    graph[m].add(other)

    def reaches(a, b, seen):
        return a == b or any(n not in seen and not seen.add(n) and reaches(n, b, seen) for n in graph[a])

    for a in sorted(mods):
        for b in sorted(graph[a]):
            if reaches(b, a, set()):
                yield f"server/src/storage: {a} and {b} import each other"


def main() -> int:
    problems = list(storage_problems())
    for path, rel in production_files("server/src"):
        if "migration" in rel.parts:
            continue
        lines = path.read_text().count("\n")
        if lines > MAX_FILE:
            problems.append(f"{rel}: {lines} lines (at most {MAX_FILE})")
    for crate in ("server", "dispatcher"):
        for path, rel in production_files(crate):
            for name, line, length in long_functions(path):
                problems.append(f"{rel}:{line}: fn {name} is {length} lines (at most {MAX_FN})")
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} shape problem(s)", file=sys.stderr)
        return 1
    print("shape: files and functions within bounds, storage without import circles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
