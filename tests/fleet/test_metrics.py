"""The fleet's metrics (the FleetObserver port of :class:`Metrics`), read as Prometheus text."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from worker.fleet.observer import FleetObserver
from worker.observability.metrics import Metrics


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_a_single_process_shows_no_fleet_metrics() -> None:
    assert not any(name.startswith("sipline_fleet") for name, _ in samples(Metrics()))


def test_a_member_reports_routing_handovers_and_its_share() -> None:
    metrics = Metrics()
    observer: FleetObserver = metrics  # the port, implemented
    observer.fleet_state(shards=5, members=3)
    observer.fleet_handover("took")
    observer.fleet_handover("took")
    observer.fleet_handover("gave")
    observer.fleet_routed("routed", 0.004)
    observer.fleet_routed("routed", 0.2)
    observer.fleet_routed("rejected", 0.001)
    observer.fleet_routed("<script>", 0.001)  # a label value the code does not name
    found = samples(metrics)
    assert found[("sipline_fleet_shards_owned", ())] == 5
    helps = {
        f.name: f.documentation for f in text_string_to_metric_families(metrics.render().decode())
    }
    # a waiting subscription counts: during a handover both processes count the shard
    assert "subscribed to (active or waiting)" in helps["sipline_fleet_shards_owned"]
    assert found[("sipline_fleet_members", ())] == 3
    assert found[("sipline_fleet_handovers_total", (("direction", "took"),))] == 2
    assert found[("sipline_fleet_handovers_total", (("direction", "gave"),))] == 1
    assert found[("sipline_fleet_routed_total", (("outcome", "routed"),))] == 2
    assert found[("sipline_fleet_routed_total", (("outcome", "rejected"),))] == 1
    assert found[("sipline_fleet_routed_total", (("outcome", "other"),))] == 1
    assert found[("sipline_fleet_routing_duration_seconds_count", ())] == 2  # routed only
    assert found[("sipline_fleet_routing_duration_seconds_bucket", (("le", "0.01"),))] == 1
