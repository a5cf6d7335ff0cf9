"""Model directories: the ACTIVE pointer under concurrent activations."""

from __future__ import annotations

import threading
from pathlib import Path

from recommender.artifacts import active_version, set_active, write_manifest


def test_concurrent_activations_in_one_process_never_fail(tmp_path: Path) -> None:
    # Found by schemathesis: two admin requests activating at once in one server process wrote
    # the same temporary file (named by the process id only); one rename found it gone -> 500.
    versions = [f"v{k}" for k in range(4)]
    for v in versions:
        (tmp_path / v).mkdir()
        write_manifest(tmp_path / v, {"version": v})
    errors: list[BaseException] = []

    def activate(v: str) -> None:
        try:
            for _ in range(300):
                set_active(tmp_path, v)
        except BaseException as exc:  # the test reports any failure
            errors.append(exc)

    threads = [threading.Thread(target=activate, args=(v,)) for v in versions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert active_version(tmp_path) in versions
    assert not list(tmp_path.glob(".ACTIVE.*"))  # no temporary file left behind
