"""Help texts agree with the code: every option a help names exists, and the programming-
variation model a help cites is the one the code draws, in the code's own words."""

from __future__ import annotations

import dataclasses
import re

import click
import pytest
from click.testing import CliRunner

from spicecim.cli import cli
from spicecim.netlist import spec as specs
from spicecim.netlist.weights import DEFAULT_VARIATION_MODEL, VARIATION_SOURCES
from spicecim.units import PARAM, Param

COMMANDS = [["generate"], ["simulate"], ["solve"], ["evaluate"], ["nerf"], ["plot"], ["tables"],
            ["acam", "simulate"], ["acam", "transfer"], ["acam", "function"]]


def _command(path: list[str]) -> click.Command:
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        found = command.get_command(click.Context(command), name)
        assert found is not None
        command = found
    return command


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_a_help_names_only_options_its_command_has(path: list[str]) -> None:
    # unwrapped: click would break "--dask-local" at its hyphen
    text = CliRunner().invoke(cli, [*path, "--help"], terminal_width=10_000,
                              max_content_width=10_000).stdout
    own = {"--help"} | {opt for p in _command(path).params
                        for opt in (*p.opts, *p.secondary_opts)}
    # an option of another command is named with it ("spicecim simulate --model", "simulate
    # --scene"): only the options a help names on their own must be its command's
    text = re.sub(r"\b(?:spicecim )?(?:generate|simulate|solve|evaluate|nerf|plot|tables)"
                  r"(?: --[a-z][a-z-]*)+", "", text.replace("\n", " "))
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", text))
    assert named - own == set()


@pytest.mark.parametrize("option", ["--mc", "--variation"])
def test_simulate_cites_the_variation_model_it_draws(option: str) -> None:
    param = next(p for p in _command(["simulate"]).params if option in p.opts)
    assert isinstance(param, click.Option) and param.help
    assert VARIATION_SOURCES[DEFAULT_VARIATION_MODEL] in param.help
    others = [s for m, s in VARIATION_SOURCES.items() if m != DEFAULT_VARIATION_MODEL]
    assert not any(s.split(",")[0] in param.help for s in others)


def test_each_tile_option_is_its_spec_fields_own_words_and_range() -> None:
    """The tile options are generated from the specification's fields (spicecim.units.Param):
    the help is the field's, its unit and source; the range checked is the field's accepted
    one; and no option is listed twice."""
    params = {p.opts[0]: p for p in _command(["generate"]).params}
    described = _described(specs.default_spec())
    assert described and len(params) == len(_command(["generate"]).params)
    for param in described:
        option = params[param.option.split("/")[0]]
        assert isinstance(option, click.Option) and option.help == param.text()
        if param.source:
            assert param.source in option.help
        if param.accepted is not None:
            assert isinstance(option.type, click.IntRange | click.FloatRange)
            assert (option.type.min, option.type.max) == param.accepted


def _described(obj: object) -> list[Param]:
    found = []
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        if PARAM in f.metadata:
            found.append(f.metadata[PARAM])
        elif dataclasses.is_dataclass(value):
            found += _described(value)
    return found
