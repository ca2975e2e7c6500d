//! Host groups among many hosts: the groups page counts members, the group form shows
//! a page of members at a time and never the hosts outside the group, takes host
//! names to add (an unknown one refuses the form, naming it, with everything typed
//! kept) and members to take out from the page shown.

use axum::http::StatusCode;
use minke_admin::AdminConfig;
use minke_core::{AuditAction, HostId};
use minke_runtime::Config;
use minke_store::{AuditFilter, NewHost};

use crate::support::{Client, Env, ROOT, VIEWER};

/// Hosts `h0000`..`h1999`.
async fn env() -> Env {
    let hosts = (0..2000)
        .map(|i| {
            let mut h = NewHost::new(format!("h{i:04}"));
            h.hostname = Some("127.0.0.1".into());
            h.port = 1;
            h
        })
        .collect();
    Env::with(hosts, AdminConfig::default(), Config::default()).await
}

/// The id of host `name`.
async fn id_of(env: &Env, name: &str) -> HostId {
    let name = name.to_owned();
    env.store
        .blocking(move |c| minke_store::host_named(c, &name))
        .await
        .unwrap()
        .expect("the host exists")
}

/// How many members group `group` has, and whether host `name` is one.
async fn membership(env: &Env, group: i64, name: &str) -> (i64, bool) {
    let host = id_of(env, name).await;
    env.store
        .blocking(move |c| {
            let n = minke_store::group_member_counts(c, &[group])?[0].1;
            Ok((n, minke_store::group_members(c, group)?.contains(&host)))
        })
        .await
        .unwrap()
}

/// The names of the member rows of a group form page.
fn member_names(page: &str) -> Vec<String> {
    page.split(r#"class="object-link" href=""#)
        .skip(1)
        .filter_map(|s| {
            let s = &s[s.find('>')? + 1..];
            Some(s[..s.find('<')?].to_owned())
        })
        .collect()
}

/// Names `h{from}`..`h{to - 1}`.
fn names(from: usize, to: usize) -> Vec<String> {
    (from..to).map(|i| format!("h{i:04}")).collect()
}

/// Adds group `big` with hosts `h0000`..`h1499`, named in the form (some lines hold
/// several, comma-separated); its id.
async fn big_group(env: &Env, c: &Client) -> i64 {
    let typed: String = names(0, 1500)
        .chunks(3)
        .map(|l| l.join(", "))
        .collect::<Vec<_>>()
        .join("\r\n");
    let r = env
        .send(c.post(
            "/groups/add",
            &[("name", "big"), ("comment", "most"), ("add", &typed)],
        ))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(r.location(), "/groups");
    env.store
        .blocking(|c| minke_store::group_named(c, "big"))
        .await
        .unwrap()
        .expect("the group is stored")
}

#[tokio::test]
async fn the_group_form_shows_a_page_of_members_and_never_the_other_hosts() {
    let env = env().await;
    let c = env.login(ROOT).await;
    let g = big_group(&env, &c).await;
    assert_eq!(membership(&env, g, "h1499").await, (1500, true));

    let r = env.send(c.get(&format!("/groups/{g}/edit"))).await;
    assert_eq!(r.status, StatusCode::OK);
    let t = r.text();
    assert_eq!(member_names(&t), names(0, 50));
    assert!(t.contains("1500 hosts; 1 to 50 shown"), "{t}");
    assert!(t.contains("page 1 of 30"), "{t}");
    // Members past the page, and hosts outside the group, are not on it.
    for name in ["h0050", "h1499", "h1500", "h1999"] {
        assert!(!t.contains(name), "the form lists {name}");
    }
    let first = id_of(&env, "h0000").await;
    assert!(t.contains(&format!(
        r#"<input type="checkbox" class="remove-member" name="remove" value="{first}">"#
    )));
    // The hosts to add: a field, with the hosts' search (shown by the script).
    assert!(
        t.contains(
            r#"<textarea id="add" name="add" rows="4" cols="60" spellcheck="false"></textarea>"#
        ),
        "{t}"
    );
    assert!(t.contains(r#"data-choices="/models/host/choices""#), "{t}");

    // Page 2, and a page past the end shows the last.
    let t = env
        .send(c.get(&format!("/groups/{g}/edit?page=2")))
        .await
        .text();
    assert_eq!(member_names(&t), names(50, 100));
    assert!(
        t.contains("51 to 100 shown") && t.contains("page 2 of 30"),
        "{t}"
    );
    assert!(t.contains(r#"<input type="hidden" name="page" value="2">"#));
    let t = env
        .send(c.get(&format!("/groups/{g}/edit?page=99")))
        .await
        .text();
    assert_eq!(member_names(&t), names(1450, 1500));
    assert!(t.contains("page 30 of 30"), "{t}");
    let r = env.send(c.get(&format!("/groups/{g}/edit?page=x"))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // A new group's form lists no host at all.
    let t = env.send(c.get("/groups/add")).await.text();
    assert!(member_names(&t).is_empty() && !t.contains("h0000"), "{t}");
    assert!(!t.contains(r#"id="group-members""#));
}

#[tokio::test]
async fn the_groups_page_counts_members_and_names_a_few() {
    let env = env().await;
    let c = env.login(ROOT).await;
    let g = big_group(&env, &c).await;
    let r = env
        .send(c.post("/groups/add", &[("name", "one"), ("add", "h1999")]))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let r = env.send(c.post("/groups/add", &[("name", "none")])).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());

    let v = env.login(VIEWER).await;
    let t = env.send(v.get("/groups")).await.text();
    assert!(t.contains("3 groups"), "{t}");
    assert!(
        t.contains(&format!(
            r#"<a class="member-count" href="/hosts?group={g}">1500 hosts</a>: h0000, h0001, h0002, h0003, h0004, …"#
        )),
        "{t}"
    );
    assert!(t.contains(r#"1 host</a>: h1999</td>"#), "{t}");
    assert!(t.contains(r#"0 hosts</a></td>"#), "{t}");
    assert!(!t.contains("h0005"), "{t}");
    // The group's count link: its hosts, paged by the hosts page.
    let t = env.send(v.get(&format!("/hosts?group={g}"))).await.text();
    assert!(t.contains("1500 of 2000 hosts"), "{t}");
}

#[tokio::test]
async fn hosts_are_added_by_name_and_taken_out_from_the_page() {
    let env = env().await;
    let c = env.login(ROOT).await;
    let g = big_group(&env, &c).await;
    let edit = format!("/groups/{g}/edit");

    // Added by name, one already a member: still once; back to the page shown.
    let r = env
        .send(c.post(
            &edit,
            &[
                ("name", "big"),
                ("comment", "most"),
                ("add", "h1500, h1501\n h0000 \n\nh1500"),
                ("page", "3"),
                ("then", "edit"),
            ],
        ))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(r.location(), format!("{edit}?page=3"));
    assert_eq!(membership(&env, g, "h1501").await, (1502, true));
    let t = env.send(c.get(&format!("{edit}?page=31"))).await.text();
    assert_eq!(member_names(&t), ["h1500", "h1501"]);

    // Taken out by id, from the page shown; the group's other fields as typed.
    let (a, b) = (id_of(&env, "h0000").await, id_of(&env, "h0001").await);
    let r = env
        .send(c.post(
            &edit,
            &[
                ("name", "big"),
                ("comment", "most of them"),
                ("remove", &a.to_string()),
                ("remove", &b.to_string()),
            ],
        ))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(r.location(), "/groups");
    assert_eq!(membership(&env, g, "h0000").await, (1500, false));
    assert_eq!(membership(&env, g, "h0001").await, (1500, false));
    let t = env.send(c.get(&edit)).await.text();
    assert_eq!(member_names(&t)[0], "h0002");
    assert!(t.contains(r#"value="most of them""#), "{t}");

    // The audit log names the changes briefly.
    let details: Vec<String> = env
        .store
        .blocking(|c| {
            minke_store::find_audit(
                c,
                &AuditFilter {
                    action: Some(AuditAction::GroupChanged),
                    limit: 10,
                    ..AuditFilter::default()
                },
            )
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.detail)
        .collect();
    assert_eq!(
        details,
        [
            "changed; removed 2 hosts (h0000, h0001)",
            "changed; added 2 hosts (h1500, h1501)",
            "added; added 1500 hosts (h0000, h0001, h0002, h0003, h0004 and 1495 more)",
        ]
    );
}

#[tokio::test]
async fn unknown_names_are_named_and_nothing_typed_is_lost() {
    let env = env().await;
    let c = env.login(ROOT).await;
    let g = big_group(&env, &c).await;
    let edit = format!("/groups/{g}/edit");
    let a = id_of(&env, "h0100").await.to_string();
    let typed = "h1600\nnope-1, h1601\nnope-2";
    let r = env
        .send(c.post(
            &edit,
            &[
                ("name", "renamed"),
                ("comment", "typed comment"),
                ("add", typed),
                ("remove", &a),
                ("page", "3"),
            ],
        ))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let t = r.text();
    assert!(
        t.contains(
            "No hosts are named `nope-1`, `nope-2`: nothing was saved; correct or remove them."
        ),
        "{t}"
    );
    assert!(t.contains(r#"id="error-add""#), "{t}");
    // Everything typed is there again: name, comment, names, the ticked member.
    assert_eq!(r.input_value("name").as_deref(), Some("renamed"));
    assert_eq!(r.input_value("comment").as_deref(), Some("typed comment"));
    assert!(
        t.contains(&format!(r#"spellcheck="false">{typed}</textarea>"#)),
        "{t}"
    );
    assert!(
        t.contains(&format!(r#"name="remove" value="{a}" checked>"#)),
        "{t}"
    );
    assert_eq!(member_names(&t), names(100, 150));
    // Nothing was saved.
    assert_eq!(membership(&env, g, "h0100").await, (1500, true));
    assert_eq!(membership(&env, g, "h1600").await, (1500, false));
    let stored = env
        .store
        .blocking(move |c| minke_store::get_group(c, g))
        .await
        .unwrap();
    assert_eq!(stored.name, "big");

    // A new group with an unknown host is not added.
    let r = env
        .send(c.post("/groups/add", &[("name", "fresh"), ("add", "h0001\nghost")]))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.text().contains("No host is named `ghost`"),
        "{}",
        r.text()
    );
    assert_eq!(r.input_value("name").as_deref(), Some("fresh"));
    let fresh = env
        .store
        .blocking(|c| minke_store::group_named(c, "fresh"))
        .await
        .unwrap();
    assert_eq!(fresh, None);

    // A taken name is said beside the name, with the names typed kept.
    env.send(c.post("/groups/add", &[("name", "other")])).await;
    let r = env
        .send(c.post(&edit, &[("name", "other"), ("add", "h1700")]))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains(r#"id="error-name""#), "{}", r.text());
    assert!(r.text().contains(">h1700</textarea>"));
    assert_eq!(membership(&env, g, "h1700").await, (1500, false));

    // The form of before (every host's id ticked) is refused, not half-read.
    let r = env
        .send(c.post(&edit, &[("name", "big"), ("hosts", "1")]))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("`hosts`"), "{}", r.text());
}
