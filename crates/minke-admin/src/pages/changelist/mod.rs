//! A model's changelist and the run flow that starts from it (parameter form,
//! confirmation).

mod cells;
mod list;
mod run_form;
mod select;

pub(crate) use cells::{LiveSession, RunPanel, cell, json_value, live_cells, run_panel};
pub(crate) use list::changelist;
pub(crate) use run_form::run;
pub(crate) use select::{model_entry, model_entry_to, selection};
