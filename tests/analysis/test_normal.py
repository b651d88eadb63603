"""NumPy-only normal CDF and quantile: reference SciPy special.ndtr (Cephes ndtr.c).

``cohortsim.analysis.normal.ndtr`` is a port of the Cephes routine behind
``scipy.special.ndtr``, so it is compared with SciPy in ulp (units in the last place of the
SciPy value), not with a loose relative tolerance. ``normal_quantile`` is a port of Cephes
``ndtri`` and must equal SciPy special.ndtri (Cephes ndtri.c) exactly, bit for bit. SciPy
is only a test-time dependency here.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.special as sc

from cohortsim.analysis.normal import ndtr, normal_quantile

MODULE_FILE = Path(__file__).resolve().parents[2] / "cohortsim" / "analysis" / "normal.py"

# Far lower tail: SciPy returns 0 below -37.677... and rounds to 1 above 8.3.
LOW, HIGH = -37.5, 8.3
MAX_ULP = 4


def ulp_distance(actual: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """|actual - reference| in units of the spacing of ``reference`` (0 where equal)."""
    actual, reference = np.broadcast_arrays(actual, reference)
    dist = np.abs(actual - reference) / np.spacing(np.abs(reference))
    return np.where(actual == reference, 0.0, dist)


def special_points() -> np.ndarray:
    """Zeros, branch boundaries (|x/√2| = 1/√2 in old Cephes, 1 in xsf; z = 8), integers."""
    edges = [0.0, 1.0, math.sqrt(2.0), 8.0 * math.sqrt(2.0), 1e-300, 5e-324, 1e-8]
    points = [0.0, -0.0]
    for e in edges:
        for v in (e, -e):
            points += [v, np.nextafter(v, -np.inf), np.nextafter(v, np.inf)]
    points += list(np.arange(-37.0, 9.0))
    points += [LOW, HIGH, -37.6]
    return np.array(points, dtype=np.float64)


def test_matches_scipy_ndtr_within_4_ulp():
    rng = np.random.default_rng(20240611)
    x = np.concatenate(
        [
            rng.uniform(LOW, HIGH, 2_000_000),
            np.linspace(LOW, HIGH, 1_000_001),
            rng.standard_normal(500_000) * 3.0,
            special_points(),
        ]
    )
    x = x[(x >= LOW) & (x <= HIGH)]
    ref = sc.ndtr(x)
    assert np.all(ref > 0.0)  # relative comparison is meaningful everywhere on the range
    dist = ulp_distance(ndtr(x), ref)
    worst = int(np.argmax(dist))
    assert dist[worst] <= MAX_ULP, f"{dist[worst]} ulp at x={x[worst]!r}"


def test_far_lower_tail_is_relatively_accurate():
    """The lower tail comes from erfc, not 1 - Φ(-x): tiny values keep full precision."""
    x = np.array([-10.0, -20.0, -30.0, -37.0, -37.5])
    dist = ulp_distance(ndtr(x), sc.ndtr(x))
    assert np.all(dist <= MAX_ULP), dist
    assert ndtr(-37.5) < 1e-307


def test_special_values_equal_scipy_exactly():
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, -37.7, -38.0, -40.0, -1e308, 40.0, 1e308])
    out = ndtr(x)
    np.testing.assert_array_equal(out, sc.ndtr(x))  # NaN positions must match too
    assert np.isnan(out[0])
    assert out[1] == 1.0
    assert out[2] == 0.0
    assert out[3] == out[4] == 0.5


def test_non_finite_and_extreme_inputs_raise_no_floating_point_errors():
    x = np.array([np.nan, np.inf, -np.inf, -1e308, 1e308, -37.6, -38.0, 1e200])
    with np.errstate(all="raise"):
        ndtr(x)


def test_symmetry_within_2_ulp():
    x = np.linspace(-5.0, 5.0, 400_001)
    total = ndtr(x) + ndtr(-x)
    assert np.max(np.abs(total - 1.0)) <= 2 * np.spacing(1.0)


def test_monotone_on_fine_grid():
    x = np.linspace(-38.0, 9.0, 2_000_001)
    assert np.all(np.diff(ndtr(x)) >= 0.0)


@pytest.mark.parametrize("shape", [(), (0,), (1,), (7,), (3, 4), (2, 3, 5)])
def test_shape_and_dtype_preserved(shape):
    rng = np.random.default_rng(7)
    x = rng.normal(0.0, 4.0, shape)
    out = ndtr(x)
    assert isinstance(out, np.ndarray)
    assert out.shape == shape
    assert out.dtype == np.float64
    np.testing.assert_array_equal(ulp_distance(out, sc.ndtr(x)) <= MAX_ULP, True)


def test_accepts_scalars_lists_and_other_dtypes_without_modifying_input():
    assert ndtr(0).shape == ()
    assert float(ndtr(0)) == 0.5
    assert ndtr([[-1.0, 0.0], [1.0, 2.0]]).shape == (2, 2)
    x32 = np.array([-3.0, 0.5, 2.0], dtype=np.float32)
    assert ndtr(x32).dtype == np.float64
    x = np.array([-40.0, -3.0, 0.5, 12.0, np.nan])
    before = x.copy()
    ndtr(x)
    np.testing.assert_array_equal(x, before)


def test_module_does_not_import_scipy():
    """Loads normal.py by file path: cohortsim.analysis/__init__ may import scipy itself."""
    code = (
        "import importlib.util, sys\n"
        "spec = importlib.util.spec_from_file_location('normal_under_test', sys.argv[1])\n"
        "mod = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(mod)\n"
        "mod.ndtr([-40.0, -1.0, 0.0, 1.0, 12.0]); mod.normal_quantile(0.975)\n"
        "print(sorted(m for m in sys.modules if m == 'scipy' or m.startswith('scipy.')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(MODULE_FILE)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert result.stdout.strip() == "[]", result.stdout


# --- normal_quantile: reference SciPy special.ndtri (Cephes ndtri.c), exact equality -------

EXP_M2 = math.exp(-2.0)  # central/tail switch of Cephes ndtri
EXP_M32 = math.exp(-32.0)  # P1/Q1 vs P2/Q2 switch (sqrt(-2 log y) = 8)

QUANTILE_LEVELS = [
    0.5,
    0.8,
    0.9,
    0.95,
    0.975,
    0.99,
    0.995,
    0.999,
    0.025,
    0.05,
    0.1,
    0.01,
    0.005,
    0.001,
    1e-5,
    1 - 1e-5,
    1e-10,
    1 - 1e-10,
    1e-100,
    1e-300,
    5e-324,  # smallest subnormal
    float(np.nextafter(1.0, 0.0)),
]


def branch_points() -> list[float]:
    """A few doubles either side of exp(-2), 1 - exp(-2), exp(-32) and 0.5."""
    points = []
    for edge in (EXP_M2, 1.0 - EXP_M2, EXP_M32, 0.5):
        v = np.float64(edge)
        for _ in range(4):
            v = np.nextafter(v, 0.0)
        for _ in range(9):
            points.append(float(v))
            v = np.nextafter(v, 1.0)
    return points


def assert_bitwise_equal_to_ndtri(p: np.ndarray) -> None:
    ours = np.array([normal_quantile(v) for v in p.tolist()])
    ref = sc.ndtri(p)
    differ = np.flatnonzero(ours != ref)
    if differ.size:
        ulps = ulp_distance(ours[differ], ref[differ])
        worst = differ[np.argmax(ulps)]
        raise AssertionError(
            f"{differ.size} of {p.size} differ from ndtri, max {ulps.max()} ulp "
            f"at p={p[worst]!r}: {ours[worst]!r} vs {ref[worst]!r}"
        )


@pytest.mark.parametrize("p", QUANTILE_LEVELS)
def test_normal_quantile_equals_ndtri_exactly_at_common_levels(p):
    ours = normal_quantile(p)
    assert type(ours) is float
    assert ours == sc.ndtri(p)


def test_normal_quantile_known_values():
    # ndtri is correctly rounded here; statistics.NormalDist gives 1.6448536269514715.
    assert normal_quantile(0.95) == 1.6448536269514722
    assert normal_quantile(0.975) == 1.959963984540054
    assert normal_quantile(0.5) == 0.0


def test_normal_quantile_equals_ndtri_exactly_on_uniform_sample():
    p = np.random.default_rng(20240612).random(100_000)
    p = p[p > 0.0]
    assert_bitwise_equal_to_ndtri(p)


def test_normal_quantile_equals_ndtri_exactly_on_log_uniform_tail_sample():
    """p in [1e-300, 0.5] log-uniformly, so both tail branches (P1/Q1, P2/Q2) are hit."""
    rng = np.random.default_rng(20240613)
    p = 10.0 ** rng.uniform(-300.0, math.log10(0.5), 100_000)
    assert np.count_nonzero(p < EXP_M32) > 50_000
    assert np.count_nonzero((p >= EXP_M32) & (p <= EXP_M2)) > 1_000
    # Lower tail as sampled, and the upper tail through 1 - p (rounded near 1).
    assert_bitwise_equal_to_ndtri(np.concatenate([p, 1.0 - p[p > 1e-16]]))


def test_normal_quantile_equals_ndtri_exactly_at_branch_points():
    assert_bitwise_equal_to_ndtri(np.array(branch_points()))


@pytest.mark.parametrize(
    "p", [np.float64(0.975), np.float64(1e-20), np.array(0.05), np.array([0.9])[0]]
)
def test_normal_quantile_accepts_numpy_scalars(p):
    ours = normal_quantile(p)
    assert type(ours) is float
    assert ours == sc.ndtri(float(p))


def test_normal_quantile_is_exactly_antisymmetric_when_1_minus_p_is_exact():
    # Dyadic p, so that 1 - p is exact; covers the central branch and both tail branches.
    for p in [2.0**-53, 2.0**-40, 2.0**-20, 0.0625, 0.125, 0.25, 0.375, 0.4375, 0.5]:
        assert normal_quantile(p) == -normal_quantile(1.0 - p)
        assert normal_quantile(p) == sc.ndtri(p)


def test_normal_quantile_inverts_ndtr():
    for p in [1e-10, 0.01, 0.025, 0.2, 0.5, 0.8, 0.975, 0.99]:
        assert ndtr(normal_quantile(p)) == pytest.approx(p, rel=1e-14)


@pytest.mark.parametrize(
    "p", [0.0, 1.0, -0.0, -0.5, 1.5, math.nan, math.inf, -math.inf, np.float64(np.nan)]
)
def test_normal_quantile_rejects_probabilities_outside_open_interval(p):
    with pytest.raises(ValueError, match="0 < p < 1"):
        normal_quantile(p)
