"""The plumbing written once (theory.provenance, theory.io.jsonable, theory.graphs.parse_graph,
theory.seeds, theory.verdict.combine): one format each, and the old spellings still accepted."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from theory import provenance

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
