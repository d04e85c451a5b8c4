

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
