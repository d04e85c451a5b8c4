"""The plumbing written once (theory.provenance, theory.io.jsonable, theory.graphs.parse_graph,
theory.seeds, theory.verdict.combine): one format each, and the old spellings still accepted."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from theory import graphs, provenance

GIT = shutil.which("git")


def _git(cwd, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True,
                   capture_output=True)


@pytest.mark.skipif(GIT is None, reason="git is not installed")
def test_git_revision_format_clean_dirty_and_outside_a_checkout(tmp_path):
    """Catches: a shorter or longer hash than HASH_DIGITS, the dirty flag dropped or raised by an
    untracked file, and a traceback (instead of "unknown") outside a checkout."""
    outside = tmp_path / "plain"
    outside.mkdir()
    assert provenance.git_revision(outside) == provenance.UNKNOWN
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "a.txt").write_text("one\n")
    _git(repo, "add", "a.txt")
    _git(repo, "commit", "-q", "-m", "first")
    clean = provenance.git_revision(repo)
    assert re.fullmatch(r"[0-9a-f]{%d}" % provenance.HASH_DIGITS, clean), clean
    (repo / "untracked.txt").write_text("x\n")
    assert provenance.git_revision(repo) == clean
    (repo / "a.txt").write_text("two\n")
    assert provenance.git_revision(repo) == clean + "-dirty"


def test_provenance_header_holds_revision_config_and_command():
    class Cfg:
        def to_dict(self):
            return {"d": 8, "x": float("nan")}

    head = provenance.provenance(Cfg(), command="python -m x")
    assert set(head) == {"git_revision", "config", "command"}
    assert head["config"] == {"d": 8, "x": None}
    assert set(provenance.provenance()) == {"git_revision"}


def test_level_result_json_has_the_one_nan_convention():
    """Catches: the verifier's report writing "nan"/"inf" strings again (a second convention), or
    a verdict enum left as an object."""
    import json
    import math

    import numpy as np

    from theory.verdict import LevelResult, Verdict

    lr = LevelResult(Verdict.HOLDS, "s", {"a": np.float64("nan"), "b": math.inf, "c": [-math.inf, 1.5],
                                          "v": Verdict.FAILS})
    doc = lr.to_dict()
    assert doc == {"verdict": "HOLDS", "summary": "s", "a": None, "b": None, "c": [None, 1.5], "v": "FAILS"}
    json.dumps(doc, allow_nan=False)


def test_combine_is_one_rule_and_the_empty_set_is_na():
    """Catches: an empty set read as ILL-POSED or HOLDS, a package with its own rule, and a rule
    for which combining parts differs from combining the whole."""
    import itertools

    from theory.verdict import Verdict, combine

    assert combine([]) is Verdict.NA
    assert combine(["HOLDS", "ILL-POSED"]) is Verdict.ILL_POSED
    assert combine([Verdict.HOLDS, "INCONCLUSIVE"]) is Verdict.INCONCLUSIVE
    every = list(Verdict)
    for a, b in itertools.product(every, repeat=2):
        for part in ([], [a], [a, b]):
            assert combine([combine(part), combine([b])]) is combine([*part, b])
    with pytest.raises(ValueError):
        combine(["PASSES"])
    pytest.importorskip("jax")
    import linear_models.checks as lc

    assert lc.combine is combine  # the linear checks use the one rule, not a copy


@pytest.mark.parametrize("family, abar, direct", [
    ("complete", 4.0, lambda n, s: graphs.complete(n)),
    ("ring", 4.0, lambda n, s: graphs.ring(n)),
    ("path", 4.0, lambda n, s: graphs.path(n)),
    ("star", 4.0, lambda n, s: graphs.star(n)),
    ("regular", 5.0, lambda n, s: graphs.regular(n, 4, seed=s)),
    ("er", 4.0, lambda n, s: graphs.erdos_renyi(n, 3.0 / (n - 1), seed=s)),
    ("abar", 4.0, lambda n, s: graphs.with_mean_connectivity(n, 4.0, seed=s)),
    ("abar-regular", 5.0,
     lambda n, s: graphs.with_mean_connectivity(n, 5.0, seed=s, kind="regular")),
])
def test_every_family_spelling_parses_to_the_graph_it_named_before(family, abar, direct):
    """theory.verify's --topology/--abar and empirical's decentralised.graph go through the one
    parser; catches a family mapped to another generator, another q, or the seed dropped."""
    n, seed = 12, 5
    assert graphs.parse_graph(graphs.family_spec(family, abar), n, seed=seed) == direct(n, seed)


def test_parser_errors_name_the_callers_parameter_and_what_is_allowed():
    """Catches: an unknown spec or a bad value reported under another name, or without the list."""
    from theory.errors import ParameterError

    for spec in ("torus", "er:x", "regular:2.5", "edges:0-x", "edges:"):
        with pytest.raises(ParameterError) as err:
            graphs.parse_graph(spec, 6, param="--decl-graph")
        assert str(err.value).startswith("--decl-graph: must be "), str(err.value)
    with pytest.raises(ParameterError, match=r"^--decl-graph: .*'abar:A'"):
        graphs.parse_graph("torus", 6, param="--decl-graph")
    with pytest.raises(ParameterError, match=r"^--edges: must be a connected graph"):
        graphs.parse_graph("edges:0-1,2-3", 4, param="--edges")
    with pytest.raises(ParameterError, match=r"^--abar: "):
        graphs.family_spec("regular", 4.5, param="--topology", value_param="--abar")
    with pytest.raises(ParameterError, match=r"^decentralised.graph: "):
        graphs.family_spec("torus", 4.0, param="decentralised.graph")
    top = graphs.with_mean_connectivity(9, 4.0, seed=2)
    assert graphs.parse_graph(graphs.edges_spec(top), 9, seed=0).edges == top.edges


def test_named_streams_draw_exactly_what_the_old_derivations_drew():
    """The seed streams moved into theory.seeds keep every published draw. Catches: a stream
    renumbered, a keying swapped (entropy vs spawn_key), the replicate key added at replicate 0,
    or a 63-bit seed cut to 32 bits (or the reverse)."""
    import numpy as np

    from empirical import seeds as emp
    from theory.model import class_q_patterns, paper_config
    from theory.sampler import stream_rng
    from theory.seeds import CURVES, THEORY

    cfg = paper_config(64, n_clients=4, seed=3, q_mode="per-class")
    for name, number in (("data", 2), ("views", 3)):
        for rep in (0, 2):
            old = np.random.default_rng([3, number, 11, 1, 0] + ([rep] if rep else []))
            assert np.array_equal(stream_rng(cfg, 11, name, 1, 0, replicate=rep).random(5), old.random(5))
    old_q = np.random.default_rng([3, 1]).integers(0, 2, size=(8, 4)).astype(float)
    for i in range(4):
        old_q[2 * i, i] = old_q[2 * i + 1, i] = 0.0
    assert np.array_equal(class_q_patterns(cfg), old_q)
    assert np.array_equal(THEORY.rng(3, "eq25-probe").random(3), np.random.default_rng([3, 7]).random(3))
    for stream, number, extra in (("decl-graph", 1, ()), ("connectivity-graph", 2, (4, 1))):
        old_seed = int(np.random.SeedSequence([5, number, *extra]).generate_state(1, dtype=np.uint32)[0])
        assert CURVES.seed(5, stream, *extra, bits=32) == old_seed
    for k, name in enumerate(emp.STREAMS):
        state = np.random.SeedSequence(entropy=9, spawn_key=(k, 2)).generate_state(1, dtype=np.uint64)[0]
        assert emp.stream_seed(9, name, 2) == int(state) >> 1
    with pytest.raises(Exception, match="name: must be a stream of theory"):
        THEORY.rng(0, "graph")


def test_one_framework_vocabulary_with_one_mapping():
    """Catches: a package defining its own framework list or mapping again, a mapping that is not
    a bijection, and an unknown name accepted."""
    from theory import analysis, curves, derivations, frameworks, printed
    from theory.errors import ParameterError

    assert printed.FRAMEWORKS is analysis.FRAMEWORKS is curves.FRAMEWORKS is frameworks.FRAMEWORKS
    assert derivations.GLOBAL_FRAMEWORKS is frameworks.GLOBAL_FRAMEWORKS
    assert sorted(frameworks.ALGORITHM_OF.values()) == sorted(frameworks.ALGORITHMS)
    for fw in frameworks.FRAMEWORKS:
        algo = frameworks.as_algorithm(fw)
        assert frameworks.as_framework(algo) == fw == frameworks.as_framework(fw)
        assert frameworks.as_algorithm(algo) == algo
    assert frameworks.as_algorithm("decl") == "gossip" and frameworks.as_algorithm("fl") == "fedavg"
    with pytest.raises(ParameterError, match="^--framework: "):
        frameworks.as_framework("server", "--framework")
    pytest.importorskip("matplotlib")
    from figures import linear_figs

    assert linear_figs.FRAMEWORK_KEY is frameworks.FRAMEWORK_OF
