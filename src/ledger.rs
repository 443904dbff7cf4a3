//! The ledger: the only writer of state. Every change is an event appended to
//! the log and applied to the family views in one atomic sled batch.
//!
//! Callers hand the ledger a *decision* — a closure that looks at the current
//! state and returns the event to record (or none) — rather than a finished
//! event, so validation always sees the latest state: two approvals racing for
//! one machine are decided one after the other, never both against the same
//! snapshot.
//!
//! Reads skip the writer: [`Ledger::decide`] runs a decision first on the
//! caller's task against the latest committed state, and a decision without
//! changes is answered there, with no queue, no batch and no disk write.
//! Only a decision with changes goes to the writer, which decides again
//! against the state it holds (so the race above stays impossible).
//!
//! Group commit: the writer thread takes every decision queued, applies them
//! in order to a working copy of the state, writes one batch, flushes once,
//! and only then answers each caller and publishes the new state. sled
//! acknowledges writes before they are durable, so nothing here answers before
//! `flush` returns: an acknowledged change survives `kill -9`.
//!
//! Keys in the one sled tree: `e/<id>` events, `v/<family>` views,
//! `o/<seq>` outbox entries (see [`crate::outbox`]); ids big-endian so that
//! sled's order is the log's order.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use signalbox_commands::{Actor, Change, Event, EventId, Family, History, SCHEMA, State};
use tokio::sync::{mpsc, oneshot, watch};

use crate::outbox::{Destination, Entry as OutboxEntry};

const EVENT: &[u8] = b"e/";
const SEEN: &[u8] = b"d/";
const VIEW: &[u8] = b"v/";
const OUTBOX: &[u8] = b"o/";

/// Most decisions applied in one batch; bounds latency under a flood.
const MAX_BATCH: usize = 1024;

#[derive(Debug, Clone, thiserror::Error)]
pub enum LedgerError {
    #[error("the ledger cannot write: {0}")]
    Write(String),
    #[error("the ledger is stopped")]
    Stopped,
    #[error("the stored state is unreadable: {0}")]
    Corrupt(String),
    /// The message id was handled before (a redelivery); nothing ran.
    #[error("message already handled")]
    Duplicate,
}

/// How long handled message ids are remembered for deduplication.
const SEEN_FOR: chrono::Duration = chrono::Duration::days(14);

/// What a decision asks the ledger to record.
#[derive(Debug, Clone)]
pub struct Draft {
    pub at: DateTime<Utc>,
    pub actor: Actor,
    pub changes: Vec<Change>,
    /// Messages to deliver once the event is durable.
    pub outbox: Vec<(Destination, String)>,
}

type Done = Box<dyn FnOnce(Result<(), LedgerError>) + Send>;
type Decide = Box<dyn FnOnce(&State, &dyn History, EventId) -> (Option<Draft>, Done) + Send>;

/// A decision, with the id of the message that caused it (if the network
/// gives one), so a message delivered twice runs once.
struct Decision {
    once: Option<String>,
    decide: Decide,
}

type Read = Box<dyn FnOnce(Committed<'_>) + Send>;

/// A write to the outbox by its delivery task, made by the writer in its
/// next batch (so the writer is the only one that writes).
enum OutboxWrite {
    /// Delivered or refused for good: gone.
    Remove(u64),
    /// About to be sent (see [`crate::outbox`]).
    MarkInFlight(OutboxEntry),
}

/// What the writer is asked to do, in order.
enum Request {
    Decide(Decision),
    Outbox(OutboxWrite, Done),
    /// Look at the committed store between two batches (an export): every
    /// change queued before it is flushed first, none queued after it has
    /// started, so what it reads is one consistent, durable moment.
    Read(Read),
}

/// The store as the writer has committed it, handed to a [`Request::Read`].
struct Committed<'a> {
    state: Arc<State>,
    tree: &'a sled::Tree,
    last_event: u64,
}

/// One consistent, durable moment of the ledger, taken while it runs: the
/// state, the id of the last event it includes, and the undelivered outbox.
/// Events are append-only, so `events` can be read after the snapshot while
/// new ones are written: they stop at `last_event`.
pub struct Snapshot {
    pub state: Arc<State>,
    pub last_event: u64,
    pub outbox: Vec<OutboxEntry>,
    tree: sled::Tree,
}

impl Snapshot {
    /// The snapshot's events, oldest first, read lazily from the log.
    pub fn events(&self) -> impl Iterator<Item = Result<Event, LedgerError>> + '_ {
        self.tree
            .range(key(EVENT, 1)..=key(EVENT, self.last_event))
            .map(|kv| {
                let (_, v) = kv.map_err(|e| LedgerError::Corrupt(e.to_string()))?;
                serde_json::from_slice(&v).map_err(|e| LedgerError::Corrupt(e.to_string()))
            })
    }
}

/// Handle to the ledger; cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    tx: mpsc::Sender<Request>,
    state: watch::Receiver<Arc<State>>,
    tree: sled::Tree,
    healthy: Arc<AtomicBool>,
    stats: Arc<Stats>,
    outbox_changed: Arc<tokio::sync::Notify>,
    /// Outbox entries below this sequence number are durable. sled shows
    /// writes before they are flushed, so the outbox is read through this
    /// mark: an announcement goes out only once its change is on disk.
    durable_outbox: Arc<AtomicU64>,
    /// Shared with the writer, which records the reads it decides.
    reads: Arc<Mutex<RecentReads>>,
    /// The id the next event will get, as of the last commit.
    next_event: Arc<AtomicU64>,
    /// Decisions sent to the writer and not answered yet.
    writes: Arc<AtomicU64>,
}

/// Counters for metrics and benchmarks.
#[derive(Debug, Default)]
pub struct Stats {
    pub batches: AtomicU64,
    pub events: AtomicU64,
    pub flush_micros: AtomicU64,
    pub flushes: AtomicU64,
    /// Decisions the writer ran (reads answered on the caller's task are
    /// not among them).
    pub decisions: AtomicU64,
}

impl Ledger {
    /// Opens (or creates) the ledger in `dir` and starts its writer thread.
    pub fn open(dir: &Path) -> Result<Ledger, LedgerError> {
        let db = open_db(dir)?;
        let tree = db
            .open_tree("ledger")
            .map_err(|e| LedgerError::Write(e.to_string()))?;
        let state = load_state(&tree)?;
        prune_seen(&tree)?;
        let last = last_id(&tree, EVENT)?;
        let outbox_seq = last_id(&tree, OUTBOX)?;
        let (state_tx, state_rx) = watch::channel(Arc::new(state));
        let (tx, rx) = mpsc::channel(8192);
        let ledger = Ledger {
            tx,
            state: state_rx,
            tree: tree.clone(),
            healthy: Arc::new(AtomicBool::new(true)),
            stats: Arc::new(Stats::default()),
            outbox_changed: Arc::new(tokio::sync::Notify::new()),
            durable_outbox: Arc::new(AtomicU64::new(outbox_seq + 1)),
            reads: Arc::default(),
            next_event: Arc::new(AtomicU64::new(last + 1)),
            writes: Arc::default(),
        };
        let writer = Writer {
            db,
            reads: ledger.reads.clone(),
            next_event: ledger.next_event.clone(),
            tree,
            rx,
            state_tx,
            next_id: last + 1,
            next_outbox: outbox_seq + 1,
            healthy: ledger.healthy.clone(),
            stats: ledger.stats.clone(),
            outbox_changed: ledger.outbox_changed.clone(),
            durable_outbox: ledger.durable_outbox.clone(),
        };
        std::thread::Builder::new()
            .name("ledger".into())
            .spawn(move || writer.run())
            .map_err(|e| LedgerError::Write(format!("cannot start the writer: {e}")))?;
        Ok(ledger)
    }

    /// Runs `decide` against the latest state on the writer; when it returns
    /// a draft, records it durably before returning `T`.
    pub async fn transact<T, F>(&self, decide: F) -> Result<T, LedgerError>
    where
        T: Send + 'static,
        F: FnOnce(&State, &dyn History, EventId) -> (Option<Draft>, T) + Send + 'static,
    {
        self.transact_once(None, decide).await
    }

    /// Like [`Ledger::transact`], but runs at most once per `once` key (a
    /// network's message or event id): for a change the key is recorded
    /// durably in the same batch as its event; for a read (no changes) only
    /// in memory, so reads never write. A key seen before answers
    /// [`LedgerError::Duplicate`] without running `decide`.
    pub async fn transact_once<T, F>(
        &self,
        once: Option<String>,
        decide: F,
    ) -> Result<T, LedgerError>
    where
        T: Send + 'static,
        F: FnOnce(&State, &dyn History, EventId) -> (Option<Draft>, T) + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T, LedgerError>>();
        let boxed: Decide = Box::new(move |state, history, id| {
            let (draft, value) = decide(state, history, id);
            let done: Done = Box::new(move |result| {
                let _ = tx.send(result.map(|()| value));
            });
            (draft, done)
        });
        let _in_flight = InFlight::new(&self.writes);
        self.tx
            .send(Request::Decide(Decision {
                once,
                decide: boxed,
            }))
            .await
            .map_err(|_| LedgerError::Stopped)?;
        rx.await.map_err(|_| LedgerError::Stopped)?
    }

    /// Runs `decide` on the caller's task against the latest committed
    /// state when no change is on its way to the writer: an answer without
    /// changes (a read) is given here, touching neither the writer nor the
    /// disk. Anything else goes to the writer as [`Ledger::transact_once`],
    /// which decides again against the state it holds: a change, a refusal
    /// (which a change still in flight may turn into a success: `window add`
    /// then `window join` sent together), and every read while a change is
    /// in flight, so a read never overtakes a change made before it. `once`
    /// deduplicates as there: durably for changes, in memory for reads.
    pub async fn decide<T, E, F>(
        &self,
        once: Option<String>,
        decide: F,
    ) -> Result<Result<T, E>, LedgerError>
    where
        T: Send + 'static,
        E: Send + 'static,
        F: Fn(&State, &dyn History, EventId) -> (Option<Draft>, Result<T, E>)
            + Send
            + Sync
            + 'static,
    {
        if self.writes.load(Ordering::SeqCst) == 0 {
            let key = once.as_deref().map(seen_key);
            if let Some(k) = &key
                && (lock(&self.reads).contains(k) || self.tree.contains_key(k).unwrap_or(false))
            {
                return Err(LedgerError::Duplicate);
            }
            let state = self.state();
            let history = StoredHistory {
                tree: &self.tree,
                pending: &[],
            };
            let id = EventId(self.next_event.load(Ordering::SeqCst));
            let (draft, answer) = decide(&state, &history, id);
            if draft.is_none_or(|d| d.changes.is_empty()) && answer.is_ok() {
                // Two deliveries of one read racing here: the second loses.
                if let Some(k) = key
                    && !lock(&self.reads).insert(k)
                {
                    return Err(LedgerError::Duplicate);
                }
                return Ok(answer);
            }
        }
        self.transact_once(once, decide).await
    }

    /// A consistent snapshot for an export, taken between two batches of the
    /// running writer (so `export` needs no stopped bot).
    pub async fn snapshot(&self) -> Result<Snapshot, LedgerError> {
        let (tx, rx) = oneshot::channel();
        let read: Read = Box::new(move |committed| {
            let outbox = outbox_in(committed.tree, None);
            let _ = tx.send(outbox.map(|outbox| Snapshot {
                state: committed.state,
                last_event: committed.last_event,
                outbox,
                tree: committed.tree.clone(),
            }));
        });
        self.tx
            .send(Request::Read(read))
            .await
            .map_err(|_| LedgerError::Stopped)?;
        rx.await.map_err(|_| LedgerError::Stopped)?
    }

    /// The latest durable state.
    pub fn state(&self) -> Arc<State> {
        self.state.borrow().clone()
    }

    /// A receiver that wakes whenever a batch commits.
    pub fn watch(&self) -> watch::Receiver<Arc<State>> {
        self.state.clone()
    }

    /// False once a write failed; the ledger then refuses changes.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::SeqCst)
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Undelivered outbox entries whose change is durable, oldest first,
    /// for one network or all.
    pub fn pending(
        &self,
        network: Option<signalbox_commands::Network>,
    ) -> Result<Vec<OutboxEntry>, LedgerError> {
        let durable = self.durable_outbox.load(Ordering::SeqCst);
        let mut entries = outbox_in(&self.tree, network)?;
        entries.retain(|e| e.seq < durable);
        Ok(entries)
    }

    /// Removes a delivered (or refused) outbox entry, durably, in the
    /// writer's next batch, so a restart does not send it again.
    pub async fn remove_delivered(&self, seq: u64) -> Result<(), LedgerError> {
        self.write_outbox(OutboxWrite::Remove(seq)).await
    }

    /// Marks an outbox entry in flight, durably, before it is sent.
    pub async fn mark_in_flight(&self, entry: &OutboxEntry) -> Result<(), LedgerError> {
        let marked = OutboxEntry {
            in_flight: true,
            ..entry.clone()
        };
        self.write_outbox(OutboxWrite::MarkInFlight(marked)).await
    }

    async fn write_outbox(&self, write: OutboxWrite) -> Result<(), LedgerError> {
        let (tx, rx) = oneshot::channel();
        let done: Done = Box::new(move |result| {
            let _ = tx.send(result);
        });
        self.tx
            .send(Request::Outbox(write, done))
            .await
            .map_err(|_| LedgerError::Stopped)?;
        rx.await.map_err(|_| LedgerError::Stopped)?
    }

    /// Woken when outbox entries are added.
    pub fn outbox_changed(&self) -> Arc<tokio::sync::Notify> {
        self.outbox_changed.clone()
    }

    /// Every event, oldest first.
    pub fn events(&self) -> Result<Vec<Event>, LedgerError> {
        self.tree
            .scan_prefix(EVENT)
            .map(|kv| {
                let (_, v) = kv.map_err(|e| LedgerError::Corrupt(e.to_string()))?;
                serde_json::from_slice(&v).map_err(|e| LedgerError::Corrupt(e.to_string()))
            })
            .collect()
    }

    /// Reads history from the stored log.
    pub fn history(&self) -> StoredHistory<'_> {
        StoredHistory {
            tree: &self.tree,
            pending: &[],
        }
    }

    /// Writes a full export into this (empty) ledger, bypassing decisions.
    pub fn import(&self, export: &Export) -> Result<(), LedgerError> {
        if self.tree.scan_prefix(EVENT).next().is_some() {
            return Err(LedgerError::Write(
                "the data directory already holds events; import needs an empty one".into(),
            ));
        }
        let mut state = State::default();
        let mut batch = sled::Batch::default();
        for (i, event) in export.events.iter().enumerate() {
            if event.id != EventId(i as u64 + 1) {
                return Err(LedgerError::Corrupt(format!(
                    "event ids must run 1, 2, …; found {} at position {}",
                    event.id,
                    i + 1
                )));
            }
            if event.v > SCHEMA {
                return Err(LedgerError::Corrupt(format!(
                    "event {} has schema {} (newer than {SCHEMA})",
                    event.id, event.v
                )));
            }
            state.apply(event);
            batch.insert(key(EVENT, event.id.0), encode(event));
        }
        if state != export.state {
            return Err(LedgerError::Corrupt(
                "the exported state does not match its events".into(),
            ));
        }
        for family in Family::ALL {
            batch.insert(view_key(family), encode(&state.view(family)));
        }
        for entry in &export.outbox {
            batch.insert(key(OUTBOX, entry.seq), encode(entry));
        }
        self.tree
            .apply_batch(batch)
            .map_err(|e| LedgerError::Write(e.to_string()))?;
        self.tree
            .flush()
            .map_err(|e| LedgerError::Write(e.to_string()))?;
        Ok(())
    }

    /// The whole state for backup: events, the state they produce, and the
    /// undelivered outbox.
    pub fn export(&self) -> Result<Export, LedgerError> {
        Ok(Export {
            format: "signalbox-export".to_string(),
            schema: SCHEMA,
            state: (*self.state()).clone(),
            events: self.events()?,
            outbox: outbox_in(&self.tree, None)?,
        })
    }
}

/// A full backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Export {
    pub format: String,
    pub schema: u32,
    pub state: State,
    pub events: Vec<Event>,
    pub outbox: Vec<OutboxEntry>,
}

/// The event log as [`History`]: events of the batch being decided (not yet
/// written) first, then the stored log, newest first.
pub struct StoredHistory<'a> {
    tree: &'a sled::Tree,
    pending: &'a [Event],
}

impl History for StoredHistory<'_> {
    fn newest_first(&self, visit: &mut dyn FnMut(&Event) -> bool) {
        for event in self.pending.iter().rev() {
            if !visit(event) {
                return;
            }
        }
        for kv in self.tree.scan_prefix(EVENT).rev() {
            let Ok((_, value)) = kv else {
                tracing::error!("event log read failed");
                return;
            };
            match serde_json::from_slice::<Event>(&value) {
                Ok(event) => {
                    if !visit(&event) {
                        return;
                    }
                }
                Err(e) => tracing::error!("unreadable event skipped: {e}"),
            }
        }
    }
}

/// Message ids of recent reads (decisions without changes), in memory and
/// bounded: a redelivered read is not answered twice while the bot runs.
#[derive(Default)]
struct RecentReads {
    ids: std::collections::HashSet<Vec<u8>>,
    order: std::collections::VecDeque<Vec<u8>>,
}

impl RecentReads {
    /// How many read ids are remembered.
    const CAPACITY: usize = 16_384;

    fn contains(&self, k: &[u8]) -> bool {
        self.ids.contains(k)
    }

    /// Remembers `k`; false if it was remembered already.
    fn insert(&mut self, k: Vec<u8>) -> bool {
        if !self.ids.insert(k.clone()) {
            return false;
        }
        self.order.push_back(k);
        while self.order.len() > Self::CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
        true
    }
}

/// Counts a decision on its way to the writer until it is answered (or its
/// caller gives up).
struct InFlight<'a>(&'a AtomicU64);

impl<'a> InFlight<'a> {
    fn new(count: &'a AtomicU64) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The recent reads, locked only for a lookup or an insert (never while a
/// decision runs).
fn lock(reads: &Mutex<RecentReads>) -> std::sync::MutexGuard<'_, RecentReads> {
    reads
        .lock()
        .expect("the recent-reads lock is never poisoned: no panics while held")
}

struct Writer {
    db: sled::Db,
    reads: Arc<Mutex<RecentReads>>,
    next_event: Arc<AtomicU64>,
    tree: sled::Tree,
    rx: mpsc::Receiver<Request>,
    state_tx: watch::Sender<Arc<State>>,
    next_id: u64,
    next_outbox: u64,
    healthy: Arc<AtomicBool>,
    stats: Arc<Stats>,
    outbox_changed: Arc<tokio::sync::Notify>,
    durable_outbox: Arc<AtomicU64>,
}

impl Writer {
    fn run(mut self) {
        while let Some(first) = self.rx.blocking_recv() {
            let mut decisions = Vec::new();
            let mut writes = Vec::new();
            let mut next = Some(first);
            while let Some(request) = next.take() {
                match request {
                    Request::Decide(d) => decisions.push(d),
                    Request::Outbox(write, done) => writes.push((write, done)),
                    Request::Read(read) => {
                        self.commit(std::mem::take(&mut decisions), std::mem::take(&mut writes));
                        read(Committed {
                            state: self.state_tx.borrow().clone(),
                            tree: &self.tree,
                            last_event: self.next_id - 1,
                        });
                    }
                }
                if decisions.len() + writes.len() < MAX_BATCH {
                    next = self.rx.try_recv().ok();
                }
            }
            self.commit(decisions, writes);
        }
    }

    fn commit(&mut self, decisions: Vec<Decision>, writes: Vec<(OutboxWrite, Done)>) {
        let current = self.state_tx.borrow().clone();
        let mut next: State = (*current).clone();
        let mut events: Vec<Event> = Vec::new();
        let mut outbox: Vec<OutboxEntry> = Vec::new();
        let mut done: Vec<Done> = Vec::with_capacity(decisions.len());
        let mut next_id = self.next_id;
        let mut next_outbox = self.next_outbox;
        let healthy = self.healthy.load(Ordering::SeqCst);
        let mut seen: Vec<Vec<u8>> = Vec::new();
        self.stats
            .decisions
            .fetch_add(decisions.len() as u64, Ordering::Relaxed);
        for Decision { once, decide } in decisions {
            let once = once.map(|once| seen_key(&once));
            if let Some(k) = &once {
                let known = seen.contains(k)
                    || lock(&self.reads).contains(k)
                    || self.tree.contains_key(k).unwrap_or(false);
                if known {
                    // The decision is pure; running it only to reach its
                    // reply callback costs nothing and records nothing.
                    let history = StoredHistory {
                        tree: &self.tree,
                        pending: &events,
                    };
                    let (_, reply) = decide(&next, &history, EventId(0));
                    reply(Err(LedgerError::Duplicate));
                    continue;
                }
            }
            let history = StoredHistory {
                tree: &self.tree,
                pending: &events,
            };
            let (draft, reply) = decide(&next, &history, EventId(next_id));
            let draft = draft.filter(|d| !d.changes.is_empty());
            if let Some(draft) = draft {
                if !healthy {
                    reply(Err(LedgerError::Write(
                        "an earlier write failed; changes are refused".into(),
                    )));
                    continue;
                }
                let event = Event {
                    v: SCHEMA,
                    id: EventId(next_id),
                    at: draft.at,
                    actor: draft.actor,
                    changes: draft.changes,
                };
                next.apply(&event);
                for (to, text) in draft.outbox {
                    outbox.push(OutboxEntry {
                        seq: next_outbox,
                        event: event.id,
                        to,
                        text,
                        created: event.at,
                        in_flight: false,
                    });
                    next_outbox += 1;
                }
                next_id += 1;
                events.push(event);
                // A change's message id is recorded durably with its event,
                // so a redelivery runs once even across a restart.
                seen.extend(once);
            } else if let Some(k) = once {
                // A read's only in memory: it costs no disk write, and a
                // redelivery is answered again only after a restart.
                lock(&self.reads).insert(k);
            }
            done.push(reply);
        }
        let writes: Vec<OutboxWrite> = if healthy {
            writes
                .into_iter()
                .map(|(write, reply)| {
                    done.push(reply);
                    write
                })
                .collect()
        } else {
            for (_, reply) in writes {
                reply(Err(LedgerError::Write(
                    "an earlier write failed; the outbox is left as it is".into(),
                )));
            }
            Vec::new()
        };
        if events.is_empty() && seen.is_empty() && writes.is_empty() {
            done.into_iter().for_each(|d| d(Ok(())));
            return;
        }
        let mut batch = sled::Batch::default();
        let stamp = Utc::now().timestamp().to_be_bytes();
        for k in &seen {
            batch.insert(k.clone(), stamp.to_vec());
        }
        let mut families = BTreeSet::new();
        for event in &events {
            batch.insert(key(EVENT, event.id.0), encode(event));
            families.extend(event.changes.iter().map(Change::family));
        }
        // What the batch overwrites, to take it back if the flush fails.
        let mut undo = sled::Batch::default();
        for family in families {
            let k = view_key(family);
            match self.tree.get(&k) {
                Ok(Some(old)) => undo.insert(k.clone(), old),
                _ => undo.remove(k.clone()),
            }
            batch.insert(k, encode(&next.view(family)));
        }
        for entry in &outbox {
            batch.insert(key(OUTBOX, entry.seq), encode(entry));
            undo.remove(key(OUTBOX, entry.seq));
        }
        for event in &events {
            undo.remove(key(EVENT, event.id.0));
        }
        for write in &writes {
            let (k, new) = match write {
                OutboxWrite::Remove(seq) => (key(OUTBOX, *seq), None),
                OutboxWrite::MarkInFlight(entry) => (key(OUTBOX, entry.seq), Some(encode(entry))),
            };
            match self.tree.get(&k) {
                Ok(Some(old)) => undo.insert(k.clone(), old),
                _ => undo.remove(k.clone()),
            }
            match new {
                Some(value) => batch.insert(k, value),
                None => batch.remove(k),
            }
        }
        let started = std::time::Instant::now();
        let written = self
            .tree
            .apply_batch(batch)
            .and_then(|()| self.db.flush().map(|_| ()));
        self.stats
            .flush_micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        match written {
            Ok(()) => {
                self.next_id = next_id;
                self.next_event.store(next_id, Ordering::SeqCst);
                self.next_outbox = next_outbox;
                self.durable_outbox.store(next_outbox, Ordering::SeqCst);
                crate::metrics::ledger_batch(events.len(), started.elapsed());
                self.stats.batches.fetch_add(1, Ordering::Relaxed);
                self.stats.flushes.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .events
                    .fetch_add(events.len() as u64, Ordering::Relaxed);
                self.state_tx.send_replace(Arc::new(next));
                if !outbox.is_empty() {
                    self.outbox_changed.notify_waiters();
                }
                done.into_iter().for_each(|d| d(Ok(())));
            }
            Err(e) => {
                tracing::error!("ledger write failed: {e}; refusing further changes");
                // The batch is in sled's memory, though not on disk: take it
                // back, so that neither the outbox (which would announce a
                // refused change) nor a later background flush (should the
                // disk recover) sees it. Message ids seen in the batch go too.
                for k in seen {
                    undo.remove(k);
                }
                if let Err(e) = self.tree.apply_batch(undo) {
                    tracing::error!("cannot take back the failed batch: {e}");
                }
                self.healthy.store(false, Ordering::SeqCst);
                crate::metrics::ledger_failed();
                let err = LedgerError::Write(e.to_string());
                done.into_iter().for_each(|d| d(Err(err.clone())));
            }
        }
    }
}

/// Undelivered outbox entries as stored, oldest first, for one network or
/// all.
fn outbox_in(
    tree: &sled::Tree,
    network: Option<signalbox_commands::Network>,
) -> Result<Vec<OutboxEntry>, LedgerError> {
    let mut out = Vec::new();
    for kv in tree.scan_prefix(OUTBOX) {
        let (_, v) = kv.map_err(|e| LedgerError::Corrupt(e.to_string()))?;
        let entry: OutboxEntry =
            serde_json::from_slice(&v).map_err(|e| LedgerError::Corrupt(e.to_string()))?;
        if network.is_none_or(|n| entry.to.network() == n) {
            out.push(entry);
        }
    }
    Ok(out)
}

/// Opens sled, waiting a little for a previous holder of the directory lock
/// (a bot that is still shutting down) before giving up.
fn open_db(dir: &Path) -> Result<sled::Db, LedgerError> {
    let mut attempts = 0;
    loop {
        match sled::Config::new().path(dir).open() {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(e))
                if e.kind() == std::io::ErrorKind::WouldBlock || e.to_string().contains("lock") =>
            {
                attempts += 1;
                if attempts >= 60 {
                    return Err(LedgerError::Write(format!(
                        "data directory {} is in use by another signalbox process",
                        dir.display()
                    )));
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => {
                return Err(LedgerError::Write(format!(
                    "cannot open {}: {e}",
                    dir.display()
                )));
            }
        }
    }
}

fn key(prefix: &[u8], id: u64) -> Vec<u8> {
    let mut k = prefix.to_vec();
    k.extend_from_slice(&id.to_be_bytes());
    k
}

fn seen_key(once: &str) -> Vec<u8> {
    let mut k = SEEN.to_vec();
    k.extend_from_slice(once.as_bytes());
    k
}

/// Forgets handled message ids older than [`SEEN_FOR`].
fn prune_seen(tree: &sled::Tree) -> Result<(), LedgerError> {
    let horizon = (Utc::now() - SEEN_FOR).timestamp();
    let mut batch = sled::Batch::default();
    for kv in tree.scan_prefix(SEEN) {
        let (k, v) = kv.map_err(|e| LedgerError::Corrupt(e.to_string()))?;
        let stamp = <[u8; 8]>::try_from(v.as_ref())
            .map(i64::from_be_bytes)
            .unwrap_or(0);
        if stamp < horizon {
            batch.remove(k);
        }
    }
    tree.apply_batch(batch)
        .map_err(|e| LedgerError::Write(e.to_string()))
}

fn view_key(family: Family) -> Vec<u8> {
    let mut k = VIEW.to_vec();
    k.extend_from_slice(family.as_str().as_bytes());
    k
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("ledger records are plain data and always serialize")
}

fn last_id(tree: &sled::Tree, prefix: &[u8]) -> Result<u64, LedgerError> {
    match tree.scan_prefix(prefix).next_back() {
        None => Ok(0),
        Some(kv) => {
            let (k, _) = kv.map_err(|e| LedgerError::Corrupt(e.to_string()))?;
            let bytes: [u8; 8] = k[prefix.len()..]
                .try_into()
                .map_err(|_| LedgerError::Corrupt(format!("malformed key {k:?}")))?;
            Ok(u64::from_be_bytes(bytes))
        }
    }
}

/// Loads the views; a view that is missing (say, a family added by a newer
/// build) is rebuilt by replaying the log.
fn load_state(tree: &sled::Tree) -> Result<State, LedgerError> {
    let mut state = State::default();
    let mut missing = false;
    let has_events = tree.scan_prefix(EVENT).next().is_some();
    for family in Family::ALL {
        match tree
            .get(view_key(family))
            .map_err(|e| LedgerError::Corrupt(e.to_string()))?
        {
            Some(bytes) => {
                let value = serde_json::from_slice(&bytes)
                    .map_err(|e| LedgerError::Corrupt(format!("view {}: {e}", family.as_str())))?;
                state
                    .load_view(family, value)
                    .map_err(|e| LedgerError::Corrupt(format!("view {}: {e}", family.as_str())))?;
            }
            None => missing = true,
        }
    }
    if missing && has_events {
        state = State::default();
        for kv in tree.scan_prefix(EVENT) {
            let (_, v) = kv.map_err(|e| LedgerError::Corrupt(e.to_string()))?;
            let event: Event =
                serde_json::from_slice(&v).map_err(|e| LedgerError::Corrupt(e.to_string()))?;
            if event.v > SCHEMA {
                return Err(LedgerError::Corrupt(format!(
                    "event {} was written by a newer signalbox (schema {})",
                    event.id, event.v
                )));
            }
            state.apply(&event);
        }
    }
    Ok(state)
}
