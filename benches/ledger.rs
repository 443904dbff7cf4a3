//! Ledger throughput: group commit with 1, 16 and 64 concurrent writers,
//! against the naive way (sled insert + flush per operation) at the same
//! concurrency. Run with `cargo bench --bench ledger`; the README has the
//! numbers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use signalbox::ledger::{Draft, Ledger};
use signalbox_commands::job::Change as JobChange;
use signalbox_commands::{Actor, Change};

const WRITERS: [u64; 3] = [1, 16, 64];

fn draft(writer: u64) -> Draft {
    Draft {
        at: Utc::now(),
        actor: Actor::scheduler("bench"),
        changes: vec![Change::Job(JobChange::Fired {
            job: format!("bench-{writer}"),
            at: Utc::now(),
        })],
        outbox: Vec::new(),
    }
}

fn group_commit(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Ledger::open(dir.path()).expect("ledger");
    let mut group = c.benchmark_group("ledger");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(1));
    for writers in WRITERS {
        group.bench_with_input(
            BenchmarkId::new("group_commit", writers),
            &writers,
            |b, &writers| {
                b.to_async(&rt).iter_custom(|iters| {
                    let ledger = ledger.clone();
                    async move {
                        let per = iters.div_ceil(writers);
                        let start = Instant::now();
                        let tasks: Vec<_> = (0..writers)
                            .map(|w| {
                                let ledger = ledger.clone();
                                tokio::spawn(async move {
                                    for _ in 0..per {
                                        ledger
                                            .transact(move |_, _, _| (Some(draft(w)), ()))
                                            .await
                                            .expect("commit");
                                    }
                                })
                            })
                            .collect();
                        for t in tasks {
                            t.await.expect("writer");
                        }
                        start.elapsed()
                    }
                });
            },
        );
    }
    group.finish();
}

fn flush_per_op(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Arc::new(sled::open(dir.path()).expect("sled"));
    let mut group = c.benchmark_group("ledger");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(1));
    for writers in WRITERS {
        group.bench_with_input(
            BenchmarkId::new("sled_flush_per_op", writers),
            &writers,
            |b, &writers| {
                b.iter_custom(|iters| {
                    let per = iters.div_ceil(writers);
                    let start = Instant::now();
                    std::thread::scope(|s| {
                        for w in 0..writers {
                            let db = db.clone();
                            s.spawn(move || {
                                for i in 0..per {
                                    let value =
                                        serde_json::to_vec(&draft(w).changes).expect("encode");
                                    db.insert(format!("k{w}-{i}"), value).expect("insert");
                                    db.flush().expect("flush");
                                }
                            });
                        }
                    });
                    start.elapsed()
                });
            },
        );
    }
    group.finish();
}

criterion_group!(benches, group_commit, flush_per_op);
criterion_main!(benches);
