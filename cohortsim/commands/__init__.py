"""One module per command; each has HELP, add_arguments(parser) and run(args) -> int."""

from types import ModuleType

from cohortsim.commands import calibrate, power, simulate, validate

COMMANDS: dict[str, ModuleType] = {
    "simulate": simulate,
    "power": power,
    "calibrate": calibrate,
    "validate": validate,
}
