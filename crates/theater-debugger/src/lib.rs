//! Theater's debugger as a library: everything `theater-replay` does, without a terminal.
//!
//! - [`Session`]: a cursor over a trace that steps forward and back (with checkpoints),
//!   stops at [`Breakpoint`]s, and shows actor states at any position.
//! - [`diff()`]: two traces aligned per actor, with the first divergence in context.
//! - [`bisect()`]: the first step at which a [`Predicate`] holds, with its cause and the
//!   state before and after; [`bisect_inputs`] for two runs with different inputs.
//! - [`fork()`]: a recorded run from one event on, with its inputs after it changed,
//!   recorded as a new trace that branches from the parent's chain.
//! - [`explore()`]: one system's inputs run under many seeded schedules, in parallel,
//!   and the first schedule under which a predicate holds, as a trace.
//! - [`minimize()`]: the fewest external inputs that still make a predicate hold, as a
//!   new trace.
//! - [`regress()`]: rerun a trace's inputs against new builds and report every change
//!   in behaviour per actor.
//! - [`regression`]: replay captured traces in `cargo test`, or regress them.

mod bisect;
pub mod branch;
mod breakpoint;
pub mod command;
mod diff;
mod error;
pub mod explore;
pub mod export;
pub mod fork;
pub mod inspect;
mod minimize;
mod predicate;
pub mod regress;
pub mod regression;
pub mod rerun;
mod session;

pub use bisect::{bisect, bisect_inputs, BisectReport, InputBisect, Method, CAUSE_CHAIN_MAX};
pub use branch::{Branch, BranchEnd};
pub use breakpoint::{Breakpoint, BREAKPOINT_SYNTAX, EVENT_KINDS};
pub use diff::{diff, ActorSummary, FirstDivergence, Side, TraceDiff, DIFF_CONTEXT_EVENTS};
pub use error::DebugError;
pub use explore::{explore, ExploreOptions, ExploreReport, Failure, EXPLORE_RUNS_MAX};
pub use fork::{fork, ForkEdits, ForkReport};
pub use minimize::{minimize, Minimized};
pub use predicate::{ActorRef, Cmp, Predicate, PREDICATE_SYNTAX};
pub use regress::{
    regress, ActorChanges, DeliveryChange, RegressOptions, RegressReport, ASPECTS,
    REGRESS_DELIVERIES_FACTOR, REGRESS_DETAILS_DEFAULT,
};
pub use session::{
    ActorInfo, Position, ProgressFn, Session, SessionOptions, Stop, CHECKPOINT_EVERY_EVENTS_DEFAULT,
};
