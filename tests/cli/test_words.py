"""Help texts agree with the code: every option a help names exists, and the programming-
variation model a help cites is the one the code draws, in the code's own words."""

from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from spicecim.cli import cli
from spicecim.netlist.weights import DEFAULT_VARIATION_MODEL, VARIATION_SOURCES

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
