"""The search latency of ``spicecim acam simulate`` against a closed form from an independent
DC deck: the row's pull-down current with the match line held by a source.

The ML starts at vpre and its only pull-up, the precharge PMOS, is off once its gate edge has
risen (t = rise_s) and only slows the discharge before that. The row's pull-down current I(v) is
non-decreasing in the ML voltage v, so the time from the start of the search (t = 0) to the
sense threshold lies between C (vpre - vsense) / I(vpre) and rise_s + C (vpre - vsense) /
I(vsense). Short rows used to print negative latencies, measured from the edge's 50 % point.
"""

from __future__ import annotations

import numpy as np
import pytest

from spicecim.acam import search
from spicecim.acam.netlist import AcamArray, acam_cell
from spicecim.sim.ngspice import NgspiceSession

CELL = acam_cell()


def row_current_a(session: NgspiceSession, g_lo_s: np.ndarray, g_hi_s: np.ndarray,
                  dl_v: np.ndarray) -> tuple[float, float]:
    """The current the row's pull-downs draw from its ML held at vsense and at vpre (a deck
    written here from the cell's subcircuit and cards, not by the netlist writer)."""
    c = CELL
    lines = ["* one ACAM row, ML held by Vml", c.models_text(), f"Vdd vdd 0 DC {c.vdd_v}",
             f"Vsl sl 0 DC {c.vsl_v}", f"Vml ml 0 DC {c.vpre_v}"]
    for j, (g_lo, g_hi, dl) in enumerate(zip(g_lo_s, g_hi_s, dl_v, strict=True)):
        lines += [f"Vdl{j} dl{j} 0 DC {float(dl)!r}", f"Rlo{j} sl lo{j} {1 / float(g_lo)!r}",
                  f"Rhi{j} sl hi{j} {1 / float(g_hi)!r}",
                  f"Xc{j} dl{j} ml ml lo{j} hi{j} vdd {c.name}"]
    step = (c.vpre_v - c.vsense_v) / 10
    lines += [f".dc Vml {c.vsense_v} {c.vpre_v + step / 2} {step}", ".end"]
    vec = session.run("\n".join(lines) + "\n")
    i_a = -vec["vml#branch"]  # the source's current flows into its + terminal, the ML
    return float(i_a[0]), float(i_a[-1])


@pytest.mark.ngspice
@pytest.mark.parametrize("cells", [1, 16])
def test_search_latency_lies_within_its_closed_form(cells: int) -> None:
    session = NgspiceSession()
    report = search.simulate_search(AcamArray(1, cells, CELL), session=session)
    data, c = report.result.data, CELL
    charge_c = report.array.c_ml_f * (c.vpre_v - c.vsense_v)
    for k, case in enumerate(search.SEARCH_CASES[1:], start=1):
        i_sense_a, i_pre_a = row_current_a(session, data.g_lo_s[0], data.g_hi_s[0], data.dl_v[k])
        fastest_s, slowest_s = charge_c / i_pre_a, c.rise_s + charge_c / i_sense_a
        latency_s = float(report.t_cross_s[k])
        print(f"\n{cells} cells, {case}: latency {latency_s * 1e12:.2f} ps in "
              f"[{fastest_s * 1e12:.2f}, {slowest_s * 1e12:.2f}] ps")
        assert fastest_s <= latency_s <= slowest_s
    assert report.ok
