from hy_vla.cli.main import COMMANDS, main


def test_bad_input_gives_one_clear_line_not_a_traceback(capsys, tmp_path):
    """Regression: `hy-vla dataset info DIR` on a non-dataset printed a Python traceback."""
    rc = main(["dataset", "info", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("hy-vla dataset: error:") and "Traceback" not in err and "meta/info.json" in err


def test_every_command_has_help(capsys):
    for name in COMMANDS:
        try:
            main([name, "--help"])
        except SystemExit as e:
            assert e.code == 0, name
        assert name in capsys.readouterr().out


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "COMMAND" in capsys.readouterr().out


def test_a_diverged_run_exits_1_with_one_line(capsys, monkeypatch):
    """Regression: a run that trained to NaN exited 0."""
    import hy_vla.cli.train as train_cli
    from hy_vla.utils.errors import TrainingDiverged

    def diverge(args):
        raise TrainingDiverged("training diverged at step 7: loss nan")

    monkeypatch.setattr(train_cli, "run", diverge)
    assert main(["train", "--out", "x"]) == 1
    err = capsys.readouterr().err
    assert err == "hy-vla train: error: training diverged at step 7: loss nan\n"
