"""The install benchmark's cheap parts (no bundle is staged): `pytest benchmarks/`."""

from __future__ import annotations

import sys

from runtime_install import Recorder, disk_bytes, label, tree_bytes


def test_each_boot_step_is_named_by_what_it_runs():
    assert label(["/usr/bin/python3.11", "-m", "venv", "--without-pip", "/opt/threetier/venv"]) == "venv"
    assert label(["/opt/threetier/venv/bin/python", "/w/pip-26.3-py3-none-any.whl/pip", "install", "--no-index",
                  "--no-compile"]) == "pip install"
    assert label(["/opt/threetier/venv/bin/python", "-m", "compileall", "-q", "-j", "0"]) == "compileall"


def test_the_recorder_runs_the_command_and_reads_its_peak_memory():
    recorder = Recorder()
    recorder([sys.executable, "-c", "blob = bytearray(60_000_000)"])
    (step,) = recorder.steps
    assert step["peak_rss_mb"] > 60 and step["seconds"] >= 0


def test_sizes_count_files_and_blocks(tmp_path):
    (tmp_path / "a").write_bytes(b"x" * 5000)
    assert tree_bytes(tmp_path) == 5000
    assert disk_bytes(tmp_path) >= 5000
