"""Hardware-aware costs: latency tables measured on the user's device and the predictor built on them.

    from samplenas.hardware import LatencyModel
    model = LatencyModel.load("latency.json")
    model.require(space="nasnet", network={"C": 8, "layers": 5})
    model.predict(arch) <= max_ms          # a latency budget; model.cost is the same function

See `samplenas.hardware.latency` for how the table is measured and the prediction made.
"""

from samplenas.hardware.latency import LatencyModel, full_settings, measure_table
from samplenas.hardware.table import check_table, read_table, write_table
from samplenas.hardware.timing import Protocol

__all__ = ["LatencyModel", "Protocol", "check_table", "full_settings", "measure_table", "read_table", "write_table"]
