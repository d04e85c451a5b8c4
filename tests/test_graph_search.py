"""--graph-search: every connected graph on N nodes (theory.graphs.all_connected_graphs) and the
claims over many graphs (Thm 4.6, Cor 4.5, Eqs. 29-30) taken over them, named in the report."""

from __future__ import annotations

import functools
import itertools
import json
import math

import independent_cl2  # tests/independent_cl2.py (tests/ is on sys.path under pytest)
import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theory import graphs
from theory.analysis import Analysis
from theory.claims import aggregation, cor45, thm46
from theory.errors import ParameterError
from theory.model import paper_config
from theory.verdict import Verdict
from theory.verify import build_parser, main, make_context

D_SMALL = 64  # N = 6 given explicitly (the paper's N at d = 64 is 5)


def _brute_force_classes(n: int) -> list[nx.Graph]:
    """Connected graphs on n labelled nodes, from every edge subset, one per isomorphism class."""
    reps: list[nx.Graph] = []
    pairs = list(itertools.combinations(range(n), 2))
    for mask in range(1 << len(pairs)):
        g = nx.Graph()
        g.add_nodes_from(range(n))
        g.add_edges_from(p for k, p in enumerate(pairs) if mask >> k & 1)
        if nx.is_connected(g) and not any(nx.is_isomorphic(g, r) for r in reps):
            reps.append(g)
    return reps


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_atlas_lists_each_connected_graph_once_checked_by_brute_force(n):
    tops = graphs.all_connected_graphs(n)
    reps = _brute_force_classes(n)
    assert len(tops) == len(reps) == [1, 2, 6, 21][n - 2]
    gs = [t.to_networkx() for t in tops]
    assert all(t.n == n for t in tops)
    # every class found by brute force is in the atlas list, and no two listed graphs are isomorphic
    assert all(sum(nx.is_isomorphic(r, g) for g in gs) == 1 for r in reps)


def test_atlas_counts_and_names_up_to_seven_nodes():
    counts = [len(graphs.all_connected_graphs(n)) for n in range(2, 7)]
    assert counts == [1, 2, 6, 21, 112]  # OEIS A001349
    tops = graphs.all_connected_graphs(6)
    assert len({t.name for t in tops}) == 112 and all(t.name.startswith("atlas:") for t in tops)
    # pairwise non-isomorphic (the cheap invariant first)
    gs = [t.to_networkx() for t in tops]
    key = [tuple(sorted(d for _, d in g.degree())) for g in gs]
    for a, b in itertools.combinations(range(len(gs)), 2):
        assert key[a] != key[b] or not nx.is_isomorphic(gs[a], gs[b])
    # a name is a spec: parse_graph("atlas:I") gives the same labelled graph back
    t = tops[57]
    assert graphs.parse_graph(t.name, 6) == t


def test_labelled_graphs_are_every_relabelling_of_the_atlas_graphs():
    # Σ over isomorphism classes of n!/|Aut(G)| counts the labelled graphs (1, 4, 38, 728)
    for n in (2, 3, 4, 5):
        orbit = sum(math.factorial(n) // sum(1 for _ in nx.vf2pp_all_isomorphisms(g, g))
                    for g in (t.to_networkx() for t in graphs.all_connected_graphs(n)))
        labelled = graphs.all_labelled_connected_graphs(n)
        assert len(labelled) == orbit == [1, 4, 38, 728][n - 2]
        assert len({t.adjacency.tobytes() for t in labelled}) == len(labelled)


def test_graph_counts_refuse_what_the_atlas_does_not_list():
    with pytest.raises(ParameterError, match=r"^N: .*\[2, 7\]"):
        graphs.all_connected_graphs(8)
    with pytest.raises(ParameterError, match=r"^N: .*\[2, 6\]"):
        graphs.all_labelled_connected_graphs(7)
    with pytest.raises(ParameterError, match="atlas graph on N = 6"):
        graphs.parse_graph("atlas:5", 6)  # a graph on 3 nodes
    with pytest.raises(ParameterError, match="connected"):
        graphs.parse_graph("atlas:9", 4)  # an atlas graph on 4 nodes with an isolated node
    with pytest.raises(ParameterError, match="graph_search"):
        Analysis(paper_config(64, n_clients=8), graphs.complete(8), graph_search="exhaustive")


def test_exhaustive_refused_beyond_seven_clients_naming_both_flags(capsys):
    assert main(["--d", "64", "--N", "8", "--graph-search", "exhaustive", "--no-sampled"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("error: --graph-search:") and "--N" in err and "[2, 7]" in err
    # the same N with the default search runs (the refusal is about the search, not N)
    assert make_context(build_parser().parse_args(["--d", "64", "--N", "8", "--no-sampled"])).analysis.cfg.n_clients == 8


def _ctx(search: str):
    return make_context(build_parser().parse_args(
        ["--d", str(D_SMALL), "--N", "6", "--no-sampled", "--limit-d-max", str(D_SMALL), "--graph-search", search]))


@functools.cache
def _thm46(search: str):
    return thm46.thm46_level(_ctx(search), "exact")


def test_thm46_exhaustive_counterexamples_match_an_independent_eigh():
    # Every atlas graph on 6 nodes, CL2 over [N] at d = 64: the graphs where s_Dec < s_Fed, as the
    # claim reports them, against s from a dense eigh written in tests/independent_cl2.py
    res = _thm46("exhaustive")
    assert res.verdict is Verdict.FAILS
    rows = res.numbers["cells"]["CL2/[N]"]["graphs"]
    atlas = rows[1:]  # the run's own graph first
    assert sorted(r["graph"] for r in atlas) == sorted(t.name for t in graphs.all_connected_graphs(6))
    xs = independent_cl2.cl2_client_x(D_SMALL, 6)
    s_fed, gap = independent_cl2.sensitivity(xs, np.full(6, 1 / 6), 12, range(6))
    assert gap > 1e-8
    independent_fails = set()
    for r in atlas:
        s_dec, gap = independent_cl2.sensitivity(xs, independent_cl2.decl_weights(
            nx.to_numpy_array(nx.Graph([tuple(e) for e in r["edges"]]), nodelist=range(6))), 12, range(6))
        assert gap > 1e-8
        assert r["s_Dec"]["s"] == pytest.approx(s_dec, abs=1e-8)
        if s_dec < s_fed - 1e-6:
            independent_fails.add(r["graph"])
        # no graph within rounding of the boundary at this d, except the regular ones, where DecL is FL
        assert abs(s_dec - s_fed) > 1e-6 or (graphs.parse_graph(r["graph"], 6).is_regular and r["verdict"] == "HOLDS")
    reported = {r["graph"] for r in atlas if r["verdict"] == "FAILS"}
    assert reported == independent_fails and len(reported) == 14
    ce = res.numbers["counterexamples"]["[N]"]
    assert ce["graph"] == "atlas:99" and ce["edges"] == [[0, 2], [1, 3], [2, 4], [2, 5], [3, 4], [3, 5]]
    assert ce["margin"] == pytest.approx(min(r["margin"] for r in atlas + rows[:1]), abs=0)


def test_report_names_the_graph_set_in_both_modes():
    fam = _thm46("family")
    ex = _thm46("exhaustive")
    n_family = len([t for ts in _ctx("family").analysis.graph_family.values() for t in ts])
    assert (f"over the {n_family} graphs of the drawn family (seeded; --graph-search exhaustive covers all 112 "
            "connected graphs on 6 nodes)") in fam.summary
    assert fam.numbers["graph_set"]["search"] == "family" and fam.numbers["graph_set"]["count"] == n_family
    assert "over all 112 connected graphs on 6 nodes" in ex.summary and "drawn family" not in ex.summary
    assert ex.numbers["graph_set"] == {**ex.numbers["graph_set"], "search": "exhaustive", "count": 112}
    assert "atlas:99 (edges 0-2,1-3,2-4,2-5,3-4,3-5)" in ex.summary or "atlas:" in ex.summary
    for mod, fn in ((cor45, cor45.cor45_level), (aggregation, aggregation.eq29_level)):
        r = fn(_ctx("exhaustive"), "exact")
        assert "over all 112 connected graphs on 6 nodes" in r.summary
        assert r.numbers["graph_set"]["count"] == 112


def test_cor45_exhaustive_names_the_rising_pair():
    r = cor45.cor45_level(_ctx("exhaustive"), "exact")
    irregular = r.numbers["cells"]["irregular/CL2/[c]"]
    assert len(irregular["series"]) == 112 - 5  # C6, K33, the prism, the octahedron, K6 are regular
    assert irregular["verdict"] == "FAILS" and "from atlas:" in irregular["why"] and "to atlas:" in irregular["why"]


def test_verify_json_and_text_say_which_graphs(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["--d", "32", "--N", "4", "--replicates", "2", "--limit-d-max", "32", "--claims", "thm4.6",
                 "--graph-search", "exhaustive", "--json", str(out), "--width", "200", "--jobs", "1"]) == 0
    text = capsys.readouterr().out
    assert "over all 6 connected graphs on 4 nodes" in text and "graph search: exhaustive" in text
    report = json.loads(out.read_text())
    assert report["params"]["graph_search"] == "exhaustive"
    levels = next(c for c in report["claims"] if c["id"] == "thm4.6")["levels"]
    for lvl in ("exact", "sampled"):  # the sampled level ranges over the same graphs and says so
        assert levels[lvl]["graph_set"]["search"] == "exhaustive"
        assert all(g.startswith("atlas:") for g in levels[lvl]["graph_set"]["graphs"])
        assert "over all 6 connected graphs on 4 nodes" in levels[lvl]["summary"]
    assert sum(r["name"].startswith("CL2/[N]/atlas:") for r in levels["sampled"]["decisions"]) == 6


def test_explain_names_the_atlas_counterexample_and_reproduces_it_on_its_own(capsys):
    assert main(["--d", str(D_SMALL), "--N", "6", "--no-sampled", "--limit-d-max", str(D_SMALL),
                 "--graph-search", "exhaustive", "--explain", "thm4.6", "--width", "300"]) == 0
    text = capsys.readouterr().out
    line = next(ln for ln in text.splitlines() if "exact level, [N]:" in ln)
    assert "graph atlas:99" in line
    cmd = next(ln for ln in text.splitlines() if "reproduce:" in ln and "0-2,1-3,2-4,2-5,3-4,3-5" in ln)
    # the counterexample is the run's own graph in the command, so no graph search is needed to see it
    assert "--edges 0-2,1-3,2-4,2-5,3-4,3-5" in cmd and "--graph-search" not in cmd



@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([2.5, 3.0, 3.0 + 1e-12, 3.5, 4.0]), st.floats(0, 1)), min_size=1, max_size=12))
def test_largest_rise_is_the_pairwise_maximum(points):
    # the one-pass rise of Cor 4.5 (needed for 853 graphs at N = 7) against every pair, ties in |Ā|
    # (within 1e-9) not counting as "grows"
    pts = sorted(({"mean_connectivity": a, "s": v} for a, v in points), key=lambda r: r["mean_connectivity"])
    pairwise = max([0.0] + [b["s"] - a["s"] for a in pts for b in pts
                            if a["mean_connectivity"] < b["mean_connectivity"] - 1e-9])
    rise, a, b = cor45._largest_rise(pts, lambda r: r["s"])
    assert rise == pairwise
    if rise > 0:
        assert b["s"] - a["s"] == rise and a["mean_connectivity"] < b["mean_connectivity"] - 1e-9


def test_cor45_population_of_many_graphs_is_an_envelope():
    # a tied sampled margin over 107 graphs reports the envelope of the exact s, not 107 intervals
    an = _ctx("exhaustive").analysis
    tops = an.graph_family["irregular"]
    pop = cor45._population(an, "CL1", "[c]", tops)
    ivs = [[s.low, s.high] for s in (an.sensitivity("exact", "CL1", "decl", "[c]", topology=t) for t in tops)]
    assert pop == {"s_envelope": [min(i[0] for i in ivs), max(i[1] for i in ivs)], "graphs": 107}
    few = cor45._population(an, "CL1", "[c]", tops[:cor45.MAX_LISTED])
    assert few == {"s": ivs[:cor45.MAX_LISTED]}
