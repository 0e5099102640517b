//! The ICU domain: what a vital-signs reading is, when it is impossible, how
//! NEWS2 scores it, and how it travels on the wire. No I/O lives here, so the
//! emulator, the data-service and the monitor-service agree on one definition.

pub mod blood_pressure;
pub mod condition;
pub mod condition_mix;
pub mod escalation;
pub mod identity;
pub mod news2;
pub mod plan;
pub mod reading;
pub mod robustness;
pub mod trace_context;
pub mod wire;

pub use blood_pressure::{BloodPressure, BloodPressureError};
pub use condition::{Condition, UnknownCondition};
pub use condition_mix::{ConditionMix, ConditionMixError};
pub use news2::{Acvpu, News2, RiskBand};
pub use plan::{Channel, Plan, Received, Rejection, ScoredReading, Verdict};
pub use reading::{Admission, InvalidReading, Reading};
pub use trace_context::TraceContext;
pub use wire::{AdmissionMessage, DecodeError, MAX_MESSAGE_BYTES, ReadingMessage, WIRE_VERSION};
