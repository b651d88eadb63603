"""``python -m cohortsim.scenario``: print or update the generated scenario reference.

python -m cohortsim.scenario                                # print the generated part
python -m cohortsim.scenario --update-docs docs/scenarios.md  # rewrite it in place
"""

from __future__ import annotations

import argparse
import sys

from cohortsim.scenario.docs import render_docs, update_docs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cohortsim.scenario", description=__doc__)
    parser.add_argument(
        "--update-docs",
        metavar="PATH",
        help="rewrite the generated part of PATH (keeping the prose after it)",
    )
    args = parser.parse_args(argv)
    if args.update_docs:
        changed = update_docs(args.update_docs)
        print(f"{args.update_docs}: {'updated' if changed else 'up to date'}")
    else:
        sys.stdout.write(render_docs())
    return 0


if __name__ == "__main__":
    sys.exit(main())
