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

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130

WORKER_MODULES = {"power": "cohortsim.power.runner", "simulate": "cohortsim.simulate"}
"""What the spawned workers of each command import: their job functions' modules."""


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
    _prestart_workers(argv)
    # Imported after the workers are on their way: these pull in pyarrow, SciPy and the
    # scenario machinery (a few tenths of a second).
    from cohortsim.executors import discard_prestarted_workers
    from cohortsim.io import OutputError
    from cohortsim.scenario import ScenarioError

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
    finally:
        discard_prestarted_workers()


def _prestart_workers(argv: list[str]) -> None:
    """With ``--workers N`` (N > 1, local) on a command that runs jobs, start the N − 1 spawned
    workers before anything heavy is imported (:func:`cohortsim.executors.prestart_local_workers`).
    Options are read leniently here; the real parser judges them, and a run that ends before
    using the workers stops them."""
    command = next((a for a in argv if not a.startswith("-")), None)
    module = WORKER_MODULES.get(command or "")
    if module is None or {"-h", "--help"} & set(argv):
        return
    options = _Parser(add_help=False)  # raises instead of printing and exiting
    options.add_argument("--workers", type=int, default=1)
    options.add_argument("--executor", default="local")
    try:
        known, _ = options.parse_known_args(argv)
    except (UsageError, argparse.ArgumentError):
        return
    if known.executor == "local" and known.workers > 1:
        from cohortsim.executors import prestart_local_workers

        prestart_local_workers(known.workers, [module])


def entry_point() -> None:
    """Console-script entry point (also ``python -m cohortsim``)."""
    from cohortsim.allocator import keep_freed_memory

    keep_freed_memory()
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (``cohortsim power ... --json | head``): no traceback. Output
        # still buffered is dropped, as the reader wanted no more of it (Python's documented
        # recipe: point stdout at devnull so that the flush at exit cannot fail again).
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 1
    sys.exit(code)
