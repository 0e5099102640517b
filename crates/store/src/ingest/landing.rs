//! One batch, one transaction: the domain's plan carried out in a fixed
//! order, each message's fate taken from what the statements return.
//!
//! 1. the batch's patients are made known (admissions, registrations);
//! 2. readings parked earlier for the patients it inserted are promoted:
//!    they came first, so at an instant both claim, the parked one stands;
//! 3. readings of known patients are written;
//! 4. readings of patients still unknown are parked;
//! 5. what can never be stored is quarantined.

use std::future::Future;
use std::pin::Pin;

use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;
use vitals::Verdict;

use super::promotion::{PROMOTION_LIMIT, promote};
use super::quarantine::{Rejected, conflict_reason, quarantine};
use super::readings::{Written, write};
use super::{CONFLICT, Fate, Inbound, Landed, Prepared, REFUSED_BY_DATABASE, Topics, patients, queue};
use crate::Result;

/// Lands a batch in one transaction. Idempotent: landing the same batch again
/// changes nothing and reports the readings as duplicates.
pub async fn land(pool: &PgPool, topics: &Topics, batch: &[Inbound]) -> Result<Landed> {
    land_prepared(pool, &Prepared::of(topics, batch.to_vec())).await
}

/// [`land`] of a batch prepared ahead ([`Prepared::of`]).
///
/// The domain foresees what PostgreSQL would refuse (payloads are kept as
/// bytes, names and text fields are checked), so a refusal is not expected.
/// Should PostgreSQL still refuse a value (a data exception, SQLSTATE class
/// 22), the batch is landed in halves, recursively, until the refused message
/// stands alone and is quarantined as `refused_by_database`: one bad message
/// never blocks its partition, and costs O(log n) extra transactions.
#[tracing::instrument(skip_all)]
pub async fn land_prepared(pool: &PgPool, batch: &Prepared) -> Result<Landed> {
    match land_once(pool, batch).await {
        Err(e) if e.is_refused_data() => isolate(pool, batch.topics(), batch.messages(), e).await,
        landed => landed,
    }
}

async fn land_once(pool: &PgPool, batch: &Prepared) -> Result<Landed> {
    let mut tx = pool.begin().await?;
    let landed = land_in(&mut tx, batch).await?;
    tx.commit().await?;
    Ok(landed)
}

/// After PostgreSQL refused `batch` (`refused`): quarantines it if it is one
/// message, else lands its halves the same way (boxed: it recurses).
fn isolate<'a>(
    pool: &'a PgPool,
    topics: &'a Topics,
    batch: &'a [Inbound],
    refused: crate::Error,
) -> Pin<Box<dyn Future<Output = Result<Landed>> + Send + 'a>> {
    Box::pin(async move {
        let [message] = batch else {
            let (first, second) = batch.split_at(batch.len() / 2);
            // Rare, so the halves are simply prepared again.
            let mut landed = land_prepared(pool, &Prepared::of(topics, first.to_vec())).await?;
            landed.absorb(land_prepared(pool, &Prepared::of(topics, second.to_vec())).await?);
            return Ok(landed);
        };
        tracing::warn!(error = %refused, topic = message.topic, partition = message.partition,
            offset = message.offset, "PostgreSQL refused a message; quarantined");
        let reason = format!("PostgreSQL refused a value of this message: {}", refused.database_message());
        let mut tx = pool.begin().await?;
        quarantine(&mut tx, &[Rejected { message, kind: REFUSED_BY_DATABASE, reason }]).await?;
        tx.commit().await?;
        Ok(Landed::of_fates(vec![Fate::Quarantined(REFUSED_BY_DATABASE)]))
    })
}

/// [`land_prepared`] inside a transaction the caller commits.
pub async fn land_in(tx: &mut Transaction<'_, Postgres>, prepared: &Prepared) -> Result<Landed> {
    let (plan, batch) = (prepared.plan(), prepared.messages());
    let mut fates: Vec<Fate> = vec![Fate::Unchanged; batch.len()];
    let mut rejected: Vec<Rejected<'_>> = Vec::new();
    for (i, verdict) in plan.verdicts.iter().enumerate() {
        if let Verdict::Rejected(r) = verdict {
            fates[i] = Fate::Quarantined(r.kind);
            rejected.push(Rejected { message: &batch[i], kind: r.kind, reason: r.reason.clone() });
        }
    }

    let made_known = patients::make_known(tx, &plan.patients).await?;
    for record in &plan.patients {
        if let Some(i) = record.admission
            && made_known.admitted.binary_search(&record.patient).is_ok()
        {
            fates[i] = Fate::Admitted;
        }
    }

    // Readings wait in the queue only for patients not known when they were
    // parked: those this transaction just inserted. (One parked by another
    // replica's transaction that could not see this patient's commit yet is
    // the sweep's.) Batches of known patients skip the statement.
    let arrived = &made_known.inserted;
    let promoted =
        if arrived.is_empty() { Landed::default() } else { promote(tx, Some(arrived), PROMOTION_LIMIT).await? };

    // Readings that name their patient registered it above; the others'
    // patients may or may not be known.
    let mut nameless: Vec<Uuid> = plan
        .readings
        .iter()
        .filter_map(|&i| plan.reading(i))
        .filter(|s| s.reading.name.is_none())
        .map(|s| s.reading.patient)
        .collect();
    nameless.dedup();
    let known = patients::known(tx, &nameless).await?;
    // Positions in `plan.readings` (whose order the encoded COPY tuples follow).
    let (to_write, to_park): (Vec<usize>, Vec<usize>) = (0..plan.readings.len()).partition(|&k| {
        plan.reading(plan.readings[k])
            .is_some_and(|s| s.reading.name.is_some() || known.binary_search(&s.reading.patient).is_ok())
    });

    let (indices, rows): (Vec<usize>, Vec<_>) = prepared.rows(&to_write).into_iter().unzip();
    let copy = prepared.copy_stream(&to_write)?;
    let mut measured = Vec::with_capacity(rows.len());
    for (written, i) in write(tx, &rows, &copy).await?.into_iter().zip(indices) {
        fates[i] = match written {
            Written::Stored => {
                measured.extend(plan.reading(i).map(|s| s.reading.measured_at));
                Fate::Stored
            }
            Written::Duplicate => Fate::Duplicate,
            Written::Conflict => {
                let reason = plan.reading(i).map(|s| conflict_reason(&s.reading)).unwrap_or_default();
                rejected.push(Rejected { message: &batch[i], kind: CONFLICT, reason });
                Fate::Quarantined(CONFLICT)
            }
        };
    }

    let to_park: Vec<usize> = to_park.into_iter().map(|k| plan.readings[k]).collect();
    let parking: Vec<(Uuid, &Inbound)> =
        to_park.iter().filter_map(|&i| Some((plan.reading(i)?.reading.patient, &batch[i]))).collect();
    for (parked_now, &i) in queue::park(tx, &parking).await?.into_iter().zip(&to_park) {
        fates[i] = if parked_now { Fate::Queued } else { Fate::Duplicate };
    }

    quarantine(tx, &rejected).await?;
    let mut landed = Landed::of_fates(fates);
    landed.measured = measured;
    landed.absorb(promoted);
    Ok(landed)
}
