//! What `migrate` and `serve` warn about in the app's database.

use minke_runtime::Engine;

/// What the database lacks for the app's lists, searches and deletions to stay fast,
/// one sentence per model and kind: `migrate` prints them, `serve` logs them.
pub(crate) async fn index_warnings(engine: &Engine) -> minke_runtime::Result<Vec<String>> {
    let mut out = Vec::new();
    for (model, columns) in engine.unindexed_list_columns().await? {
        out.push(format!(
            "model `{model}` lists columns that start no index: {}. A changelist sorted by one of them sorts every row; an index like `(column, id)` reads a page instead",
            columns.join(", ")
        ));
    }
    for model in engine.unindexed_searches() {
        out.push(format!(
            "model `{model}` searches text fields without a search index: on SQLite a search reads every row; name an FTS5 trigram table with `#[minke(search_index = ...)]` (see `sqlite_search_index!`)"
        ));
    }
    for (model, column) in engine.unindexed_parent_columns().await? {
        out.push(format!(
            "model `{model}` points at its host or parent by `{column}`, which starts no index: deleting a host or a parent reads the whole table to find what points at it"
        ));
    }
    Ok(out)
}
