"""``midwatch report``'s output file: the format follows ``--out`` unless given, a mismatch
and a directory are refused with the fix, and a file that cannot be written is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from midwatch.cli import main
from midwatch.commands.report import output_format


def test_format_follows_the_file_name_unless_given():
    assert output_format(None, Path("h.pdf")) == "pdf"
    assert output_format(None, Path("h.MD")) == "md"
    assert output_format(None, Path("h.txt")) == "html"
    assert output_format("pdf", Path("h")) == "pdf"
    with pytest.raises(ValueError, match="--format html does not match --out h.pdf"):
        output_format("html", Path("h.pdf"))


@pytest.mark.parametrize("out, want", [
    ("{tmp}", "is a directory: give a file name"),
    ("{tmp}/x.pdf --format md", "does not match --out"),
])
def test_wrong_out_is_refused_before_the_store_is_read(tmp_path, capsys, out, want):
    args = ["report", "--period", "2026-11", "-c", str(tmp_path / "missing.yaml"), "--out",
            *out.format(tmp=tmp_path).split()]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert want in err and "Traceback" not in err and "Errno" not in err
