//! Plain HTTP/1.1 to a `fleet serve` on 127.0.0.1: one request per connection, and
//! the admin's login.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::Context as _;

/// One request on its own connection: status, head (lower case), body.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    cookie: &str,
    body: &str,
) -> anyhow::Result<(u16, String, String)> {
    let mut s = TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(10),
    )?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nCookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").context("no HTTP answer")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("odd status")?;
    Ok((status, head.to_lowercase(), body.to_owned()))
}

/// A login form's token and cookie (`minke_login=...`).
pub fn login_form(port: u16) -> anyhow::Result<(String, String)> {
    let (_, head, page) = request(port, "GET", "/login", "", "")?;
    let pat = r#"name="csrf" value=""#;
    let rest = &page[page.find(pat).context("no csrf field")? + pat.len()..];
    let token = rest[..rest.find('"').context("csrf")?].to_owned();
    let cookie = head
        .lines()
        .filter_map(|l| l.strip_prefix("set-cookie: minke_login="))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
        .next()
        .context("no login cookie")?;
    Ok((token, format!("minke_login={cookie}")))
}

/// Logs in through the form: the session cookie (`minke_session=...`).
pub fn login(port: u16, user: &str, password: &str) -> anyhow::Result<String> {
    let (token, cookie) = login_form(port)?;
    let body = format!("csrf={token}&username={user}&password={password}");
    let (status, head, _) = request(port, "POST", "/login", &cookie, &body)?;
    anyhow::ensure!(status == 303, "the login was answered {status}");
    head.lines()
        .filter_map(|l| l.strip_prefix("set-cookie: minke_session="))
        .map(|v| format!("minke_session={}", v.split(';').next().unwrap_or_default()))
        .next()
        .context("no session cookie")
}
