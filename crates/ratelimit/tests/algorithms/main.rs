//! Boundary tests of each algorithm, driven by explicit times (no clock, no sleeping),
//! and properties every algorithm must have, checked on random request sequences.

mod bucket;
mod fixed_window;
mod gcra;
mod properties;
mod quota;
mod sliding_log;
mod sliding_window;
mod support;
