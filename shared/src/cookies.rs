//! Reading one cookie out of a request's `Cookie` headers, which both sides do on every
//! request.
//!
//! Each `name=value` pair is matched by name first and only the matching pairs are parsed
//! (by the `cookie` crate). Parsing every pair cost more than the session check's hashing:
//! other apps on the domain put their own cookies in the same header.
//!
//! ```
//! let headers = ["theme=dark; airlock_session=tok1", "airlock_session=tok2"];
//! let values: Vec<&str> = shared::cookies::values(headers, "airlock_session").collect();
//! assert_eq!(values, ["tok1", "tok2"]);
//! ```

use cookie::Cookie;

/// The values of every cookie called `name` in `headers` (the `Cookie` header values), in
/// the order the client sent them. Values are as sent: session tokens need no decoding.
pub fn values<'a>(headers: impl IntoIterator<Item = &'a str>, name: &'a str) -> impl Iterator<Item = &'a str> {
    headers
        .into_iter()
        .flat_map(|header| header.split(';'))
        .filter(move |pair| pair.trim_start().strip_prefix(name).is_some_and(|rest| rest.trim_start().starts_with('=')))
        .filter_map(|pair| Cookie::parse(pair).ok())
        .filter(move |cookie| cookie.name() == name)
        .filter_map(|cookie| cookie.value_raw())
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
        }
    }
}
