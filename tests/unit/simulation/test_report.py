"""What makes ``hoststate simulate`` exit 3 (report.broken)."""
from hoststate.simulation import report


def _report(over=0, mismatched=0, rows=10, placements=7, prefilled=3,
            died=(), off_ledger=0):
    return {"overcommit": {"overcommitted_nodes": over,
                           "usage_mismatched_nodes": mismatched,
                           "ledger_mismatched_nodes": off_ledger,
                           "examples": ["n1", "n2"][:over + mismatched +
                                                    off_ledger]},
            "claims": {"placed_instance_rows": rows,
                       "placements_equal_claims":
                           rows == placements + prefilled},
            "placements": placements, "prefilled_instances": prefilled,
            "background_threads_died": list(died)}


def test_a_clean_run_breaks_nothing():
    assert report.broken(_report()) == []


def test_each_broken_rule_is_named():
    assert report.broken(_report(over=1)) == ["1 nodes over capacity"]
    assert report.broken(_report(mismatched=2)) == [
        "2 nodes with usage not matching their instances (n1, n2)"]
    assert report.broken(_report(off_ledger=1)) == [
        "1 nodes whose usage is not reserved + their ledger rows (n1)"]
    assert report.broken(_report(rows=11)) == [
        "11 instance rows placed for 7 placements and 3 pre-filled"]
    assert report.broken(_report(died=[{"thread": "t", "error": "E: x"}])) \
        == ["background thread t died: E: x"]
    assert len(report.broken(_report(over=1, mismatched=1, rows=9))) == 3
