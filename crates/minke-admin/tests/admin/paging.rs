//! Lists paged, ordered and filtered by the database: the changelist and the hosts
//! page at their edges (empty, one page, the last page read from the end, a page past
//! the end), either way of every order.

use axum::http::StatusCode;
use minke_admin::AdminConfig;
use minke_runtime::Config;
use minke_store::NewHost;

use crate::support::{Client, Env, ROOT, VIEWER};

/// 130 hosts `h000`..`h129` (port 2000 + i % 7), 3 of them disabled.
async fn env() -> Env {
    let hosts = (0..130)
        .map(|i| {
            let mut h = NewHost::new(format!("h{i:03}"));
            h.hostname = Some("127.0.0.1".into());
            h.port = 2000 + i % 7;
            h.disabled = i % 50 == 7;
            h
        })
        .collect();
    Env::with(hosts, AdminConfig::default(), Config::default()).await
}

/// The ids of the changelist's rows, in order.
async fn rows(env: &Env, c: &Client, url: &str) -> Vec<i64> {
    let r = env.send(c.get(url)).await;
    assert_eq!(r.status, StatusCode::OK, "{url}: {}", r.text());
    r.text()
        .split(r#"data-object-id=""#)
        .skip(1)
        .filter_map(|s| s.split('"').next()?.parse().ok())
        .collect()
}

#[tokio::test]
async fn the_changelist_pages_and_orders_in_the_database() {
    let env = env().await;
    let c = env.login(VIEWER).await;
    // By id: pages of 50, the last one short; past the end, nothing.
    let all: Vec<i64> = (1..=130).collect();
    assert_eq!(rows(&env, &c, "/models/host?per_page=50").await, all[..50]);
    assert_eq!(
        rows(&env, &c, "/models/host?per_page=50&page=2").await,
        all[50..100]
    );
    assert_eq!(
        rows(&env, &c, "/models/host?per_page=50&page=3").await,
        all[100..]
    );
    assert!(
        rows(&env, &c, "/models/host?per_page=50&page=4")
            .await
            .is_empty()
    );
    // Ordered by port, then id, each way: every page of the whole order, the ones
    // past the middle read from the end.
    let port = |id: i64| 2000 + (id - 1) % 7;
    let mut by_port = all.clone();
    by_port.sort_by_key(|&id| (port(id), id));
    let mut down = by_port.clone();
    down.reverse();
    for (order, want) in [("port", &by_port), ("-port", &down)] {
        let mut pages = Vec::new();
        for page in 1..=3 {
            let url = format!("/models/host?o={order}&per_page=50&page={page}");
            pages.extend(rows(&env, &c, &url).await);
        }
        assert_eq!(&pages, want, "{order}");
    }
    // The column's link turns the order round.
    let t = env.send(c.get("/models/host?o=port")).await.text();
    assert!(t.contains("o=-port"), "{t}");
    // One page when everything fits; a filter narrows before paging.
    assert_eq!(rows(&env, &c, "/models/host?per_page=500").await, all);
    let few = rows(&env, &c, "/models/host?f_port=2003&o=-name").await;
    let mut want: Vec<i64> = all.iter().copied().filter(|&id| port(id) == 2003).collect();
    want.reverse();
    assert_eq!(few, want);
    // Nothing matches: an empty page, no error.
    assert!(
        rows(&env, &c, "/models/host?q=nothing-like-this")
            .await
            .is_empty()
    );
    // Bad orders are refused, naming the field.
    let r = env.send(c.get("/models/host?o=-nope")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("unknown field `nope`"));
}

/// The names on the hosts page, in order, and whether it links a next page.
async fn host_names(env: &Env, c: &Client, url: &str) -> (Vec<String>, bool) {
    let r = env.send(c.get(url)).await;
    assert_eq!(r.status, StatusCode::OK, "{url}: {}", r.text());
    let t = r.text();
    let names = t
        .split(r#"class="object-link" href=""#)
        .skip(1)
        .filter_map(|s| s.split('>').nth(1)?.split('<').next())
        .map(str::to_owned)
        .collect();
    (names, t.contains("page-next"))
}

#[tokio::test]
async fn the_hosts_page_comes_a_page_at_a_time() {
    let env = env().await;
    let c = env.login(ROOT).await;
    let all: Vec<String> = (0..130).map(|i| format!("h{i:03}")).collect();
    let (first, more) = host_names(&env, &c, "/hosts").await;
    assert_eq!(first, all[..100]);
    assert!(more);
    let (last, more) = host_names(&env, &c, "/hosts?page=2").await;
    assert_eq!(last, all[100..]);
    assert!(!more);
    let (none, _) = host_names(&env, &c, "/hosts?page=3").await;
    assert!(none.is_empty());
    let t = env.send(c.get("/hosts?page=3")).await.text();
    assert!(t.contains("No host matches."));
    // Searched by the database.
    let (found, more) = host_names(&env, &c, "/hosts?q=h12").await;
    assert_eq!(
        found,
        [
            "h120", "h121", "h122", "h123", "h124", "h125", "h126", "h127", "h128", "h129"
        ]
    );
    assert!(!more);
    let t = env.send(c.get("/hosts?q=h12")).await.text();
    assert!(t.contains("10 of 130 hosts"), "{t}");
    // Narrowed to a group.
    let r = env
        .send(c.post("/groups/add", &[("name", "edge"), ("add", "h004\nh119")]))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let t = env.send(c.get("/hosts?group=1")).await.text();
    let (grouped, _) = host_names(&env, &c, "/hosts?group=1").await;
    assert_eq!(grouped, ["h004", "h119"], "{t}");
    assert!(t.contains(r#"<td class="groups">edge</td>"#));
    let r = env.send(c.get("/hosts?group=99")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    let r = env.send(c.get("/hosts?page=x")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}
