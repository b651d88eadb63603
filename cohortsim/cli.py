"""The ``cohortsim`` command line: a thin layer that parses options and returns exit codes.

Exit status: 0 success; 1 the job ran but its check failed (e.g. ``validate`` found a target
outside its interval); 2 bad input (scenario, option, output directory), with one message on
stderr and nothing written; 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from cohortsim import __version__
from cohortsim.commands import COMMANDS, load_command
from cohortsim.errors import UsageError
from cohortsim.io import OutputError
from cohortsim.scenario import ScenarioError

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad option raises instead of exiting, so ``main`` keeps control."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The command-line parser. Only the command named in ``argv`` gets its full set of
    options (its module is imported); the others are listed with their one-line help, which is
    all ``cohortsim --help`` shows. Without ``argv`` every command is built in full."""
    parser = _Parser(
        prog="cohortsim",
        description="Plan randomised clinical trials by simulating them.",
    )
    parser.add_argument("--version", action="version", version=f"cohortsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    named = None if argv is None else next((a for a in argv if not a.startswith("-")), "")
    for name, help_text in COMMANDS.items():
        if named is not None and name != named:
            sub.add_parser(name, help=help_text)
            continue
        command = load_command(name)
        command_parser = sub.add_parser(
            name,
            help=help_text,
            description=command.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.add_arguments(command_parser)
        command_parser.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_help(sys.stderr)
            return EXIT_BAD_INPUT
        return int(args.run(args))
    except (UsageError, ScenarioError, OutputError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(
            "interrupted: completed shards are kept; rerun the same command to resume",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED


def entry_point() -> None:
    """Console-script entry point (also ``python -m cohortsim``)."""
    from cohortsim.allocator import keep_freed_memory

    keep_freed_memory()
    sys.exit(main())
