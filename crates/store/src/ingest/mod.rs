//! Landing consumed messages. A batch flows one way:
//!
//! 1. the domain judges every message in pure code ([`vitals::Plan`]:
//!    decode, validate, score, trace context) and its readings are encoded
//!    for `COPY` ([`Prepared`]: no I/O, so a consumer does it while the
//!    previous batch lands), and
//! 2. one transaction carries the plan out ([`landing`]), each message's fate
//!    taken from what the statements return:
//!
//! - **stored**: a valid reading of a known patient, in `vital_signs`;
//! - **duplicate**: already stored or parked (a redelivered batch);
//! - **queued**: a valid reading of a patient not known yet, in `ingest_queue`
//!   byte for byte until the patient's admission lands (same transaction) or
//!   a sweep runs ([`promotion`]);
//! - **quarantined**: a message that can never be stored, byte for byte with
//!   the reason, in `ingest_quarantine` ([`quarantine`]);
//! - **admitted** / **unchanged**: an admission that changed its patient, or
//!   said nothing new.
//!
//! One file per idea: [`prepared`] (the batch judged and encoded),
//! [`landing`] (the transaction and its order),
//! [`patients`] (admissions and registrations, locked in one order),
//! [`columns`] (the one table of a reading's columns), [`copy`] (the binary
//! COPY format), [`readings`] (COPY fast path, idempotent fallback,
//! conflicts), [`queue`] (parking), [`promotion`], [`quarantine`], [`raw`]
//! (a message's bytes as they are kept).

mod columns;
mod copy;
mod landing;
mod patients;
mod prepared;
mod promotion;
mod quarantine;
mod queue;
mod raw;
mod readings;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use vitals::Channel;

pub use landing::{land, land_in, land_prepared};
pub use prepared::Prepared;
pub use promotion::sweep;
pub use queue::{QueueStats, queue_stats};

/// One consumed Kafka message, copied out of the client.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub payload: Vec<u8>,
    pub received_at: DateTime<Utc>,
}

/// Which topic carries what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    pub vitals: String,
    pub patients: String,
}

impl Default for Topics {
    fn default() -> Self {
        Topics { vitals: vitals::wire::VITALS_TOPIC.into(), patients: vitals::wire::PATIENTS_TOPIC.into() }
    }
}

impl Topics {
    fn channel<'a>(&self, topic: &'a str) -> Channel<'a> {
        if topic == self.vitals {
            Channel::Readings
        } else if topic == self.patients {
            Channel::Admissions
        } else {
            Channel::Unknown(topic)
        }
    }
}

/// The quarantine kind of a reading that lost to a different one at the same instant.
pub const CONFLICT: &str = "conflict";

/// The quarantine kind of a message PostgreSQL itself refused.
pub const REFUSED_BY_DATABASE: &str = "refused_by_database";

/// What became of one message of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// An admission that created or changed its patient.
    Admitted,
    /// An admission that said nothing new (a redelivery, or a later one in
    /// the same batch said otherwise).
    Unchanged,
    Stored,
    Duplicate,
    Queued,
    /// With its quarantine kind.
    Quarantined(&'static str),
}

impl Fate {
    /// A short, stable label (for spans and logs).
    pub fn label(self) -> &'static str {
        match self {
            Fate::Admitted => "admitted",
            Fate::Unchanged => "unchanged",
            Fate::Stored => "stored",
            Fate::Duplicate => "duplicate",
            Fate::Queued => "queued",
            Fate::Quarantined(_) => "quarantined",
        }
    }
}

/// What became of a batch: each message's fate, and what parked readings
/// its patients' arrival promoted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Landed {
    pub admitted: u64,
    pub stored: u64,
    /// Readings already stored or parked (messages of the batch, and parked
    /// readings found stored when promoted).
    pub duplicates: u64,
    pub queued: u64,
    pub promoted: u64,
    /// Quarantined messages by kind (`DecodeError::kind`, `unknown_topic`,
    /// `conflict`, `refused_by_database`).
    pub quarantined: BTreeMap<&'static str, u64>,
    /// One per message of the batch, in batch order (empty for a sweep).
    pub fates: Vec<Fate>,
    /// When each reading written here was measured (the batch's own and
    /// promoted ones): its freshness at commit, for the metrics.
    pub measured: Vec<DateTime<Utc>>,
    /// The trace context each promoted reading's message carried (those
    /// that carried one), so that its promotion can join its trace.
    pub promoted_traces: Vec<vitals::TraceContext>,
}

impl Landed {
    /// Counts the fates of a batch's messages.
    fn of_fates(fates: Vec<Fate>) -> Landed {
        let mut landed = Landed::default();
        for fate in &fates {
            match fate {
                Fate::Admitted => landed.admitted += 1,
                Fate::Unchanged => {}
                Fate::Stored => landed.stored += 1,
                Fate::Duplicate => landed.duplicates += 1,
                Fate::Queued => landed.queued += 1,
                Fate::Quarantined(kind) => *landed.quarantined.entry(kind).or_default() += 1,
            }
        }
        landed.fates = fates;
        landed
    }

    /// Adds another part of the same batch (a half, or a promotion) to this one.
    fn absorb(&mut self, other: Landed) {
        self.admitted += other.admitted;
        self.stored += other.stored;
        self.duplicates += other.duplicates;
        self.queued += other.queued;
        self.promoted += other.promoted;
        for (kind, n) in other.quarantined {
            *self.quarantined.entry(kind).or_default() += n;
        }
        self.fates.extend(other.fates);
        self.measured.extend(other.measured);
        self.promoted_traces.extend(other.promoted_traces);
    }
}
