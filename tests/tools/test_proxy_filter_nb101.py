"""The proxy-filter study on the NB101 table: it runs on a sample table and the filter keeps larger cells."""

import re

from tests.tools.tool_loader import load_tool


def test_the_filtered_cells_have_more_parameters_and_every_figure_is_printed(nb101_table, capsys):
    assert load_tool("proxy_filter_nb101").main(["--table", str(nb101_table), "--cells", "6", "--seeds", "2"]) == 0
    out = capsys.readouterr().out
    rows = {m[0]: [float(x.replace(",", "")) for x in m[1:]]
            for m in re.findall(r"^(uniform|filter, one call|filter, one per call)\s+([\d.]+) ± [\d.]+\s+([\d.]+) ± "
                                r"[\d.]+\s+([\d,]+)$", out, re.M)}
    assert len(rows) == 3, out
    assert rows["filter, one call"][2] > rows["uniform"][2] and rows["filter, one per call"][2] > rows["uniform"][2]
    assert all(0 < mean <= best <= 100 for mean, best, _ in rows.values())
