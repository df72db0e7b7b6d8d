#!/usr/bin/env python3
"""Every public method of every storage repository is run by the contract suite (issue 17).

A repository is an `impl XRepo<'_>` block under server/src/storage; its accessor is declared in
storage/mod.rs (`accessor => XRepo;`). A method counts as covered when a contract test calls it
through its accessor (`store.reports().get(`) or through a handle bound to a variable
(`let reports = store.reports(); reports.get(`).
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SUITES = ["tests/tests/storage_contract.rs", "tests/tests/storage_contract_loop.rs"]


def main() -> int:
    mod = (ROOT / "server/src/storage/mod.rs").read_text()
    accessors = dict((repo, acc) for acc, repo in re.findall(r"(\w+) => (\w+Repo);", mod))
    methods = {}
    for path in (ROOT / "server/src/storage").rglob("*.rs"):
        text = path.read_text()
        for block in re.finditer(r"impl (\w+Repo)<'_> \{(.*?)\n\}", text, re.S):
            methods.setdefault(block.group(1), []).extend(
                re.findall(r"pub (?:async )?fn (\w+)", block.group(2))
            )
    suites = "".join((ROOT / s).read_text() for s in SUITES)
    missing = []
    for repo, fns in sorted(methods.items()):
        acc = accessors[repo]
        handles = set(re.findall(r"let (\w+) = store\.%s\(\);" % acc, suites)) | {acc}
        for fn in fns:
            direct = re.search(r"\.%s\(\)\s*\.%s\(" % (acc, fn), suites)
            bound = any(re.search(r"\b%s\s*\.\s*%s\(" % (h, fn), suites) for h in handles)
            if not (direct or bound):
                missing.append(f"{repo}::{fn} ({acc}) has no contract test")
    for m in missing:
        print(m)
    if missing:
        return 1
    count = sum(len(f) for f in methods.values())
    print(f"contract: every one of {count} repository methods is run on every backend")
    return 0


if __name__ == "__main__":
    sys.exit(main())
