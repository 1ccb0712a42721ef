"""Reading sacct's answers."""

from sec_assets.executor import parse_sacct
from sec_assets.executor.sacct import base_state, is_terminal, rss_bytes

FIELDS = ("JobID", "State", "ExitCode", "NodeList", "Elapsed", "MaxRSS", "AllocTRES")


def test_sacct_output_is_read_per_allocation_with_the_steps_peak_rss():
    text = "\n".join(
        [
            "41|COMPLETED|0:0|gpu1|00:00:12||billing=1,cpu=1,gres/gpu=1,mem=1G,node=1",
            "41.batch|COMPLETED|0:0|gpu1|00:00:12|1168576K|cpu=1,gres/gpu=1,mem=1G,node=1",
            "41.0|COMPLETED|0:0|gpu1|00:00:11|2.5G|cpu=1,gres/gpu=1,mem=1G,node=1",
            "42|CANCELLED by 0|0:15|cpu2|00:00:03||billing=1,cpu=1,mem=1G,node=1",
            "43|PENDING|0:0|None assigned|00:00:00||",
        ]
    )
    rows = parse_sacct(text, FIELDS)
    assert rows["41"]["State"] == "COMPLETED" and rows["41"]["MaxRSS"] == "2.5G"
    assert "gres/gpu=1" in rows["41"]["AllocTRES"] and rows["41"]["NodeList"] == "gpu1"
    assert rows["42"]["State"].startswith("CANCELLED") and rows["42"]["ExitCode"] == "0:15"
    assert rows["43"]["State"] == "PENDING"


def test_rss_and_states():
    assert rss_bytes("1024K") == 1024**2 and rss_bytes("2.5G") == 2.5 * 1024**3 and rss_bytes("12") == 12
    assert rss_bytes("") == 0 and rss_bytes("1.2.3K") == 0  # unreadable: no crash
    assert base_state({"State": "CANCELLED by 0"}) == "CANCELLED" and base_state({}) == "UNKNOWN"
    assert not is_terminal("RUNNING") and not is_terminal("COMPLETING") and not is_terminal("PENDING")
    assert all(is_terminal(s) for s in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY"))
