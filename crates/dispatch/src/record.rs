//! Writing a batch of results: each message's final status or next attempt, and each
//! token's new quarantine state, in one transaction.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pushgate_outcome::{FailureReason, FailureType, MessageStatus};
use pushgate_quarantine::{AddressState, Effect, SendOutcome, apply};
use pushgate_store::Address;
use pushgate_store::queue::{Claimed, Lease, MessageResult, VALIDITY_ENDED_TEXT};
use tokio::sync::OwnedSemaphorePermit;
use tracing::warn;

use crate::error::DispatchError;
use crate::metrics;
use crate::pipeline::{DeliveryEntry, Inner, outcome_label};
use crate::retry::{Disposition, disposition};
use crate::sender::SendReport;

/// What became of one attempt.
pub(crate) enum Attempt {
    /// The provider answered (or a pre-send problem stood for its answer).
    Sent(SendReport),
    /// The validity period ended before the attempt: nothing was sent.
    Expired,
    /// pushgate could not send it at all (no sender for the app...).
    Unavailable(String),
}

/// An attempt waiting to be written; its permit holds its place in flight until then.
pub(crate) struct Done {
    pub(crate) message: Claimed,
    pub(crate) entry: Arc<DeliveryEntry>,
    pub(crate) attempt: Attempt,
    pub(crate) elapsed: Duration,
    pub(crate) permit: OwnedSemaphorePermit,
}

/// A written batch: the messages claimed in its transaction, and its permits, which the
/// caller hands on to those messages or drops.
pub(crate) struct Written {
    pub(crate) claimed: Vec<Claimed>,
    pub(crate) permits: Vec<OwnedSemaphorePermit>,
}

/// Writes a batch in one transaction and, in the same transaction, claims up to `claim`
/// due messages (so that the places in flight its results free are taken again without a
/// transaction of their own). On a database error the batch comes back with it, so that
/// the caller can try again.
pub(crate) async fn write_batch(
    inner: &Inner,
    batch: Vec<Done>,
    claim: usize,
) -> Result<Written, (DispatchError, Vec<Done>)> {
    let started = Instant::now();
    match write(inner, &batch, claim).await {
        Ok(claimed) => {
            metrics::record_result_write(started.elapsed());
            Ok(Written {
                claimed,
                permits: batch.into_iter().map(|done| done.permit).collect(),
            })
        }
        Err(error) => Err((error, batch)),
    }
}

async fn write(inner: &Inner, batch: &[Done], claim: usize) -> Result<Vec<Claimed>, DispatchError> {
    let now = inner.clock.now();
    let mut tx = inner.store.begin_results(&inner.owner).await?;

    // The current state of every token the batch sent to (locked until commit).
    let sent = batch
        .iter()
        .filter(|done| matches!(done.attempt, Attempt::Sent(_)))
        .map(|done| (done.entry.app_id.as_str(), done.message.token.as_str()));
    // By app, then token: looked up by reference, with nothing allocated for the tokens
    // (nearly all) that have no row and keep none.
    let mut addresses: HashMap<String, HashMap<String, Address>> = HashMap::new();
    for ((app_id, token), address) in tx.lock_addresses_of(sent).await? {
        addresses.entry(app_id).or_default().insert(token, address);
    }

    let mut changed: HashMap<(String, String), Address> = HashMap::new();
    let mut results = Vec::with_capacity(batch.len());
    // The sends to count once the results are committed (a batch written again after an
    // error counts them once).
    let mut sends = Vec::with_capacity(batch.len());
    for done in batch {
        let message = &done.message;
        let attempts = u32::try_from(message.attempts).unwrap_or(u32::MAX);
        let result = match &done.attempt {
            Attempt::Expired => failed_without_answer(message, VALIDITY_ENDED_TEXT),
            Attempt::Unavailable(reason) => failed_without_answer(message, reason),
            Attempt::Sent(report) => {
                let (app_id, token) = (&done.entry.app_id, &message.token);
                let current = addresses.get(app_id).and_then(|tokens| tokens.get(token));
                let valid;
                let current_state = match current {
                    Some(address) => &address.state,
                    None => {
                        valid = AddressState::valid(now);
                        &valid
                    }
                };
                let outcome = SendOutcome::from_classification(&report.classification);
                let (state, effect) = apply(current_state, &outcome, now, &inner.quarantine);
                // What later results of this batch for the token are applied to.
                let excluded = state.status.is_excluded();
                if state != *current_state {
                    let address = Address {
                        app_id: app_id.clone(),
                        token: token.clone(),
                        state,
                        unregistered_at: report
                            .unregistered_at
                            .or(current.and_then(|a| a.unregistered_at)),
                    };
                    addresses
                        .entry(app_id.clone())
                        .or_default()
                        .insert(token.clone(), address.clone());
                    changed.insert((app_id.clone(), token.clone()), address);
                }
                let classification = &report.classification;
                let (status, next_attempt_at) = match disposition(
                    classification,
                    attempts,
                    report.retry_after,
                    now,
                    done.entry.expires_at,
                    &inner.retry,
                )
                .for_address(excluded)
                {
                    Disposition::Final(status) => (status, None),
                    Disposition::RetryAt(at) => (MessageStatus::Retry, Some(at)),
                };
                // An allowlisted address: the error is ignored (reason 25) for the address.
                let (failure_type, failure_reason) = if effect == Effect::ErrorIgnored {
                    (
                        Some(FailureType::Ignored),
                        Some(FailureReason::ErrorIgnored),
                    )
                } else {
                    (
                        classification.failure_type(),
                        classification.failure_reason(),
                    )
                };
                sends.push(metrics::SendRecord {
                    app: &done.entry.app_id,
                    platform: done.entry.platform,
                    outcome: outcome_label(classification.id(), status),
                    elapsed: done.elapsed,
                    quarantined: effect == Effect::Quarantined,
                });
                MessageResult {
                    id: message.id,
                    attempts: message.attempts,
                    lease: message.lease,
                    status,
                    next_attempt_at,
                    provider_id: report.provider_id.clone(),
                    outcome_id: classification.id(),
                    failure_type,
                    failure_reason,
                    error_text: classification.error_message().map(str::to_owned),
                    quarantined: effect == Effect::Quarantined,
                    no_answer: false,
                }
            }
        };
        results.push(result);
    }

    // The range leases whose last outstanding message is in this batch.
    let mut in_batch: HashMap<i64, usize> = HashMap::new();
    for done in batch {
        if let Lease::Range(id) = done.message.lease {
            *in_batch.entry(id).or_default() += 1;
        }
    }
    let finished: Vec<i64> = {
        let held = inner.leases.lock().unwrap_or_else(|p| p.into_inner());
        in_batch
            .iter()
            .filter(|(id, n)| held.get(id).is_some_and(|left| left <= n))
            .map(|(id, _)| *id)
            .collect()
    };

    let changed: Vec<Address> = changed.into_values().collect();
    tx.write_addresses(&changed, now).await?;
    tx.write_results(&results, now).await?;
    tx.release_leases(&finished).await?;
    let mut deliveries: Vec<&str> = batch
        .iter()
        .map(|d| d.message.delivery_id.as_str())
        .collect();
    deliveries.sort_unstable();
    deliveries.dedup();
    let claimed = if claim > 0 {
        tx.claim(claim as i64, inner.lease(), now).await?
    } else {
        Vec::new()
    };
    // Alone, this transaction sees every other result of its deliveries. Beside others it
    // sees none of theirs until they commit: the deliveries are finished after the commit,
    // when the last transaction to commit sees them all.
    let alone = inner.result_writers() == 1;
    if alone {
        // A delivery the claim has just taken messages of is not complete (they await
        // their results): under load, nearly always the batch's own delivery.
        let open: HashSet<&str> = claimed.iter().map(|c| c.delivery_id.as_str()).collect();
        let finishing: Vec<&str> = deliveries
            .iter()
            .copied()
            .filter(|id| !open.contains(id))
            .collect();
        tx.finish_deliveries(&finishing, now).await?;
    }
    tx.commit().await?;
    metrics::record_sends(sends);

    // Ranges whose last results were written by this transaction and another beside it:
    // neither could release them; the last to commit does, now.
    let mut unreleased = Vec::new();
    {
        let mut held = inner.leases.lock().unwrap_or_else(|p| p.into_inner());
        for (id, n) in in_batch {
            if let Some(left) = held.get_mut(&id) {
                *left = left.saturating_sub(n);
                if *left == 0 {
                    held.remove(&id);
                    if !finished.contains(&id) {
                        unreleased.push(id);
                    }
                }
            }
        }
    }
    if (!alone || !unreleased.is_empty())
        && let Err(error) = after_commit(inner, &unreleased, &deliveries).await
    {
        // The results are in: the batch must not be written again. The queue
        // maintenance finishes the complete deliveries and then drops their leases.
        warn!(%error, "finishing a written batch's deliveries failed; maintenance will");
    }
    Ok(claimed)
}

/// Releases `leases` and finishes `deliveries` that are complete, in a transaction of
/// their own after a batch's results are committed.
async fn after_commit(
    inner: &Inner,
    leases: &[i64],
    deliveries: &[&str],
) -> Result<(), DispatchError> {
    let now = inner.clock.now();
    let mut tx = inner.store.begin_results(&inner.owner).await?;
    tx.release_leases(leases).await?;
    tx.finish_deliveries(deliveries, now).await?;
    tx.commit().await?;
    Ok(())
}

/// A final failure that has no provider answer behind it (the last attempt's outcome and
/// failure reason stay on the message).
fn failed_without_answer(message: &Claimed, text: &str) -> MessageResult {
    MessageResult {
        id: message.id,
        attempts: message.attempts,
        lease: message.lease,
        status: MessageStatus::Failed,
        next_attempt_at: None,
        provider_id: None,
        outcome_id: None,
        failure_type: None,
        failure_reason: None,
        error_text: Some(text.to_owned()),
        quarantined: false,
        no_answer: true,
    }
}
