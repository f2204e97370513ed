"""`hy-vla eval --remote HOST:PORT`: a served policy goes through the same evaluation protocol."""

from __future__ import annotations

import json

import pytest

from hy_vla.cli.main import main


def test_eval_cli_against_a_running_server(server, tmp_path):
    pytest.importorskip("metaworld")
    out = tmp_path / "eval"
    rc = main(["eval", "--env", "metaworld", "--tasks", "reach-v3", "--episodes", "1", "--max-steps", "6",
               "--cameras", "corner2", "--image-size", "16", "--remote", f"127.0.0.1:{server.port}",
               "--out", str(out)])  # fmt: skip
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    assert report["config"]["extra"]["policy"] == "remote" and report["tasks"]["reach-v3"]["episodes"][0]["length"] == 6


def test_eval_cli_rejects_two_policies_and_bad_address(tmp_path, capsys):
    assert main(["eval", "--env", "metaworld", "--tasks", "reach-v3", "--policy", "scripted", "--remote", "h:1",
                 "--out", str(tmp_path)]) == 2  # fmt: skip
    assert "exactly one" in capsys.readouterr().err
    assert (
        main(["eval", "--env", "metaworld", "--tasks", "reach-v3", "--remote", "nohost", "--out", str(tmp_path)]) == 2
    )
    assert "HOST:PORT" in capsys.readouterr().err
