//! All of landing a batch that needs no database: the domain's judgement of
//! every message ([`Plan::of`]: decode, validate, score) and its readings
//! encoded as binary `COPY` tuples. It is pure CPU work, so a consumer does
//! it for the next batch while the previous batch's transaction runs,
//! instead of in series with it (BENCHMARKS.md, "plan while the previous
//! batch lands").

use vitals::{Plan, Received};

use super::columns::{ReadingColumns, ReadingRow, Source};
use super::copy::{CopyRows, Tuples};
use super::{Inbound, Topics};

/// A batch judged and encoded, ready to land ([`super::land_prepared`]).
pub struct Prepared {
    topics: Topics,
    messages: Vec<Inbound>,
    plan: Plan,
    /// Every reading of the plan (in [`Plan::readings`] order) as one COPY
    /// tuple; or why a value could not be encoded, reported when landing.
    tuples: Result<Tuples, String>,
}

impl Prepared {
    /// Judges and encodes `messages`, in pure code.
    pub fn of(topics: &Topics, messages: Vec<Inbound>) -> Prepared {
        let received: Vec<Received<'_>> = messages
            .iter()
            .map(|m| Received {
                channel: topics.channel(&m.topic),
                payload: &m.payload,
                headers: &m.headers,
                received_at: m.received_at,
            })
            .collect();
        let plan = Plan::of(&received);
        drop(received);
        let tuples = encode(&plan, &messages);
        Prepared { topics: topics.clone(), messages, plan, tuples }
    }

    /// The batch's messages, in the order consumed.
    pub fn messages(&self) -> &[Inbound] {
        &self.messages
    }

    /// Which topic carries what, as the batch was judged.
    pub fn topics(&self) -> &Topics {
        &self.topics
    }

    pub(super) fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The COPY stream of the readings at `positions` of [`Plan::readings`]
    /// (ascending), or of all of them when `positions` is every one.
    pub(super) fn copy_stream(&self, positions: &[usize]) -> crate::Result<std::borrow::Cow<'_, [u8]>> {
        let tuples = self.tuples.as_ref().map_err(|e| crate::Error::Encode(e.clone()))?;
        Ok(tuples.stream(positions))
    }

    /// The readings at `positions` of [`Plan::readings`], as rows to write,
    /// each with its message's index.
    pub(super) fn rows(&self, positions: &[usize]) -> Vec<(usize, ReadingRow<'_>)> {
        rows_of(&self.plan, &self.messages, positions)
    }
}

/// The readings at `positions` of `plan`'s [`Plan::readings`] (the plan of
/// `messages`), as rows to write, each with its message's index.
pub(super) fn rows_of<'a>(
    plan: &'a Plan,
    messages: &'a [Inbound],
    positions: &[usize],
) -> Vec<(usize, ReadingRow<'a>)> {
    positions.iter().filter_map(|&k| row(plan, messages, *plan.readings.get(k)?)).collect()
}

fn row<'a>(plan: &'a Plan, messages: &'a [Inbound], i: usize) -> Option<(usize, ReadingRow<'a>)> {
    let m = messages.get(i)?;
    let source = Source { topic: &m.topic, partition: m.partition, offset: m.offset };
    Some((i, ReadingRow { scored: plan.reading(i)?, source }))
}

/// Every reading of `plan` (the plan of `messages`), in [`Plan::readings`]
/// order, as one binary COPY tuple.
pub(super) fn encode(plan: &Plan, messages: &[Inbound]) -> Result<Tuples, String> {
    let rows: Vec<ReadingRow<'_>> =
        plan.readings.iter().filter_map(|&i| row(plan, messages, i)).map(|(_, r)| r).collect();
    let columns = ReadingColumns::of(&rows);
    let mut out = CopyRows::new();
    for i in 0..rows.len() {
        columns.copy_row(i, &mut out).map_err(|e| e.to_string())?;
        out.end_tuple();
    }
    Ok(out.finish_tuples())
}
