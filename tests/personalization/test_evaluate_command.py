"""The evaluate_recommendations command: one line per method, and a bad file named by line."""

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from factories import two_groups_log


def sessions_file(path, sessions):
    path.write_text("".join(f"s{n}\t" + "\t".join(skus) + "\n" for n, skus in enumerate(sessions)))
    return path


def test_command_prints_one_line_per_method(tmp_path):
    log = two_groups_log()
    train = sessions_file(tmp_path / "train.txt", log[:100])
    test = sessions_file(tmp_path / "test.txt", log[100:])
    out = StringIO()
    call_command("evaluate_recommendations", f"--train={train}", f"--test={test}", stdout=out)
    lines = out.getvalue().splitlines()
    names = ["popularity", "item-knn", "session-vector", "neighbours", "transitions"]
    names += ["cooccurrence", "repeats", "default"]
    assert [line.split()[0] for line in lines] == names
    assert all(re.fullmatch(r"\S+ HR@20 \d+\.\d\d MRR@20 \d+\.\d\d", line) for line in lines)


def test_command_names_file_and_line_of_a_bad_session(tmp_path):
    train = tmp_path / "train.txt"
    train.write_text("s1\ta\tb\ns2\ta\t\tb\n")
    test = sessions_file(tmp_path / "test.txt", [["a", "b"]])
    with pytest.raises(CommandError, match=r"train\.txt, line 2: empty field"):
        call_command("evaluate_recommendations", f"--train={train}", f"--test={test}")
    missing = tmp_path / "missing.txt"
    with pytest.raises(CommandError, match=r"missing\.txt: no such file"):
        call_command("evaluate_recommendations", f"--train={test}", f"--test={missing}")
