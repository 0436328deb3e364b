"""A user's MLP as a runnable analog model: called on inputs, costed, scored.

:func:`analog_model` maps an :class:`~spicecim.models.mlp.Mlp` onto the tile of a run file
(``spicecim simulate``: a generic tile's tables, or the model's own co-simulation), programs
its tiles under a :class:`~spicecim.analog.accuracy.Nonideality` (the tile's own bits and the
default variation, read noise and IR drop unless given) and returns an :class:`AnalogModel`:

- ``analog(x)``: the outputs of the forward pass on the crossbars
  (:mod:`spicecim.analog.forward`), the read noise drawn afresh from the seed on every call, so
  a call repeats;
- ``analog.cost(workload)``: latency and energy per sample, ray and frame under every schedule,
  from the run's tables (:func:`spicecim.cost.schedule.model_cost`);
- ``analog.accuracy(x, labels=..., targets=...)``: the analog outputs against the ideal float64
  pass (relative RMS error per output), top-1 accuracy against ``labels`` for a classifier and
  the relative RMS error against ``targets`` when given.

The input scales and ADC ranges are calibrated on ``calibration`` (default: 256 representative
inputs of the model, :func:`spicecim.models.presets.sample_inputs`), a split apart from the
inputs it is scored on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spicecim.analog import accuracy as acc
from spicecim.analog import scoring
from spicecim.cost import schedule as sched
from spicecim.cost.mapping import ModelMapping, TileGeometry, map_model
from spicecim.errors import ResultFileError, check
from spicecim.models.mlp import Mlp, batch_size
from spicecim.models.presets import sample_inputs
from spicecim.store.hdf5 import open_run

Inputs = Mapping[str, np.ndarray] | np.ndarray
"""A batch of inputs: by input name, or one array for a model with one input."""

CALIBRATION_POINTS = 256
_WORKLOAD = sched.Workload()
_ADDER = sched.DigitalAdder()


@dataclass(frozen=True, slots=True)
class Score:
    """:meth:`AnalogModel.accuracy`: the analog pass against the ideal one (``result``), and
    per output the relative RMS error against the user's ``targets`` (analog, and the ideal
    float pass for comparison) where they were given."""

    result: scoring.AccuracyResult
    target_rel_rms: tuple[tuple[str, float, float], ...] = ()  # (output, analog, ideal)

    @property
    def top1(self) -> float:
        """Fraction of samples the analog pass classifies as labelled (NaN without labels)."""
        return self.result.label_accuracy

    def rel_rms(self, output: str | None = None) -> float:
        """Relative RMS error of an output (the first by default) against the ideal pass."""
        return self.result.output(output or self.result.outputs[0].name).rel_rms


@dataclass(frozen=True, slots=True, eq=False)
class AnalogModel:
    """An MLP programmed onto the tiles of a run (module docstring)."""

    mlp: Mlp
    run: Path
    table: sched.TileTable
    mapping: ModelMapping
    nonideality: acc.Nonideality
    layers: Mapping[str, acc.ProgrammedLayer] = field(repr=False)
    calibration_points: int

    def inputs(self, x: Inputs) -> dict[str, np.ndarray]:
        """``x`` by input name (one array: the model's only input)."""
        if isinstance(x, Mapping):
            return {name: np.asarray(v) for name, v in x.items()}
        names = [name for name, _ in self.mlp.inputs]
        check(len(names) == 1, "inputs", "one array", f"a mapping by input name {names}")
        return {names[0]: np.asarray(x)}

    def __call__(self, x: Inputs) -> dict[str, np.ndarray]:
        """The model's outputs by name, every layer read off its tiles."""
        hook = acc.analog_matmul(self.layers, self.table.spec, self.table.weights,
                                 self.nonideality)
        return self.mlp.forward(self.inputs(x), hook)

    def cost(self, workload: sched.Workload = _WORKLOAD, adder: sched.DigitalAdder = _ADDER
             ) -> sched.ModelCost:
        """Latency and energy per sample (and ray and frame of ``workload``) under every
        schedule, from the run's tables: the model's own co-simulation where the run is one,
        else the generic tile's."""
        with open_run(self.run) as run:
            if run.model is None:
                return sched.model_cost(self.mapping, self.table, workload,
                                        self.table.adc_share, adder)
            from spicecim.cost import cosim

            cosim.check_model(run, self.mlp)
            layers = cosim.layer_costs(run, self.mapping, adder)
        return sched.model_cost(self.mapping, None, workload, self.table.adc_share, adder,
                                layers=layers, source=self.table.source)

    def accuracy(self, x: Inputs, labels: np.ndarray | None = None,
                 targets: Mapping[str, np.ndarray] | np.ndarray | None = None) -> Score:
        """The analog pass on ``x`` against the ideal one; with ``labels`` (one class per
        sample), top-1 of the logits output; with ``targets`` (by output name, or one array
        for the first output), the relative RMS error against them."""
        points = self.inputs(x)
        result = scoring.compare(self.mlp, self.layers, self.table.spec, self.table.weights,
                             self.nonideality, points, self.calibration_points, labels)
        if targets is None:
            return Score(result)
        wanted = (dict(targets) if isinstance(targets, Mapping)
                  else {self.mlp.outputs[0]: np.asarray(targets)})
        analog, ideal = self(points), self.mlp.forward(points)
        return Score(result, tuple((name, _rel_rms(analog[name], t), _rel_rms(ideal[name], t))
                                   for name, t in wanted.items()))


def _rel_rms(got: np.ndarray, want: np.ndarray) -> float:
    want = np.asarray(want, float).reshape(got.shape)
    scale = math.sqrt(float(np.mean(want**2)))
    return math.sqrt(float(np.mean((got - want) ** 2))) / scale if scale > 0 else math.nan


def analog_model(mlp: Mlp, run: Path | str, nonideality: acc.Nonideality | None = None, *,
                 calibration: Inputs | None = None, seed: int = 0) -> AnalogModel:
    """``mlp`` on the tile of the run file ``run``, programmed under ``nonideality`` (default:
    the tile's own bits, the default variation, read noise and IR drop, ``seed``), its input
    scales and ADC ranges calibrated on ``calibration`` (default: representative inputs)."""
    with open_run(run) as r:
        cosimulation = r.model is not None
    tables = [sched.cosim_tile_table(run)] if cosimulation else sched.read_tables(run)
    if not tables:
        raise ResultFileError(f"{run} holds no tile of the configuration its /config "
                              "describes: expected a run file of 'spicecim simulate'")
    table = tables[0]
    spec, weights = table.spec, table.weights
    settings = nonideality or acc.Nonideality.of(spec, weights, seed=seed)
    mapping = map_model(mlp, TileGeometry(spec.rows, spec.cols, weights.scheme))
    model = AnalogModel(mlp, Path(run), table, mapping, settings, {}, 0)
    cal = (sample_inputs(mlp, CALIBRATION_POINTS, np.random.default_rng([settings.seed, 3]))
           if calibration is None else model.inputs(calibration))
    layers = acc.program(mlp, mapping, spec, weights, settings, cal)
    return AnalogModel(mlp, Path(run), table, mapping, settings, layers, batch_size(cal))
