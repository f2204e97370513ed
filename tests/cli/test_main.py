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


def test_a_killed_worker_is_one_line_not_a_traceback(capsys, monkeypatch):
    """A collection worker SIGKILLed mid-run ended `hy-vla collect` with a BrokenProcessPool traceback."""
    from concurrent.futures.process import BrokenProcessPool

    import hy_vla.cli.collect as collect_cli
    from hy_vla.cli.main import WORKER_KILLED

    def killed(args):
        raise BrokenProcessPool("A process in the process pool was terminated abruptly")

    monkeypatch.setattr(collect_cli, "run", killed)
    assert main(["collect", "--tasks", "reach-v3", "--out", "x"]) == 1
    assert capsys.readouterr().err == f"hy-vla collect: error: {WORKER_KILLED}\n"


def test_version_names_the_package_python_torch_and_extras(capsys):
    import pytest

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("hy-vla ") and "Python" in out and "torch" in out and "optional:" in out


def test_missing_required_options_exit_2_with_one_line(capsys, tmp_path):
    """Regression: `collect` without --out and `eval`/`collect` without --tasks exited 1 via SystemExit."""
    cases = [["collect", "--tasks", "reach-v3"], ["collect", "--out", str(tmp_path / "x")],
             ["eval", "--out", str(tmp_path / "y"), "--policy", "scripted"]]  # fmt: skip
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"hy-vla {argv[0]}: error:") and len(err.splitlines()) == 1, err


def test_env_is_a_choice(capsys):
    import pytest

    with pytest.raises(SystemExit) as e:
        main(["eval", "--env", "metawrld", "--tasks", "reach-v3"])
    assert e.value.code == 2 and "invalid choice" in capsys.readouterr().err
