"""The evaluate_recommendations command: one line per method, and a bad file named by line."""

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from factories import two_groups_log


def sessions_file(path, sessions):
    path.write_text("".join(f"s{n}\t" + "\t".join(skus) + "\n" for n, skus in enumerate(sessions)))
    return path


METHOD_LINE = re.compile(r"(\S+) HR@20 \d+\.\d\d MRR@20 \d+\.\d\d")


def test_command_prints_one_line_per_method_phases_sizes_and_groups(tmp_path):
    log = two_groups_log()
    train = sessions_file(tmp_path / "train.txt", log[:100])
    test = sessions_file(tmp_path / "test.txt", log[100:])
    out = StringIO()
    call_command("evaluate_recommendations", f"--train={train}", f"--test={test}", stdout=out)
    text = out.getvalue()
    methods = [m.group(1) for line in text.splitlines() if (m := METHOD_LINE.fullmatch(line))]
    names = ["popularity", "item-knn", "session-vector", "neighbours", "transitions"]
    assert methods == names + [
        "cooccurrence",
        "repeats",
        "repeats_habit",
        "linear-blend",
        "default",
    ]
    phases = re.search(r"^phases: (.*)$", text, re.M).group(1)
    for phase in ("reading", "training prod2vec", "learning the blend", "counting", "evaluating"):
        assert re.search(rf"{phase} \d+\.\d s", phases), phase
    assert re.search(r"training: 100 sessions, [\d,]+ views, \d+ products with a vector", text)
    assert re.search(r"stored pairs: neighbours [\d,]+, transitions [\d,]+", text)
    # sessions of four views over ten products, every one of them in the older sessions
    assert re.search(
        r"validation against test predictions: repeats \d+\.\d% against \d+\.\d%, next views "
        r"never seen in training 0\.0% against 0\.0%, mean session length 4\.0 against 4\.0",
        text,
    )
    assert re.search(r"blend weights: neighbours 0\.\d{3}, .* \(learned on \d+ validation", text)
    header = re.search(r"^  method +repeat +new +length 2-5 .*$", text, re.M)
    assert header, text
    assert re.search(r"^  default +(\d+\.\d\d / \d+\.\d\d|-) ", text, re.M)


def test_command_with_seeds_gives_the_mean_and_spread(tmp_path):
    log = two_groups_log()
    train = sessions_file(tmp_path / "train.txt", log[:100])
    test = sessions_file(tmp_path / "test.txt", log[100:])
    out = StringIO()
    call_command(
        "evaluate_recommendations", f"--train={train}", f"--test={test}", "--seeds=2", stdout=out
    )
    spread = re.compile(r"\S+ HR@20 \d+\.\d\d ±\d+\.\d\d MRR@20 \d+\.\d\d ±\d+\.\d\d \(2 seeds\)")
    assert sum(bool(spread.fullmatch(line)) for line in out.getvalue().splitlines()) == 10
    with pytest.raises(CommandError, match="--seeds must be at least 1"):
        call_command("evaluate_recommendations", f"--train={train}", f"--test={test}", "--seeds=0")


def test_command_names_file_and_line_of_a_bad_session(tmp_path):
    train = tmp_path / "train.txt"
    train.write_text("s1\ta\tb\ns2\ta\t\tb\n")
    test = sessions_file(tmp_path / "test.txt", [["a", "b"]])
    with pytest.raises(CommandError, match=r"train\.txt, line 2: empty field"):
        call_command("evaluate_recommendations", f"--train={train}", f"--test={test}")
    missing = tmp_path / "missing.txt"
    with pytest.raises(CommandError, match=r"missing\.txt: no such file"):
        call_command("evaluate_recommendations", f"--train={test}", f"--test={missing}")
