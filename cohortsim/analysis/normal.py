"""Standard normal CDF and quantile without SciPy.

``import scipy.special`` costs about 0.12-0.15 s per process, which dominates short power
calculations that only need Φ. This module evaluates Φ with NumPy alone and is meant to be
numerically interchangeable with :func:`scipy.special.ndtr`.

Algorithm and source
--------------------
:func:`ndtr` is a vectorised port of the Cephes routine ``ndtr`` (with its ``erf`` and
``erfc``) by Stephen L. Moshier, Cephes Math Library Release 2.2 (1992), as shipped by SciPy
in ``scipy/special/cephes/ndtr.c`` and, in recent SciPy, in the xsf library as
``include/xsf/cephes/ndtr.h`` (https://github.com/scipy/xsf). The rational
coefficients ``P, Q, R, S, T, U`` and the underflow threshold ``MAXLOG`` are copied from
there, and the order of every floating-point operation follows the C code so that the results
agree with SciPy to a few ulp rather than merely to "about 1e-15".

With ``a = x/√2`` and ``z = |a|``:

* ``z < 1``: ``Φ = 0.5 + 0.5*erf(a)``, ``erf(a) = a*T(a²)/U(a²)``. (Old Cephes switches at
  ``z < 1/√2`` and then computes ``0.5*(1 - erf(z))`` for ``1/√2 <= z < 1``; both
  subtractions are exact by Sterbenz's lemma, so the two variants are bitwise identical.)
* ``z >= 1``: ``erfc(z) = exp(-z²)*P(z)/Q(z)`` for ``z < 8``, ``exp(-z²)*R(z)/S(z)``
  otherwise; ``Φ = 0.5*erfc(z)`` for ``x < 0`` and ``1 - 0.5*erfc(z)`` for ``x > 0``.
* ``z² > MAXLOG`` (``|x| > 37.677...``): ``erfc`` underflows to 0, so Φ is exactly 0 or 1.

``exp(-z²)`` is deliberately computed as SciPy does, ``exp(-(z*z))``, *not* with Cephes'
error-compensated ``expx2`` (a split of ``z`` into a multiple of 1/128 plus a remainder),
because SciPy's ``ndtr`` does not use ``expx2`` either. Its far lower tail is therefore only
accurate to roughly ``2·z²`` units of 2**-52 relative (measured against an 80-digit
reference: up to ~1000 for ``x`` in [-37.5, -30], ~240 in [-20, -10]), mostly from
rounding ``x/√2`` and partly from rounding ``z*z``. ``expx2`` alone would remove only the
second part (~1000 -> ~800) while making the results disagree with SciPy by up to ~500 ulp,
which defeats a drop-in replacement.

:func:`normal_quantile` is a scalar, pure-Python (``math`` only) port of the Cephes routine
``ndtri`` (Moshier, Cephes Math Library Release 2.1, 1989) behind
:func:`scipy.special.ndtri`, taken from SciPy's ``scipy/special/cephes/ndtri.c``
(repository scipy/scipy) and its C++ translation ``include/xsf/cephes/ndtri.h`` (repository
scipy/xsf, used by current SciPy), with ``polevl``/``p1evl`` from
``include/xsf/cephes/polevl.h``. The coefficients ``P0, Q0, P1, Q1, P2, Q2`` and ``s2pi``
are copied from there and every operation is done in the C order. Python floats are IEEE
doubles and :func:`math.log`/:func:`math.sqrt` call the C library, so the result is
bit-identical to ``scipy.special.ndtri`` as long as SciPy's build does not contract the
Horner steps into fused multiply-adds (checked with SciPy 1.17.1 on x86-64: equal on all of
2.3 million sampled ``p`` from 5e-324 to 1 - 1.1e-16 and around the branch points):

* ``exp(-2) < y <= 1 - exp(-2)``: with ``w = y - 0.5``,
  ``x = sqrt(2π)*(w + w*(w²*P0(w²)/Q0(w²)))``.
* otherwise, with ``y`` the smaller tail probability, ``t = sqrt(-2 log y)`` and
  ``x = (t - log(t)/t) - (1/t)*P(1/t)/Q(1/t)`` with ``P1/Q1`` for ``t < 8``
  (``y > exp(-32)``) and ``P2/Q2`` beyond, negated for the lower tail.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["ndtr", "normal_quantile"]

# Coefficients from Cephes ndtr.c (Moshier), identical in SciPy's cephes/ndtr.c and
# xsf/cephes/ndtr.h. Highest power first, as for Cephes ``polevl``; for ``p1evl`` the
# leading coefficient 1.0 is implicit.

# erfc(z) = exp(-z²) P(z)/Q(z) for 1 <= z < 8.
_P = (
    2.46196981473530512524e-10,
    5.64189564831068821977e-1,
    7.46321056442269912687e0,
    4.86371970985681366614e1,
    1.96520832956077098242e2,
    5.26445194995477358631e2,
    9.34528527171957607540e2,
    1.02755188689515710272e3,
    5.57535335369399327526e2,
)
_Q = (  # 1.0 implicit
    1.32281951154744992508e1,
    8.67072140885989742329e1,
    3.54937778887819891062e2,
    9.75708501743205489753e2,
    1.82390916687909736289e3,
    2.24633760818710981792e3,
    1.65666309194161350182e3,
    5.57535340817727675546e2,
)

# erfc(z) = exp(-z²) R(z)/S(z) for z >= 8.
_R = (
    5.64189583547755073984e-1,
    1.27536670759978104416e0,
    5.01905042251180477414e0,
    6.16021097993053585195e0,
    7.40974269950448939160e0,
    2.97886665372100240670e0,
)
_S = (  # 1.0 implicit
    2.26052863220117276590e0,
    9.39603524938001434673e0,
    1.20489539808096656605e1,
    1.70814450747565897222e1,
    9.60896809063285878198e0,
    3.36907645100081516050e0,
)

# erf(a) = a T(a²)/U(a²) for |a| < 1.
_T = (
    9.60497373987051638749e0,
    9.00260197203842689217e1,
    2.23200534594684319226e3,
    7.00332514112805075473e3,
    5.55923013010394962768e4,
)
_U = (  # 1.0 implicit
    3.35617141647503099647e1,
    5.21357949780152679795e2,
    4.59432382970980127987e3,
    2.26290000613890934246e4,
    4.92673942608635921086e4,
)

# Cephes MAXLOG = log(DBL_MAX); erfc returns 0 once z² exceeds it (SciPy does the same, so
# Φ(x) is 0 for x < -37.677..., although the true value is a subnormal down to about -38.5).
_MAXLOG = 7.09782712893383996843e2

# M_SQRT1_2 as a double (0x3FE6A09E667F3BCD); x/√2 is computed as x * _SQRT1_2, as in C.
_SQRT1_2 = 0.70710678118654752440

# Coefficients from Cephes ndtri.c (Moshier), identical in SciPy's scipy/special/cephes/ndtri.c
# and xsf's include/xsf/cephes/ndtri.h. Highest power first; 1.0 implicit for the Q's.

# Central region, 0 <= |y - 0.5| <= 3/8 (in fact up to 0.5 - exp(-2)).
_NDTRI_P0 = (
    -5.99633501014107895267e1,
    9.80010754185999661536e1,
    -5.66762857469070293439e1,
    1.39312609387279679503e1,
    -1.23916583867381258016e0,
)
_NDTRI_Q0 = (  # 1.0 implicit
    1.95448858338141759834e0,
    4.67627912898881538453e0,
    8.63602421390890590575e1,
    -2.25462687854119370527e2,
    2.00260212380060660359e2,
    -8.20372256168333339912e1,
    1.59056225126211695515e1,
    -1.18331621121330003142e0,
)

# Tails with t = sqrt(-2 log y) in [2, 8), i.e. exp(-32) < y <= exp(-2).
_NDTRI_P1 = (
    4.05544892305962419923e0,
    3.15251094599893866154e1,
    5.71628192246421288162e1,
    4.40805073893200834700e1,
    1.46849561928858024014e1,
    2.18663306850790267539e0,
    -1.40256079171354495875e-1,
    -3.50424626827848203418e-2,
    -8.57456785154685413611e-4,
)
_NDTRI_Q1 = (  # 1.0 implicit
    1.57799883256466749731e1,
    4.53907635128879210584e1,
    4.13172038254672030440e1,
    1.50425385692907503408e1,
    2.50464946208309415979e0,
    -1.42182922854787788574e-1,
    -3.80806407691578277194e-2,
    -9.33259480895457427372e-4,
)

# Far tails, t = sqrt(-2 log y) >= 8, i.e. y <= exp(-32) (down to the smallest subnormal).
_NDTRI_P2 = (
    3.23774891776946035970e0,
    6.91522889068984211695e0,
    3.93881025292474443415e0,
    1.33303460815807542389e0,
    2.01485389549179081538e-1,
    1.23716634817820021358e-2,
    3.01581553508235416007e-4,
    2.65806974686737550832e-6,
    6.23974539184983293730e-9,
)
_NDTRI_Q2 = (  # 1.0 implicit
    6.02427039364742014255e0,
    3.67983563856160859403e0,
    1.37702099489081330271e0,
    2.16236993594496635890e-1,
    1.34204006088543189037e-2,
    3.28014464682127739104e-4,
    2.89247864745380683936e-6,
    6.79019408009981274425e-9,
)

# sqrt(2*pi) (Cephes s2pi, xsf SQRT2PI; both round to 0x1.40d931ff62706p+1).
_S2PI = 2.50662827463100050242e0

# exp(-2), the switch between the central and the tail approximation.
_EXP_M2 = 0.13533528323661269189

# ndtr works through its input in blocks of this many elements. Its ~20 temporaries then
# stay in cache and below glibc's mmap threshold (128 KiB), instead of being fresh,
# page-faulting allocations of the full size; this makes 1e5 values ~1.7x faster.
_BLOCK = 8192


def _polevl(x: NDArray[np.float64], coef: tuple[float, ...]) -> NDArray[np.float64]:
    """Horner evaluation ``coef[0]*x**n + ... + coef[n]`` (Cephes ``polevl``).

    Same operation order as the C code (no FMA), so rounding matches SciPy.
    """
    acc = np.full_like(x, coef[0])
    for c in coef[1:]:
        acc *= x
        acc += c
    return acc


def _p1evl(x: NDArray[np.float64], coef: tuple[float, ...]) -> NDArray[np.float64]:
    """Horner evaluation with an implicit leading 1 (Cephes ``p1evl``)."""
    acc = x + coef[0]
    for c in coef[1:]:
        acc *= x
        acc += c
    return acc


def _erfc_rational(
    z: NDArray[np.float64],
    zz: NDArray[np.float64],
    num_coef: tuple[float, ...],
    den_coef: tuple[float, ...],
) -> NDArray[np.float64]:
    """``(exp(-zz) * num(z)) / den(z)`` in the operation order of Cephes ``erfc``."""
    # exp(-(z*z)) exactly as in C (``z = -a*a; z = exp(z)``); see the module docstring for
    # why this is not Cephes' compensated ``expx2``.
    y = np.exp(-zz)
    y *= _polevl(z, num_coef)
    y /= _p1evl(z, den_coef)
    return y


def _half_erfc(z: NDArray[np.float64]) -> NDArray[np.float64]:
    """``0.5*erfc(z)`` by Cephes ``erfc`` for 1-D ``z >= 1`` (``inf`` and NaN allowed)."""
    zz = z * z
    # Cephes uses P/Q for 1 <= z < 8 and R/S for z >= 8 (|x| >= 11.3, rare in practice).
    # Index arrays rather than boolean masks: NumPy's boolean gather/scatter is several
    # times slower than integer take/put on irregular masks.
    far = np.flatnonzero(z >= 8.0)
    if far.size == 0:
        y = _erfc_rational(z, zz, _P, _Q)
    else:
        near = np.flatnonzero(z < 8.0)  # NaN is in neither group; y stays NaN below
        y = np.full_like(z, np.nan)
        y[near] = _erfc_rational(z[near], zz[near], _P, _Q)
        y[far] = _erfc_rational(z[far], zz[far], _R, _S)
    y *= 0.5
    # Cephes returns 0 once z*z > MAXLOG (this includes z = inf, where the rational
    # function gives 0*inf = NaN). NaN compares False here and stays NaN.
    dead = np.flatnonzero(zz > _MAXLOG)
    if dead.size:
        y[dead] = 0.0
    return y


def _ndtr_central(a: NDArray[np.float64]) -> NDArray[np.float64]:
    """``0.5 + 0.5*erf(a)`` for 1-D ``|a| < 1``, with ``erf(a) = a*T(a²)/U(a²)``."""
    a2 = a * a
    # Cephes computes erf(-a) as -erf(a); a*T/U is already odd in a, bit for bit.
    erf = a * _polevl(a2, _T)
    erf /= _p1evl(a2, _U)
    erf *= 0.5
    erf += 0.5
    return erf


def _ndtr_tail(a: NDArray[np.float64]) -> NDArray[np.float64]:
    """Φ(√2·a) for 1-D ``|a| >= 1`` (or NaN/inf), via ``erfc(|a|)``."""
    half = _half_erfc(np.abs(a))
    # Lower tail (a < 0): Φ = 0.5*erfc(|a|), relatively accurate down to ~1e-308.
    # Upper tail (a > 0): Φ = 1 - 0.5*erfc(a), rounded once as in Cephes.
    # Branch-free: copysign(h, -a) + (a > 0) is h + 0 or -h + 1, both exactly as in C.
    phi = np.copysign(half, -a)
    phi += a > 0.0
    return phi


def _ndtr_block(a: NDArray[np.float64]) -> NDArray[np.float64]:
    """Φ(√2·a) for a 1-D block ``a = x/√2`` (a fresh array, never the caller's)."""
    central = np.abs(a) < 1.0  # False for NaN, which therefore goes to the tail branch
    if central.all():
        return _ndtr_central(a)
    if not central.any():
        return _ndtr_tail(a)
    inner = np.flatnonzero(central)
    outer = np.flatnonzero(~central)
    out = np.empty_like(a)
    out[inner] = _ndtr_central(a[inner])
    out[outer] = _ndtr_tail(a[outer])
    return out


def ndtr(x: ArrayLike) -> NDArray[np.float64]:
    """Standard normal cumulative distribution function Φ(x).

    A NumPy-only port of Cephes ``ndtr`` as used by :func:`scipy.special.ndtr`; it agrees
    with SciPy to within 4 ulp (relative) over ``[-37.5, 8.3]`` and exactly at ±inf and NaN.

    Parameters
    ----------
    x : array_like
        Points at which to evaluate Φ; converted to float64.

    Returns
    -------
    ndarray of float64
        Φ(x), same shape as ``x`` (a 0-d array for scalar input). ``NaN`` maps to ``NaN``,
        ``-inf`` to 0 and ``+inf`` to 1. As in SciPy, Φ(x) is exactly 0 for
        ``x < -37.677...`` (Cephes ``MAXLOG`` cut-off) and rounds to 1 for ``x > 8.3``.

    Notes
    -----
    The arithmetic is SciPy's, operation for operation; the only source of difference is
    NumPy's vectorised ``exp`` (which can differ from the C library's by 1 ulp), amplified
    by the later multiply/divide to at most 4 ulp. About 97% of results are bitwise equal.

    Accuracy is relative, including the far lower tail (Φ(-37.5) ≈ 4.6e-308), because the
    lower tail is computed from ``erfc`` rather than as ``1 - Φ(-x)``; the upper tail
    ``1 - 0.5*erfc`` is accurate in absolute terms, like SciPy's. See the module docstring
    for SciPy's own error against the true Φ in the far tail.

    Examples
    --------
    >>> float(ndtr(1.959963984540054))
    0.975
    >>> ndtr([-np.inf, 0.0, np.inf]).tolist()
    [0.0, 0.5, 1.0]
    """
    xa = np.asarray(x, dtype=np.float64)
    flat = xa.reshape(-1)
    out = np.empty(flat.shape, dtype=np.float64)
    # Overflow (z*z for |x| > 1e154), underflow (exp(-z*z) for |x| > 37.6) and 0*inf
    # (|x| = inf) happen only in values that are then replaced by the exact limits 0 or 1;
    # don't warn, nor raise under a global np.seterr.
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        for start in range(0, flat.size, _BLOCK):
            block = flat[start : start + _BLOCK]
            out[start : start + _BLOCK] = _ndtr_block(block * _SQRT1_2)
    return out.reshape(xa.shape)


def _polevl_scalar(x: float, coef: tuple[float, ...]) -> float:
    """Cephes ``polevl``: Horner ``coef[0]*x**n + ... + coef[n]``, C operation order."""
    ans = coef[0]
    for c in coef[1:]:
        ans = ans * x + c
    return ans


def _p1evl_scalar(x: float, coef: tuple[float, ...]) -> float:
    """Cephes ``p1evl``: as :func:`_polevl_scalar` with an implicit leading 1.0."""
    ans = x + coef[0]
    for c in coef[1:]:
        ans = ans * x + c
    return ans


def normal_quantile(p: float) -> float:
    """Standard normal quantile Φ⁻¹(p) for a scalar probability.

    A pure-Python port of Cephes ``ndtri`` as used by :func:`scipy.special.ndtri` (see the
    module docstring for the source); it returns the same double as SciPy, bit for bit.

    Parameters
    ----------
    p : float
        Probability, ``0 < p < 1``. Anything :func:`float` accepts, e.g. a NumPy scalar.

    Returns
    -------
    float
        ``x`` with Φ(x) = p.

    Raises
    ------
    ValueError
        If ``p`` is not in the open interval (0, 1), including NaN. (SciPy would return
        ``∓inf`` at 0 and 1 and NaN elsewhere.)

    Notes
    -----
    Cephes states a peak relative error of 7.2e-16 for 0.125 <= p < 1 and 4.6e-16 for
    3e-308 <= p <= 0.135. Results for the common levels are correctly rounded, e.g.
    ``normal_quantile(0.95) == 1.6448536269514722``. Because the upper tail is computed
    from ``1 - p``, ``normal_quantile(1 - q)`` has the absolute resolution of doubles near
    1 (about 1.1e-16 in ``p``), as in SciPy; pass the lower tail where possible.

    Examples
    --------
    >>> normal_quantile(0.975)
    1.959963984540054
    >>> normal_quantile(0.5)
    0.0
    """
    y = float(p)
    if not 0.0 < y < 1.0:  # also rejects NaN
        raise ValueError(f"normal_quantile requires 0 < p < 1, got p={p!r}")
    lower = True  # Cephes ``code = 1``: result is negated
    if y > 1.0 - _EXP_M2:
        y = 1.0 - y
        lower = False
    if y > _EXP_M2:
        y = y - 0.5
        y2 = y * y
        x = y + y * (y2 * _polevl_scalar(y2, _NDTRI_P0) / _p1evl_scalar(y2, _NDTRI_Q0))
        return x * _S2PI
    x = math.sqrt(-2.0 * math.log(y))
    x0 = x - math.log(x) / x
    z = 1.0 / x
    if x < 8.0:  # y > exp(-32)
        x1 = z * _polevl_scalar(z, _NDTRI_P1) / _p1evl_scalar(z, _NDTRI_Q1)
    else:
        x1 = z * _polevl_scalar(z, _NDTRI_P2) / _p1evl_scalar(z, _NDTRI_Q2)
    x = x0 - x1
    return -x if lower else x
