"""Shared helpers: argument checks, p-values and confidence intervals.

Private to :mod:`cohortsim.analysis`; every public function validates its inputs through
these helpers so that the conventions (``group`` coding, ``alternative`` direction,
``mask`` semantics) are enforced in one place.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Literal, TypeVar

import numpy as np

from cohortsim.analysis.normal import ndtr, normal_quantile
from cohortsim.lazy import special

Alternative = Literal["two-sided", "less", "greater"]

ALTERNATIVES: tuple[str, ...] = ("two-sided", "less", "greater")

F = TypeVar("F", bound=Callable)


def fill_doc(**snippets: str) -> Callable[[F], F]:
    """Decorator putting shared parameter descriptions into ``{name}`` docstring lines.

    Each placeholder sits alone on a line indented by four spaces; the snippet is written
    without indentation and is re-indented to match.
    """

    def decorate(func: F) -> F:
        doc = func.__doc__ or ""
        for name, text in snippets.items():
            body = textwrap.indent(textwrap.dedent(text).strip("\n"), "    ").lstrip()
            doc = doc.replace("{" + name + "}", body)
        func.__doc__ = doc
        return func

    return decorate


def check_alternative(alternative: str) -> str:
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    return alternative


def check_confidence(confidence: float) -> float:
    confidence = float(confidence)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    return confidence


def z_critical(confidence: float) -> float:
    """Two-sided standard-normal critical value for a ``confidence`` interval."""
    return -normal_quantile((1.0 - check_confidence(confidence)) / 2.0)


def pvalue_from_z(z: np.ndarray | float, alternative: str) -> np.ndarray:
    """Normal p-value of a statistic signed as treatment minus control.

    NaN statistics give NaN p-values (scipy's special functions propagate them).
    """
    # Φ from cohortsim.analysis.normal, a NumPy port of the Cephes ndtr that scipy.special
    # (and so scipy.stats.norm) evaluates — the same values to a few ulp (tested) — so that a
    # run needing nothing else from SciPy does not import it (≈ 0.12 s per process).
    z = np.asarray(z, dtype=float)
    if alternative == "two-sided":
        return 2.0 * ndtr(-np.abs(z))
    if alternative == "less":
        return ndtr(z)
    if alternative == "greater":
        return ndtr(-z)
    raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")


def pvalue_from_t(t: np.ndarray | float, df: np.ndarray | float, alternative: str) -> np.ndarray:
    """Student-t p-value of a statistic signed as treatment minus control."""
    t = np.asarray(t, dtype=float)
    if alternative == "two-sided":
        return 2.0 * special.stdtr(df, -np.abs(t))
    if alternative == "less":
        return special.stdtr(df, t)
    if alternative == "greater":
        return special.stdtr(df, -t)
    raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")


def as_1d(x: object, name: str, dtype: type | None = None) -> np.ndarray:
    arr = np.asarray(x) if dtype is None else np.asarray(x, dtype=dtype)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


def as_group(group: object, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Return ``group`` as a boolean array (True = treatment), rejecting codes other than 0/1."""
    g = np.asarray(group)
    if g.dtype != bool:
        if not np.all((g == 0) | (g == 1)):
            raise ValueError("group must contain only 0 (control) and 1 (treatment)")
        g = g.astype(bool)
    if shape is not None:
        g = broadcast(g, shape, "group")
    return g


def as_indicator(x: object, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Return a 0/1 or boolean indicator (event, response) as a boolean array."""
    a = np.asarray(x)
    if a.dtype != bool:
        if not np.all((a == 0) | (a == 1)):
            raise ValueError(f"{name} must contain only 0/1 or booleans")
        a = a.astype(bool)
    if shape is not None:
        a = broadcast(a, shape, name)
    return a


def broadcast(x: np.ndarray, shape: tuple[int, ...], name: str) -> np.ndarray:
    try:
        return np.broadcast_to(x, shape)
    except ValueError:
        raise ValueError(f"{name} with shape {np.shape(x)} does not broadcast to {shape}") from None


def batch_shape(x: object, name: str) -> tuple[np.ndarray, tuple[int, int]]:
    arr = np.asarray(x, dtype=float)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be two-dimensional (replicates, patients), got {arr.shape}")
    return arr, (arr.shape[0], arr.shape[1])


def as_mask(mask: object | None, shape: tuple[int, int]) -> np.ndarray:
    """Boolean inclusion mask broadcast to ``shape``; ``None`` includes everybody."""
    if mask is None:
        return np.ones(shape, dtype=bool)
    m = np.asarray(mask)
    if m.dtype != bool:
        raise TypeError("mask must be a boolean array")
    return broadcast(m, shape, "mask")


def same_length(**arrays: np.ndarray) -> int:
    lengths = {name: a.shape[0] for name, a in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"arrays must have the same length, got {lengths}")
    return next(iter(lengths.values()))


def fmt_p(p: float) -> str:
    if not np.isfinite(p):
        return "p = nan"
    if p < 1e-4:
        return "p < 0.0001"
    return f"p = {p:.4f}"


def freeze(*arrays: np.ndarray) -> None:
    """Make arrays held by a frozen result read-only, so the result is immutable in fact."""
    for a in arrays:
        if isinstance(a, np.ndarray):
            a.flags.writeable = False
