//! URL-encoded forms and query strings, read by hand so that repeated names
//! (`ids=1&ids=2`) and unknown names can be checked.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;

use crate::Error;

/// The largest form body accepted (a long command parameter fits).
pub(crate) const MAX_FORM: usize = 4 << 20;

/// The largest JSON body the API accepts.
pub(crate) const MAX_BODY: usize = 2 << 20;

/// Name/value pairs in their order.
#[derive(Clone, Debug, Default)]
pub(crate) struct Pairs(pub(crate) Vec<(String, String)>);

impl Pairs {
    pub(crate) fn parse(input: &[u8]) -> Self {
        Pairs(form_urlencoded::parse(input).into_owned().collect())
    }

    /// The first value of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, trimmed, `None` when empty.
    pub(crate) fn text(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty())
    }

    /// The value of `name` as a date like `2025-11-25` (UTC): its start in µs since
    /// the epoch, or with `end` the start of the next day. Anything else is a bad
    /// request that names it.
    pub(crate) fn date(&self, name: &str, end: bool) -> Result<Option<i64>, Error> {
        match self.text(name) {
            None => Ok(None),
            Some(v) => minke_core::time::parse_date(v)
                .map(|d| Some(if end { d + 86_400_000_000 } else { d }))
                .ok_or_else(|| {
                    Error::BadRequest(format!("`{name}`: `{v}` is not a date like 2025-11-25"))
                }),
        }
    }

    /// Every value of `name`.
    pub(crate) fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name` as ids; anything else is a bad request.
    pub(crate) fn ids<T: std::str::FromStr + Ord>(&self, name: &str) -> Result<Vec<T>, Error> {
        let mut out = Vec::new();
        for v in self.all(name) {
            let v = v.trim();
            if v.is_empty() {
                continue;
            }
            out.push(
                v.parse()
                    .map_err(|_| Error::BadRequest(format!("`{name}`: `{v}` is not an id")))?,
            );
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// An optional number; a malformed one is a bad request.
    pub(crate) fn number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, Error> {
        match self.text(name) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| Error::BadRequest(format!("`{name}`: `{v}` is not a number"))),
        }
    }

    /// Fails on a name outside `known` (or not starting with one of `prefixes`).
    pub(crate) fn only(&self, known: &[&str], prefixes: &[&str]) -> Result<(), Error> {
        for (k, _) in &self.0 {
            if !known.contains(&k.as_str()) && !prefixes.iter().any(|p| k.starts_with(p)) {
                let mut all: Vec<String> = known.iter().map(|s| (*s).to_owned()).collect();
                all.extend(prefixes.iter().map(|p| format!("{p}FIELD")));
                return Err(Error::BadRequest(format!(
                    "unknown query parameter `{k}` (known: {})",
                    all.join(", ")
                )));
            }
        }
        Ok(())
    }
}

/// A URL-encoded request body.
#[derive(Clone, Debug, Default)]
pub(crate) struct Form(pub(crate) Pairs);

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = Error;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::to_bytes(req.into_body(), MAX_FORM)
            .await
            .map_err(|_| Error::BadRequest("the form is too large or was cut off".into()))?;
        Ok(Form(Pairs::parse(&bytes)))
    }
}

/// The query string of a request.
#[derive(Clone, Debug, Default)]
pub(crate) struct QueryPairs(pub(crate) Pairs);

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(QueryPairs(Pairs::parse(
            parts.uri.query().unwrap_or_default().as_bytes(),
        )))
    }
}

/// Encodes pairs as a query string (without `?`).
pub(crate) fn encode<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// Percent-encodes one path segment.
pub(crate) fn segment(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// A JSON body, read by hand so that malformed input is a clear 400.
pub(crate) async fn json_body<T: serde::de::DeserializeOwned>(body: Bytes) -> Result<T, Error> {
    serde_json::from_slice(&body).map_err(|e| Error::BadRequest(format!("invalid JSON body: {e}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn pairs() {
        let p = Pairs::parse(b"ids=1&ids=2&ids=2&q=a+b&x=");
        assert_eq!(p.ids::<i64>("ids").unwrap(), [1, 2]);
        assert_eq!(p.get("q"), Some("a b"));
        assert_eq!(p.text("x"), None);
        assert!(p.only(&["ids", "q"], &[]).is_err());
        assert!(p.only(&["ids", "q"], &["x"]).is_ok());
        assert!(Pairs::parse(b"ids=z").ids::<i64>("ids").is_err());
        assert_eq!(encode([("a", "b c"), ("d", "&")]), "a=b+c&d=%26");
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
    }
}
