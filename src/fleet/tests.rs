//! The correlator on hand-built records.

use super::*;
use crate::verdict::{Cause, Layer};

fn t(ms: i64) -> Timestamp {
    Timestamp::from_parts(1_000, ms * 1_000_000)
}

fn closed(probe: &str, conn: u64, client: &str, server: &str, end: i64, cause: Cause) -> Record {
    let layer = match cause {
        Cause::NatIdleExpiry | Cause::Reset => Layer::Network,
        _ => Layer::Protocol,
    };
    let side = if layer == Layer::Network {
        "middlebox"
    } else {
        "server"
    };
    Record {
        probe: probe.into(),
        captured: t(end),
        observation: Observation::Connection(ConnView {
            probe: probe.into(),
            conn,
            client_id: Some(format!("id-{client}")),
            client: Some(format!("{client}:40000").parse().unwrap()),
            server: Some(format!("{server}:1883").parse().unwrap()),
            connect: Some(t(0)),
            start: t(0),
            end: Some(t(end)),
            cause: Some(cause),
            layer: Some(layer),
            side: Some(side.into()),
        }),
    }
}

fn run(part: Partition, settings: Settings, records: &[Record]) -> Vec<FleetFinding> {
    let mut c = Correlator::new(settings, part, Arc::new(FleetMetrics::new()));
    let mut found = Vec::new();
    for r in records {
        found.extend(c.push(r.clone(), b"{}"));
    }
    c.finish();
    found
}

/// Two nodes' mass closes 3 s apart, then a third node's 5 minutes later.
fn two_episodes() -> Vec<Record> {
    let mut records = Vec::new();
    for (node, at) in [
        ("10.0.9.1", 10_000),
        ("10.0.9.2", 13_000),
        ("10.0.9.3", 313_000),
    ] {
        for i in 0..6 {
            let client = format!("10.{}.0.{i}", at / 1000 % 250);
            records.push(closed(
                node,
                i,
                &client,
                node,
                at + i as i64,
                Cause::ServerClose,
            ));
        }
    }
    records
}

#[test]
fn nodes_closing_together_are_a_shutdown_one_after_another_a_rolling_restart() {
    let found = run(Partition::ALL, Settings::default(), &two_episodes());
    let kinds: Vec<FleetKind> = found.iter().map(|f| f.kind).collect();
    assert_eq!(
        kinds,
        [
            FleetKind::ServerMassClose,
            FleetKind::ServerMassClose,
            FleetKind::ClusterShutdown,
            FleetKind::ServerMassClose,
            FleetKind::RollingRestart,
        ]
    );
    assert_eq!(found[2].count, 2, "two nodes");
    assert_eq!(found[4].count, 3, "all three nodes in the rolling restart");
}

#[test]
fn network_drops_of_one_subnet_at_two_probes_are_one_site_outage() {
    let records: Vec<Record> = (0..4)
        .map(|i| {
            let probe = if i % 2 == 0 { "gw-1" } else { "gw-2" };
            closed(
                probe,
                i,
                &format!("192.168.7.{i}"),
                "10.0.9.1",
                5_000 + i as i64 * 100,
                Cause::Reset,
            )
        })
        .collect();
    let found = run(Partition::ALL, Settings::default(), &records);
    let site: Vec<&FleetFinding> = found
        .iter()
        .filter(|f| f.kind == FleetKind::SiteOutage)
        .collect();
    assert_eq!(site.len(), 1);
    assert_eq!(site[0].key, "192.168.7.0/24");
    assert_eq!(site[0].count, 3, "found at the third client");
    assert_eq!(site[0].probes, ["gw-1", "gw-2"]);
    assert!(
        found.iter().all(|f| f.kind != FleetKind::ProbeOutage),
        "two each: no probe alone"
    );
}

#[test]
fn instances_split_the_work_and_find_together_what_one_finds() {
    let mut records = two_episodes();
    records.extend((0..5).map(|i| {
        closed(
            "gw",
            50 + i,
            &format!("172.16.1.{i}"),
            "10.0.9.1",
            400_000,
            Cause::NatIdleExpiry,
        )
    }));
    let mut one = run(Partition::ALL, Settings::default(), &records);
    let mut shared: Vec<FleetFinding> = (0..3)
        .flat_map(|k| {
            run(
                Partition { instance: k, of: 3 },
                Settings::default(),
                &records,
            )
        })
        .collect();
    let key = |f: &FleetFinding| (f.kind, f.key.clone(), f.time);
    one.sort_by_key(key);
    shared.sort_by_key(key);
    assert!(one.len() >= 7, "{one:?}");
    assert_eq!(one, shared);
}

#[test]
fn client_state_stays_under_its_cap() {
    let settings = Settings {
        max_clients: 100,
        ..Settings::default()
    };
    let mut c = Correlator::new(settings, Partition::ALL, Arc::new(FleetMetrics::new()));
    for i in 0..1_000u64 {
        let ip = format!("10.1.{}.{}", i / 250, i % 250);
        c.push(
            closed(
                "gw",
                i,
                &ip,
                "10.0.9.1",
                i as i64 * 1000,
                Cause::ClientDisconnect,
            ),
            b"{}",
        );
        assert!(c.clients() <= 100);
    }
    assert!(c.counts().clients_evicted >= 900);
    c.finish();
    assert_eq!(
        c.counts().connections.values().sum::<u64>(),
        1_000,
        "every connection counted once"
    );
}

#[test]
fn views_of_one_connection_from_two_probes_count_once() {
    let gw = closed("gw", 0, "10.5.0.1", "10.0.9.1", 9_000, Cause::NatIdleExpiry);
    let mut broker = closed(
        "broker",
        7,
        "198.51.100.1",
        "10.0.9.1",
        9_200,
        Cause::KeepaliveTimeout,
    );
    if let Observation::Connection(v) = &mut broker.observation {
        v.client_id = Some("id-10.5.0.1".into());
    }
    let mut c = Correlator::new(
        Settings::default(),
        Partition::ALL,
        Arc::new(FleetMetrics::new()),
    );
    c.push(gw, b"{}");
    c.push(broker, b"{}");
    c.finish();
    assert_eq!(c.counts().joined, 1);
    assert_eq!(c.counts().connections.values().sum::<u64>(), 1);
}
