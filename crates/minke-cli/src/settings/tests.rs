use std::collections::HashMap;
use std::time::Duration;

use super::*;

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |k: &str| map.get(k).cloned()
}

fn file_with(text: &str) -> (tempfile::TempDir, Chosen) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("minke.toml");
    std::fs::write(&path, text).unwrap();
    (dir, Chosen::Named(path, "--config"))
}

#[test]
fn each_layer_wins_over_the_ones_below() {
    let app = Config {
        concurrency: 7,
        command_timeout: Duration::from_secs(30),
        session_timeout: Duration::from_secs(90),
        ..Config::default()
    };
    let (_dir, chosen) = file_with(
        "database = \"file.db\"\n[run]\nconcurrency = 20\ncommand_timeout = \"2m\"\n\
         [connect]\nretries = 5\n",
    );
    let path = chosen.path().unwrap().to_owned();
    let env = env_of(&[("MINKE_CONCURRENCY", "30"), ("MINKE_DATABASE_URL", "")]);
    let flags = Flags {
        concurrency: Some(40),
        ..Flags::default()
    };
    let s = Settings::load(&app, Some("app.db"), chosen, &env, flags).unwrap();
    // flag > env > file > app > built-in, each where it is set.
    assert_eq!(s.concurrency.value, Count(40));
    assert_eq!(s.concurrency.source, Source::Flag("--concurrency"));
    assert_eq!(s.database.value.0, "file.db", "an empty variable is unset");
    assert_eq!(s.database.source, Source::File(path.clone()));
    assert_eq!(s.command_timeout.value.0, Duration::from_secs(120));
    assert_eq!(s.session_timeout.value.0, Duration::from_secs(90));
    assert_eq!(s.session_timeout.source, Source::App);
    assert_eq!(s.connect_retries.value, Times(5));
    assert_eq!(s.connect_per_jump.source, Source::BuiltIn);

    let (_dir, chosen) = file_with("[run]\nconcurrency = 20\n");
    let s = Settings::load(&app, None, chosen, &env, Flags::default()).unwrap();
    assert_eq!(s.concurrency.value, Count(30));
    assert_eq!(s.concurrency.source, Source::Env("MINKE_CONCURRENCY"));
    assert_eq!(s.database.value.0, DEFAULT_DATABASE);

    let mut config = Config::default();
    s.apply(&mut config);
    assert_eq!(config.concurrency, 30);
    assert_eq!(config.session_timeout, Duration::from_secs(90));
}

#[test]
fn bad_values_name_their_source() {
    let app = Config::default();
    let none = env_of(&[]);
    let e = Settings::load(
        &app,
        None,
        Chosen::None,
        &none,
        Flags {
            command_timeout: Some(0),
            ..Flags::default()
        },
    )
    .unwrap_err();
    assert_eq!(e, "--command-timeout must be at least 1 second");
    let e = Settings::load(
        &app,
        None,
        Chosen::None,
        &env_of(&[("MINKE_CONNECT_RATE", "fast")]),
        Flags::default(),
    )
    .unwrap_err();
    assert!(e.starts_with("MINKE_CONNECT_RATE: `fast`"), "{e}");
    let (_dir, chosen) = file_with("[connect]\nper_server = 0\n");
    let e = Settings::load(&app, None, chosen, &none, Flags::default()).unwrap_err();
    assert!(
        e.starts_with("`connect.per_server` in ") && e.ends_with("must be at least 1"),
        "{e}"
    );
    let (_dir, chosen) = file_with("[connect]\nper_host = 2\n");
    let e = Settings::load(&app, None, chosen, &none, Flags::default()).unwrap_err();
    assert!(e.contains("per_host") && e.contains("minke.toml"), "{e}");
}

#[test]
fn passwords_are_masked_in_the_listing() {
    let (_dir, chosen) = file_with("database = \"postgres://minke:s3cret@db/minke\"\n");
    let s = Settings::load(
        &Config::default(),
        None,
        chosen,
        &env_of(&[]),
        Flags::default(),
    )
    .unwrap();
    let rows = s.rows();
    let db = rows.iter().find(|r| r.key == "database").unwrap();
    assert_eq!(db.value, "postgres://minke:***@db/minke");
    assert!(db.source.starts_with("file "));
    assert!(rows.iter().all(|r| !r.value.contains("s3cret")));
    assert_eq!(rows.len(), 13);
}
