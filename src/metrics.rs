//! Prometheus metrics. One process-wide recorder (installed on first use);
//! the names below are the contract for dashboards, so they live here in one
//! place instead of as string literals across the code.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use signalbox_commands::Network;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the recorder (once); `None` if another recorder got there first.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ];
            let sizes = [
                1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
            ];
            PrometheusBuilder::new()
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Suffix("_seconds".into()),
                    &buckets,
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        metrics_exporter_prometheus::Matcher::Suffix("_size".into()),
                        &sizes,
                    )
                })
                .and_then(|b| b.install_recorder())
                .map_err(|e| tracing::warn!("metrics recorder not installed: {e}"))
                .ok()
        })
        .as_ref()
}

/// The exposition text for `/metrics`.
pub fn render() -> String {
    install().map(PrometheusHandle::render).unwrap_or_default()
}

pub fn command(family: &'static str, outcome: &'static str, network: Network, took: Duration) {
    counter!("signalbox_commands_total", "family" => family, "outcome" => outcome, "network" => network.as_str())
        .increment(1);
    histogram!("signalbox_command_seconds", "family" => family).record(took.as_secs_f64());
}

pub fn ledger_batch(events: usize, flush: Duration) {
    histogram!("signalbox_ledger_batch_size").record(events as f64);
    histogram!("signalbox_ledger_flush_seconds").record(flush.as_secs_f64());
}

pub fn ledger_failed() {
    counter!("signalbox_ledger_write_failures_total").increment(1);
}

/// A scheduled backup written (`ok`) or failed.
pub fn backup(ok: bool) {
    let outcome = if ok { "written" } else { "failed" };
    counter!("signalbox_backups_total", "outcome" => outcome).increment(1);
}

pub fn outbox_depth(network: Network, depth: usize) {
    gauge!("signalbox_outbox_depth", "network" => network.as_str()).set(depth as f64);
}

pub fn outbox_delivered(network: Network) {
    counter!("signalbox_outbox_delivered_total", "network" => network.as_str()).increment(1);
}

pub fn outbox_failed(network: Network) {
    counter!("signalbox_outbox_delivery_failures_total", "network" => network.as_str())
        .increment(1);
}

pub fn outbox_rejected(network: Network) {
    counter!("signalbox_outbox_rejected_total", "network" => network.as_str()).increment(1);
}

pub fn adapter_state(network: Network, up: bool) {
    gauge!("signalbox_adapter_connected", "network" => network.as_str()).set(if up {
        1.0
    } else {
        0.0
    });
}

pub fn adapter_restart(network: Network) {
    counter!("signalbox_adapter_reconnects_total", "network" => network.as_str()).increment(1);
}

pub fn job_fired(kind: &'static str) {
    counter!("signalbox_scheduler_jobs_fired_total", "kind" => kind).increment(1);
}
