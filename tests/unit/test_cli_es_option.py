"""``--es`` without a scheme is refused by name at parse time (``demo`` printed a traceback
from the search client's URL parser; ``dashboards verify`` its bare words)."""

from __future__ import annotations

import pytest

from midwatch.cli import main


@pytest.mark.parametrize("argv", [
    ["demo", "--messages", "1", "--index-prefix", "walk2-none"],
    ["dashboards", "verify", "--index-prefix", "walk2-none"],
    ["dashboards", "preview", "--index-prefix", "walk2-none", "--out", "unused"],
])
@pytest.mark.parametrize("url", ["127.0.0.1:9200", "htp://127.0.0.1:9200", "http://"])
def test_es_without_an_http_scheme_and_host_is_refused_naming_the_option(argv, url, capsys,
                                                                         tmp_path):
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--es", url, *(["--workdir", str(tmp_path)] if argv[0] == "demo" else [])])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert (f"argument --es: expected an http(s) URL, e.g. http://127.0.0.1:9200, "
            f"got {url!r}") in err, err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # refused before the demo wrote anything
