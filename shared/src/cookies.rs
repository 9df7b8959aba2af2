//! Reading one cookie out of a request's `Cookie` headers, which both sides do on every
//! request.
//!
//! A `Cookie` header is `name=value` pairs separated by `;` (RFC 6265, section 4.2.1). Each
//! pair is split as the `cookie` crate splits one (at the first `=`, both sides trimmed), but
//! without building a `Cookie` for every pair: other apps on the domain put their cookies in
//! the same header, and parsing them all cost more than the session check's hashing. A
//! property test holds the answers to the `cookie` crate's on arbitrary headers.
//!
//! ```
//! let headers = ["theme=dark; airlock_session=tok1", "airlock_session=tok2"];
//! let values: Vec<&str> = shared::cookies::values(headers, "airlock_session").collect();
//! assert_eq!(values, ["tok1", "tok2"]);
//! let first = shared::cookies::pairs(headers).next();
//! assert_eq!(first, Some(("theme", "dark")));
//! ```

/// Every `(name, value)` pair in `headers` (the `Cookie` header values), in the order the
/// client sent them. Values are as sent: session tokens need no decoding.
pub fn pairs<'a>(headers: impl IntoIterator<Item = &'a str>) -> impl Iterator<Item = (&'a str, &'a str)> {
    headers.into_iter().flat_map(|header| header.split(';')).filter_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        let name = name.trim();
        (!name.is_empty()).then(|| (name, value.trim()))
    })
}

/// The values of every cookie called `name` in `headers`, in the order the client sent them.
pub fn values<'a>(headers: impl IntoIterator<Item = &'a str>, name: &'a str) -> impl Iterator<Item = &'a str> {
    pairs(headers).filter(move |(key, _)| *key == name).map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::values;

    fn all<'a>(headers: &[&'a str], name: &'a str) -> Vec<&'a str> {
        values(headers.iter().copied(), name).collect()
    }

    #[test]
    fn only_the_named_cookie_is_read() {
        let headers = ["app=secret; airlock_session=tok; airlock_session_x=no; x_airlock_session=no"];
        assert_eq!(all(&headers, "airlock_session"), ["tok"]);
        assert_eq!(all(&headers, "missing"), Vec::<&str>::new());
    }

    #[test]
    fn every_header_and_repeat_counts_in_order() {
        let headers = ["airlock_session=a;airlock_session=b", " airlock_session = c ", "airlock_session="];
        assert_eq!(all(&headers, "airlock_session"), ["a", "b", "c", ""]);
    }

    #[test]
    fn same_answers_as_parsing_every_pair() {
        let headers =
            ["a=1; b=2; a=3", "a", "=a; a==; a=\"q\"; ;;; a= x y ", "a=%41; a=1=2; b=a=4", "\u{e9}=1; a=\u{e9}"];
        for header in headers {
            let parsed: Vec<String> = cookie::Cookie::split_parse(header)
                .flatten()
                .filter(|c| c.name() == "a")
                .map(|c| c.value().to_owned())
                .collect();
            assert_eq!(all(&[header], "a"), parsed, "{header}");
            let every: Vec<(String, String)> = cookie::Cookie::split_parse(header)
                .flatten()
                .map(|c| (c.name().to_owned(), c.value().to_owned()))
                .collect();
            let ours: Vec<(String, String)> =
                super::pairs([header]).map(|(n, v)| (n.to_owned(), v.to_owned())).collect();
            assert_eq!(ours, every, "{header}");
        }
    }
}
