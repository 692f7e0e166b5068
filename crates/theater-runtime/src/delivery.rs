//! One delivery as the trace sees it, and the one place that turns it into events.
//!
//! The scheduler builds a [`DeliveryRecord`] once per delivery, after the handler has
//! run: the message, the recorded host calls, the logs, the new state, the fuel used,
//! the outcome and the messages it sent. Every sink takes it through
//! `Sink::delivery`: off drops it; inline recording and the recorder thread both write
//! it with [`write`] (the recorder thread after copying it across cores); a replay
//! compares the same events with the recording. So the events of a delivery —
//! `Delivered`, one `HostCall` per recorded call, `Outputs` — are built here and
//! nowhere else.

use theater_trace::{
    ActorId, Delivery, DeliveryOutputs, EventBody, HostFunction, LogLine, MessageKind, Outcome,
    Payload, Sender, SentMessage, TraceSink, TraceWriter,
};

use crate::error::{Divergence, RuntimeError};

/// A recorded host call: function, request, response.
pub(crate) type HostCallRecord = (HostFunction, Vec<u8>, Vec<u8>);

/// A message a delivery sent: recipient, kind, payload.
pub(crate) type SentView<'a> = (ActorId, MessageKind, &'a [u8]);

/// One delivery: what went in, and what came out.
#[derive(Debug)]
pub(crate) struct DeliveryRecord<'a, S> {
    pub(crate) seq: u64,
    pub(crate) from: Sender,
    pub(crate) to: ActorId,
    pub(crate) kind: MessageKind,
    pub(crate) time_ns: u64,
    pub(crate) payload: &'a [u8],
    pub(crate) host_calls: Vec<HostCallRecord>,
    pub(crate) logs: Vec<LogLine>,
    /// The actor's state after the delivery (its digest is recorded).
    pub(crate) state: &'a [u8],
    pub(crate) fuel_used: u64,
    pub(crate) outcome: Outcome,
    /// The messages sent, in order (none when the delivery failed).
    pub(crate) sent: S,
    /// In replay: the first host call that did not match the recording. It is a
    /// divergence right after the host-call events.
    pub(crate) host_call_mismatch: Option<String>,
}

/// Where [`write`] puts a delivery's events: a trace writer, or a replay's comparison.
pub(crate) trait EventOut {
    /// The payload for `bytes`: inline, or a blob (stored before the event naming it).
    fn payload(&mut self, bytes: &[u8]) -> Result<Payload, RuntimeError>;
    fn append(&mut self, body: EventBody) -> Result<(), RuntimeError>;
    /// Events appended so far.
    fn events(&self) -> u64;
}

impl<W: TraceSink> EventOut for TraceWriter<W> {
    fn payload(&mut self, bytes: &[u8]) -> Result<Payload, RuntimeError> {
        Ok(TraceWriter::payload(self, bytes)?)
    }

    fn append(&mut self, body: EventBody) -> Result<(), RuntimeError> {
        TraceWriter::append(self, body)?;
        Ok(())
    }

    fn events(&self) -> u64 {
        self.event_count()
    }
}

/// Events one delivery makes.
pub(crate) fn event_count(host_calls: usize) -> usize {
    2 + host_calls
}

/// Writes the events of one delivery, in order: `Delivered`, its `HostCall`s, `Outputs`.
pub(crate) fn write<'a>(
    d: DeliveryRecord<'a, impl Iterator<Item = SentView<'a>>>,
    out: &mut impl EventOut,
) -> Result<(), RuntimeError> {
    let payload = out.payload(d.payload)?;
    out.append(EventBody::Delivered(Delivery {
        seq: d.seq,
        from: d.from,
        to: d.to,
        kind: d.kind,
        payload,
        time_ns: d.time_ns,
    }))?;
    for (function, request, response) in d.host_calls {
        let request = out.payload(&request)?;
        let response = out.payload(&response)?;
        out.append(EventBody::HostCall {
            actor: d.to,
            function,
            request,
            response,
        })?;
    }
    if let Some(mismatch) = d.host_call_mismatch {
        return Err(RuntimeError::Divergence(Box::new(Divergence {
            event: out.events(),
            actor: Some(d.to),
            expected: "the recorded host calls".into(),
            actual: mismatch,
        })));
    }
    let sent = d
        .sent
        .map(|(to, kind, bytes)| {
            Ok(SentMessage {
                to,
                kind,
                payload: out.payload(bytes)?,
            })
        })
        .collect::<Result<Vec<_>, RuntimeError>>()?;
    out.append(EventBody::Outputs(DeliveryOutputs {
        actor: d.to,
        seq: d.seq,
        sent,
        logs: d.logs,
        state: theater_trace::state_digest(d.state),
        fuel_used: d.fuel_used,
        outcome: d.outcome,
    }))
}
