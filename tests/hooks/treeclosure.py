#!/usr/bin/env python3
"""A push hook in the manner of Mozilla's hg tree-closure hook: ask treestatus
for the tree, refuse the push while the tree is closed (unless the commit
message says CLOSED TREE), require an approval (a=...) while approval is
required. Usage: treeclosure.py TREESTATUS_URL TREE COMMIT_MESSAGE
Exit 0 allows the push, 1 refuses it."""

import json
import re
import sys
import urllib.request


def main():
    base, tree, message = sys.argv[1], sys.argv[2], sys.argv[3]
    with urllib.request.urlopen(f"{base}/trees/{tree}", timeout=10) as response:
        status = json.load(response)["result"]["status"]
    if status == "closed" and "CLOSED TREE" not in message:
        print(f"{tree} is CLOSED! push refused")
        return 1
    if status == "approval required" and not re.search(r"\ba=\w+", message):
        print(f"{tree} requires approval (a=...)")
        return 1
    print(f"{tree} is {status}: push allowed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
