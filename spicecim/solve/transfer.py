"""The column sweep of a tile of linear cells (:func:`transfer_matrix`), the readout's DC
termination the solvers share (:func:`termination_ohm`), and the ADC range the accuracy pass
calibrates (:func:`calibrated_range_a`), raised to the front end's noise floor
(:func:`adc_range_a`); :mod:`spicecim.solve` describes the method."""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from scipy.linalg import blas, lapack
from threadpoolctl import ThreadpoolController

from spicecim.devices.ranging import floored_range_a
from spicecim.errors import check
from spicecim.netlist.spec import CrossbarSpec, sized_readout
from spicecim.store.files import atomic_write


def termination_ohm(spec: CrossbarSpec, g_s: np.ndarray) -> float:
    """The DC resistance from each column's end to ground, sized for ``g_s``: the passive sense
    resistor; the TIA's input resistance ``(r_f + r_out) / (1 + a0)`` (the amplifier's source
    is ``-a0`` times the column end behind its output resistance ``r_out``, in series with the
    feedback resistor, so the two carry ``(1 + a0)`` times the column end's voltage; at DC the
    sampling capacitor draws nothing); the integrator's 0 (its virtual ground, taken as
    ideal)."""
    sized = sized_readout(spec, g_s)
    if sized.r_sense_ohm is not None:
        return sized.r_sense_ohm
    if sized.r_f_ohm is not None:
        amp = sized.readout.opamp
        return (sized.r_f_ohm + amp.output_resistance_ohm) / (1.0 + amp.a0)
    return 0.0


def calibration_drive(u: np.ndarray, phases: int, v_full_v: float) -> np.ndarray:
    """The row voltages of a calibration batch ``u`` (batch, inputs; the layer's inputs over
    its DAC scale): clipped to the DAC's [0, 1], both phases stacked for a layer read in two
    (positive parts, then magnitudes of the negative parts)."""
    u = np.asarray(u, float)
    parts = [np.clip(u, 0.0, 1.0)] + ([np.clip(-u, 0.0, 1.0)] if phases == 2 else [])
    return np.concatenate(parts) * v_full_v


def with_calibrated_range(spec: CrossbarSpec, g_s: np.ndarray, drive_v: np.ndarray,
                          used_cols: int) -> CrossbarSpec:
    """``spec`` with its readout's ADC range (``i_range_a``) the one the accuracy pass
    uses on this tile (:func:`adc_range_a`; unchanged where no current flows)."""
    rows = np.zeros((len(drive_v), spec.rows))
    rows[:, :np.shape(drive_v)[1]] = drive_v
    i_range = adc_range_a(spec, g_s, calibrated_range_a(spec, g_s, rows, used_cols))
    if i_range <= 0:
        return spec
    return dataclasses.replace(spec, readout=dataclasses.replace(spec.readout,
                                                                 i_range_a=i_range))


def adc_range_a(spec: CrossbarSpec, g_s: np.ndarray, i_calibrated_a: float) -> float:
    """The ADC range of a tile of conductances ``g_s`` whose workload calibrates to
    ``i_calibrated_a``: that range, raised to the noise floor of the front end sized for the
    tile where it could not settle at it within its window
    (:func:`spicecim.devices.ranging.floored_range_a`). The accuracy pass and the netlist take
    this one range."""
    d = spec.driver
    return floored_range_a(spec.readout, i_calibrated_a, sized_readout(spec, g_s).i_fs_a,
                           d.v_full_v, d.rise_s, spec.rows * spec.wire.c_col_f)


def calibrated_range_a(spec: CrossbarSpec, g_s: np.ndarray, drive_v: np.ndarray,
                       used_cols: int) -> float:
    """The ADC range the accuracy pass calibrates on a tile (:mod:`spicecim.analog.accuracy`,
    step 6): the largest noiseless current of its first ``used_cols`` columns over the
    calibration batch's row voltages ``drive_v`` (batch, rows), the cells linear at their
    conductance and the IR drop of the tile's wires, driver and readout included."""
    check(1 <= used_cols <= spec.cols, "used_cols", used_cols, f"an integer in [1, {spec.cols}]")
    linear = dataclasses.replace(spec, cell=dataclasses.replace(spec.cell, kind="linear",
                                                                 access=None))
    currents = np.atleast_2d(np.asarray(drive_v, float)) @ transfer_matrix(linear, g_s)
    return float(currents[:, :used_cols].max(initial=0.0))


def _factor_tridiagonal(diag: np.ndarray, off: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """LAPACK's LDL^T of a symmetric tridiagonal matrix (``info`` > 0: not positive definite)."""
    # scipy's wrapper wants a one-element off-diagonal even for a 1 x 1 matrix
    return lapack.dpttrf(diag, off if diag.size > 1 else np.zeros(1))


@functools.cache
def _blas_pools() -> ThreadpoolController:
    # Finding the loaded BLAS libraries walks every shared object of the process (milliseconds,
    # more with JAX loaded); done once, the limit itself is two calls into OpenBLAS. The
    # libraries are those numpy and scipy loaded on import, before any solve runs.
    return ThreadpoolController().select(user_api="blas")


def _one_blas_thread():  # noqa: ANN202 - a context manager
    pools = _blas_pools()
    if all(lib.num_threads == 1 for lib in pools.lib_controllers):
        return contextlib.nullcontext()  # checking takes 2 us, setting and resetting 30 us
    return pools.limit(limits=1)


# --- many inputs: the column sweep ---------------------------------------------------------


# Columns whose admittances are formed at once: their blocks (k * rows * rows doubles) stay in
# cache (half a MiB), and one LAPACK call serves them all rather than one per column.
_BLOCK_ENTRIES = 1 << 16


def _column_admittances(spec: CrossbarSpec, d: np.ndarray, r_term: float
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Columns seen from their cells' row nodes ``u``, for ``d`` (k, rows) the cells'
    conductances of k columns and ``r_term`` their ends' resistance: column ``j`` draws
    ``Y_j u`` (``Y_j`` rows ``j * rows`` to ``(j + 1) * rows`` of the first array) and its
    readout current is ``t_j . u`` (row ``j`` of the second)."""
    k, n = d.shape
    r_col = spec.wire.r_col_ohm
    flat = np.arange(k * n)
    diagonal = (flat, flat % n)  # Y_j's diagonal in the stacked (k * rows, rows) array
    if r_col == 0 and r_term == 0:
        y = np.zeros((k * n, n), order="F")
        y[diagonal] = d.ravel()
        return y, d.copy()
    if r_col == 0:
        g_s = 1.0 / r_term
        total = (d.sum(axis=1) + g_s)[:, None]
        y = np.asfortranarray(-(d[:, :, None] * d[:, None, :] / total[:, :, None])
                              .reshape(k * n, n))
        y[diagonal] += d.ravel()
        return y, g_s * d / total
    g_seg = 1.0 / r_col
    g_end = 1.0 / (r_col + r_term)
    diag = d + g_seg * (np.arange(n) > 0)  # the segment above, for all but the top cell
    diag[:, :-1] += g_seg
    diag[:, -1] += g_end
    # Each column's tridiagonal system, side by side in one with no coupling between them.
    off = np.full((k, n), -g_seg)
    off[:, -1] = 0.0
    df, ef, _ = _factor_tridiagonal(diag.ravel(), off.ravel()[:-1])
    x = np.zeros((k * n, n), order="F")
    x[diagonal] = d.ravel()
    x = lapack.dpttrs(df, ef, x, overwrite_b=1)[0]  # column-node response to each row node
    t = g_end * x[n - 1::n]
    x *= -d.reshape(k * n, 1)
    x[diagonal] += d.ravel()  # Y = diag(d) - diag(d) x
    return x, t


def transfer_matrix(spec: CrossbarSpec, g_s: np.ndarray) -> np.ndarray:
    """The (rows, cols) matrix ``M`` of a tile of linear cells: column currents = ``v_in @ M``.

    Exact to rounding for every wire, driver and readout setting; O(cols * rows^3) time,
    O(rows * (rows + cols)) memory. Inside :func:`transfer_cache`, read from (and kept in)
    its folder by content: the same tile and conductances give the same bytes.
    """
    g = _conductances(spec, g_s)
    r_term = termination_ohm(spec, g)
    folder = _CACHE.get()
    path = None if folder is None else folder / f"{_content_key(spec, g, r_term)}.npy"
    if path is not None and path.is_file():
        try:
            kept = np.load(path, allow_pickle=False)
            if kept.shape == g.shape and kept.dtype == np.float64:
                return kept
        except (OSError, ValueError):  # a damaged file: computed again and replaced
            pass
    # One BLAS thread: on rows x rows matrices (and on the Krylov solver's vectors) OpenBLAS
    # threads gain little, and on a busy machine they stall for far longer than the work
    # (measured on a loaded 2-core machine: 100x slower).
    with _one_blas_thread():
        matrix = _sweep(spec, g, r_term)
    if path is not None:
        atomic_write(path, lambda tmp: _save(tmp, matrix), sync_dir=False)
    return matrix


# --- kept by content -----------------------------------------------------------------------

_CACHE: contextvars.ContextVar[Path | None] = contextvars.ContextVar("transfer_cache",
                                                                     default=None)


@contextlib.contextmanager
def transfer_cache(folder: Path | None) -> Iterator[None]:
    """Within the block, :func:`transfer_matrix` keeps each matrix under ``folder`` (one
    ``.npy`` per tile and conductances; a 128x128 tile's is 128 KiB) and reads it back instead
    of computing it again (None: nothing kept). A content key, not a memo: a matrix computed
    once is found by any later run whose tile has the same conductances and the same wire,
    driver and termination resistances."""
    token = _CACHE.set(None if folder is None else Path(folder))
    try:
        yield
    finally:
        _CACHE.reset(token)


def _content_key(spec: CrossbarSpec, g: np.ndarray, r_term: float) -> str:
    """What :func:`_sweep` reads, hashed: the conductances' bytes and the four resistances,
    and this module's source text (an edit of the sweep never reads a matrix kept before)."""
    digest = hashlib.sha256(_own_source())
    digest.update(np.array([spec.wire.r_row_ohm, spec.wire.r_col_ohm, spec.driver.r_out_ohm,
                            r_term], dtype="<f8").tobytes())
    digest.update(np.array(g.shape, dtype="<i8").tobytes())
    digest.update(np.ascontiguousarray(g, dtype="<f8").tobytes())
    return digest.hexdigest()[:32]


@functools.cache
def _own_source() -> bytes:
    return Path(__file__).read_bytes()


def _save(path: Path, matrix: np.ndarray) -> None:
    with open(path, "wb") as fh:
        np.save(fh, matrix, allow_pickle=False)


def _sweep(spec: CrossbarSpec, g: np.ndarray, r_term: float) -> np.ndarray:
    rows, cols = g.shape
    r_row = spec.wire.r_row_ohm
    eye = np.eye(rows)
    # state[:, :rows] is the admittance seen into the row wires right of the sweep; column
    # rows + m is the readout current of column cols - 1 - m per volt on those row nodes.
    state = np.zeros((rows, rows + cols), order="F")
    block = max(1, _BLOCK_ENTRIES // (rows * rows))
    m = 0
    for stop in range(cols, 0, -block):
        start = max(0, stop - block)
        y_cols, ts = _column_admittances(spec, np.ascontiguousarray(g[:, start:stop].T),
                                         r_term)
        for i in range(stop - start - 1, -1, -1):  # from the last column to the first
            y_col = y_cols[i * rows:(i + 1) * rows]
            if m > 0 and r_row > 0:
                # One segment further the node voltages are (1 + r Y)^-1 u; this matrix is
                # symmetric and well conditioned (eigenvalues in [1, 1 + r max Y]), so an
                # explicit inverse is accurate and turns the update into one matrix product.
                factor, _ = lapack.dpotrf(eye + r_row * state[:, :rows], lower=1)
                inverse, _ = lapack.dpotri(factor, lower=1)
                shift = np.zeros((rows, rows + m), order="F")
                shift[:, :rows] = y_col
                state[:, : rows + m] = blas.dsymm(1.0, inverse, state[:, : rows + m],
                                                  beta=1.0, c=shift, lower=1, overwrite_c=1)
            else:
                state[:, :rows] += y_col
            state[:, rows + m] = ts[i]
            m += 1
    factor, _ = lapack.dpotrf(eye + (spec.driver.r_out_ohm + r_row) * state[:, :rows], lower=1)
    return lapack.dpotrs(factor, state[:, rows:], lower=1)[0][:, ::-1]


def _conductances(spec: CrossbarSpec, g_s: np.ndarray) -> np.ndarray:
    g = np.asarray(g_s, dtype=float)
    shape = (spec.rows, spec.cols)
    check(g.shape == shape, "conductances.shape", g.shape, f"{shape} (rows, cols)")
    check(bool(np.isfinite(g).all()), "conductances", "non-finite", "finite values")
    check(bool((g > 0).all()), "conductances", float(g.min()), "values > 0 S")
    return g
