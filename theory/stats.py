"""The sampled level as a statistic: replicates, mean ± standard error, and verdicts beyond k SE.

A check computed on one sampled data set states each of its verdicts through a signed
*deciding margin* (:class:`Decision`): positive supports one verdict (usually HOLDS), negative
the other (usually FAILS). Over R independent replicates (data, masks and views drawn from
named seed streams, see ``theory.sampler``) each margin becomes an :class:`Estimate`
(mean, standard error, per-replicate values), and a sampled verdict is issued only when the
mean is more than k standard errors from 0. Otherwise the verdict is INCONCLUSIVE, with the
margin, its SE and the number of replicates that would put it k SE from 0 at the measured
spread (SE ∝ 1/sqrt(R)).

A margin that depends on a solution subspace is also subject to *identification*
(:class:`Identification`): the subspace chosen from a sampled X̂ estimates the population one
only where the population eigengap at the cut exceeds twice the sampling deviation
‖X̂ - X‖₂ (Weyl: no eigenvalue moves by more than ‖X̂ - X‖₂, so the ordering across the cut
cannot change; Davis-Kahan then bounds sin Θ by 2‖X̂ - X‖₂ / gap < 1). A population tie at
the cut makes the cell ILL-POSED, as at the exact level; a gap below 2‖X̂ - X‖₂ makes it
INCONCLUSIVE, with both numbers and the |D_i| that would resolve it (‖X̂ - X‖₂ ∝ |D_i|^(-1/2)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .errors import require
from .io import jsonable
from .verdict import LevelResult, Verdict, combine

DEFAULT_REPLICATES = 4
DEFAULT_K = 4.0
IDENTIFICATION_FACTOR = 2.0  # identified when population gap > 2 ‖X̂ - X‖₂ (Weyl)


# --------------------------------------------------------------------------- estimates
@dataclass(frozen=True)
class Estimate:
    """Mean and standard error (sd / sqrt(R), sd with R - 1 degrees of freedom) of R replicates."""

    values: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        v = np.asarray(self.values, dtype=float)
        if np.all(np.isinf(v)) and len(set(np.sign(v))) == 1:
            return float(v[0])
        return float(np.mean(v))

    @property
    def se(self) -> float:
        v = np.asarray(self.values, dtype=float)
        if self.n < 2:
            return math.nan
        if np.all(v == v[0]):  # identical (also identical infinities): no spread
            return 0.0
        if not np.all(np.isfinite(v)):
            return math.inf
        return float(np.std(v, ddof=1) / math.sqrt(self.n))

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "se": self.se, "replicates": list(self.values)}

    def text(self, fmt: str = ".4g") -> str:
        se = self.se
        return f"{self.mean:{fmt}} ± {se:.2g}" if math.isfinite(se) else f"{self.mean:{fmt}} ± {se}"


def estimate(values: Iterable[float]) -> Estimate:
    return Estimate(tuple(float(v) for v in values))


# --------------------------------------------------------------------------- identification
@dataclass(frozen=True)
class Identification:
    """Is the subspace of a sampled cell an estimate of the population one?

    ``status``: "identified", "tie" (the population eigenvalues tie at the cut the sampled
    subspace uses: the population quantity is not defined) or "near-tie" (population gap
    <= ``IDENTIFICATION_FACTOR`` ‖X̂ - X‖₂).
    """

    status: str
    population_gap: float
    deviation: float
    samples_per_client: int
    cell: str = ""
    sampled_rank: int | None = None
    population_rank: int | None = None

    @property
    def samples_needed(self) -> float:
        """|D_i| at which 2‖X̂ - X‖₂ would fall below the gap, at the measured rate |D_i|^(-1/2)."""
        if self.population_gap <= 0:
            return math.inf
        ratio = IDENTIFICATION_FACTOR * self.deviation / self.population_gap
        return float(math.ceil(self.samples_per_client * ratio**2))

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "cell": self.cell, "population_eigengap": self.population_gap,
                "sampling_deviation": self.deviation, "criterion": f"gap > {IDENTIFICATION_FACTOR:g} ‖X̂ - X‖₂",
                "samples_per_client": self.samples_per_client,
                "sampled_rank": self.sampled_rank, "population_rank": self.population_rank,
                "samples_per_client_needed": self.samples_needed if self.status == "near-tie" else None}


def worst_identification(ids: Sequence[Identification | None]) -> Identification | None:
    """The least identified of several cells (tie before near-tie before identified)."""
    rank = {"tie": 2, "near-tie": 1, "identified": 0}
    have = [i for i in ids if i is not None]
    if not have:
        return None
    return max(have, key=lambda i: (rank[i.status], -i.population_gap + i.deviation))


# --------------------------------------------------------------------------- decisions
@dataclass(frozen=True)
class Decision:
    """One deciding margin of a check on one data set.

    ``margin`` > 0 supports ``if_positive``, < 0 ``if_negative``; ``quantity`` / ``value`` name
    and give the measured number the margin is built from (e.g. s_C - s_M), ``group`` the
    coordinate set or part of the claim it belongs to; the claim's verdict combines the
    decisions of ``headline`` groups. ``population`` holds the exact values of a cell the
    population leaves undefined (the interval reported for an ILL-POSED cell).
    """

    name: str
    margin: float
    quantity: str = ""
    value: float | None = None
    if_positive: Verdict = Verdict.HOLDS
    if_negative: Verdict = Verdict.FAILS
    group: str = ""
    headline: bool = True
    identification: Identification | None = None
    population: Mapping[str, Any] = field(default_factory=dict)

    def verdict(self) -> Verdict:
        """The single-data-set verdict of this margin (used at the exact level)."""
        if self.identification is not None and self.identification.status == "tie":
            return Verdict.ILL_POSED
        return self.if_positive if self.margin >= 0 else self.if_negative


def replicates_needed(est: Estimate, k: float) -> float:
    """R at which k SE would fall below |mean| at the measured spread (inf when mean = 0)."""
    m, se = abs(est.mean), est.se
    if not math.isfinite(se) or m == 0 or not math.isfinite(m):
        return math.inf
    return float(max(est.n + 1, math.ceil(est.n * (k * se / m) ** 2)))


def decide(est: Estimate, k: float, if_positive: Verdict, if_negative: Verdict) -> Verdict:
    """``if_positive`` when mean - k SE > 0, ``if_negative`` when mean + k SE < 0, else INCONCLUSIVE.

    A spread of exactly 0 (identical replicates) decides by the sign alone, as one data set does."""
    m, se = est.mean, est.se
    if math.isnan(m) or math.isnan(se):
        return Verdict.INCONCLUSIVE
    if se == 0.0:
        return if_positive if m >= 0 else if_negative
    if m - k * se > 0:
        return if_positive
    if m + k * se < 0:
        return if_negative
    return Verdict.INCONCLUSIVE


@dataclass(frozen=True)
class Settings:
    """Replicates R and the margin k (in standard errors) of the sampled level."""

    replicates: int = DEFAULT_REPLICATES
    k: float = DEFAULT_K

    def __post_init__(self) -> None:
        require(isinstance(self.replicates, int) and 2 <= self.replicates <= 1000, "--replicates",
                "an integer in [2, 1000] (a standard error needs two replicates)", self.replicates)
        require(math.isfinite(self.k) and self.k > 0, "--k", "a finite number > 0", self.k)


# --------------------------------------------------------------------------- aggregation
def _mean_tree(items: Sequence[Any]) -> Any:
    """Every number of the replicates' ``numbers`` as {mean, se, replicates}; other leaves from replicate 0."""
    first = items[0]
    if isinstance(first, Mapping):
        keys = [k for k in first if all(isinstance(it, Mapping) and k in it for it in items)]
        return {k: _mean_tree([it[k] for it in items]) for k in keys}
    if isinstance(first, (list, tuple)) and all(isinstance(it, (list, tuple)) and len(it) == len(first) for it in items):
        if first and all(_is_number(x) for it in items for x in it):
            return estimate_list(items)
        return [_mean_tree([it[j] for it in items]) for j in range(len(first))]
    if _is_number(first) and all(_is_number(it) for it in items):
        if all(it == first for it in items):
            return first
        return estimate([float(it) for it in items]).to_dict()
    return first


def estimate_list(items: Sequence[Sequence[float]]) -> dict[str, Any]:
    arr = np.asarray(items, dtype=float)  # (R, m)
    ests = [estimate(arr[:, j]) for j in range(arr.shape[1])]
    return {"mean": [e.mean for e in ests], "se": [e.se for e in ests], "replicates": arr.tolist()}


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, (bool, np.bool_))


def aggregate(results: Sequence[LevelResult], settings: Settings, headline_groups: Sequence[str] | None = None,
              describe: str = "") -> LevelResult:
    """One sampled LevelResult from the per-replicate results of a check (same decisions in each)."""
    require(len(results) >= 1, "results", "at least one replicate", len(results))
    r0 = results[0]
    numbers = {"replicates": len(results), "k": settings.k,
               "per_replicate": {"verdict": [r.verdict.value for r in results]},
               "mean_over_replicates": _mean_tree([jsonable(dict(r.numbers)) for r in results])}
    decs0 = getattr(r0, "decisions", ())
    if not decs0:
        vs = {r.verdict for r in results}
        v = r0.verdict if len(vs) == 1 else Verdict.INCONCLUSIVE
        summary = (r0.summary if v is Verdict.NA else f"{r0.summary} [replicate 1 of {len(results)}; all {v.value}]"
                   ) if len(vs) == 1 else (
            f"replicates disagree ({', '.join(sorted(x.value for x in vs))}) and this check states no margin")
        return LevelResult(v, summary, numbers)
    names = [d.name for d in decs0]
    require(all([d.name for d in getattr(r, "decisions", ())] == names for r in results), "replicates",
            "the same decisions in every replicate", names)
    rows = []
    for j, name in enumerate(names):
        ds = [r.decisions[j] for r in results]
        est = estimate([d.margin for d in ds])
        value = estimate([d.value for d in ds]) if all(d.value is not None for d in ds) else None
        idents = [d.identification for d in ds]
        worst = worst_identification(idents)
        row: dict[str, Any] = {"name": name, "group": ds[0].group, "quantity": ds[0].quantity,
                               "margin": est.to_dict(), "value": value.to_dict() if value else None,
                               "if_positive": ds[0].if_positive.value, "if_negative": ds[0].if_negative.value}
        if any(i is not None and i.status == "tie" for i in idents):
            v = Verdict.ILL_POSED
            row["why"] = "the population eigenvalues tie at the cut: the quantity is not defined"
            row["population"] = jsonable(dict(ds[0].population))
        else:
            v = decide(est, settings.k, ds[0].if_positive, ds[0].if_negative)
            dev = estimate([i.deviation for i in idents if i is not None]) if worst else None
            if worst is not None and dev is not None and worst.population_gap <= IDENTIFICATION_FACTOR * dev.mean:
                v = Verdict.INCONCLUSIVE
                row["why"] = (f"not identified ({worst.cell}): population gap {worst.population_gap:.3g} <= "
                              f"{IDENTIFICATION_FACTOR:g} ‖X̂ - X‖₂ = {IDENTIFICATION_FACTOR * dev.mean:.3g}")
                if worst.sampled_rank is not None and worst.sampled_rank != worst.population_rank:
                    row["why"] += (f" (sampled rank {worst.sampled_rank}, population rank {worst.population_rank}: "
                                   "the extra directions are noise)")
                row["samples_per_client_needed"] = Identification(
                    "near-tie", worst.population_gap, dev.mean, worst.samples_per_client).samples_needed
            elif v is Verdict.INCONCLUSIVE:
                row["why"] = f"margin within {settings.k:g} SE"
                row["replicates_needed"] = replicates_needed(est, settings.k)
        if worst is not None:
            row["identification"] = worst.to_dict()
            if worst.status != "tie":  # a tie needs no deviation: the population quantity is undefined
                row["identification"]["sampling_deviation"] = estimate(
                    [i.deviation for i in idents if i is not None]).to_dict()
        row["verdict"] = v.value
        row["headline"] = ds[0].headline
        rows.append(row)
    groups: dict[str, list[Verdict]] = {}
    for row in rows:
        groups.setdefault(row["group"], []).append(Verdict(row["verdict"]))
    by_group = {g: combine(vs).value for g, vs in groups.items()}
    head = [Verdict(r["verdict"]) for r in rows if r["headline"]]
    v = combine(head) if head else combine(Verdict(r["verdict"]) for r in rows)
    numbers["decisions"] = rows
    if len(groups) > 1 or "" not in groups:
        numbers["by_group"] = by_group
    return LevelResult(v, summarise(rows, v, settings, describe), numbers)


def _deciding_row(rows: list[dict[str, Any]], v: Verdict) -> dict[str, Any]:
    """The row behind the claim's verdict: the clearest failure, the least clear success, ..."""
    head = [r for r in rows if r["headline"]] or rows
    same = [r for r in head if r["verdict"] == v.value] or head

    def z(r: dict[str, Any]) -> float:
        m, se = r["margin"]["mean"], r["margin"]["se"]
        if isinstance(m, str) or isinstance(se, str):
            return 0.0
        return abs(m) / se if se and math.isfinite(se) and se > 0 else math.inf

    if v in (Verdict.FAILS,):
        return max(same, key=z)
    return min(same, key=z)


def _num(x: Any) -> str:
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(_num(v) for v in x) + "]"
    return f"{x:.4g}" if isinstance(x, (int, float)) and not isinstance(x, bool) else str(x)


def row_text(r: dict[str, Any]) -> str:
    """'name: quantity = mean ± se (margin m ± se)' plus why it is undecided."""
    m = r["margin"]
    val = r.get("value")
    parts = [r["name"] + ":"]
    if val is not None and r["quantity"]:
        parts.append(f"{r['quantity']} = {_num(val['mean'])} ± {val['se']:.2g}")
    parts.append(f"(margin {_num(m['mean'])} ± {m['se']:.2g})" if isinstance(m["se"], float) else f"(margin {_num(m['mean'])})")
    if r["verdict"] == "ILL-POSED":
        pop = r.get("population") or {}
        parts.append("population tie" + (": " + ", ".join(f"{k} {_num(v)}" for k, v in pop.items()) if pop else ""))
    elif "why" in r:
        extra = ""
        if "replicates_needed" in r:
            extra = f"; R ≈ {_num(r['replicates_needed'])} would resolve it"
        if "samples_per_client_needed" in r:
            n = r["samples_per_client_needed"]
            extra = (f"; |D_i| ≈ {_num(n)} would resolve it" if isinstance(n, (int, float)) and math.isfinite(n)
                     else "; no sample size resolves it (population gap 0)")
        parts.append(r["why"] + extra)
    return " ".join(parts)


def summarise(rows: list[dict[str, Any]], v: Verdict, settings: Settings, describe: str = "") -> str:
    r = _deciding_row(rows, v)
    counts: dict[str, int] = {}
    for x in rows:
        counts[x["verdict"]] = counts.get(x["verdict"], 0) + 1
    tally = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    head = f"{describe}; " if describe else ""
    return f"{head}{row_text(r)} [{len(rows)} margins: {tally}]"
