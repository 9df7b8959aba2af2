//! Property tests: the parsers that see attacker input (redirect targets, origins, tokens,
//! durations, forwarded addresses, config values) answer every input without panicking, and
//! what they accept keeps its promises.

use airlock::origins::{OriginPolicy, TrustedOrigin};
use airlock::secrets::{looks_like_api_token, looks_like_session_token};
use proptest::prelude::*;
use url::Url;

fn policy() -> OriginPolicy {
    OriginPolicy::new(
        Url::parse("https://airlock.example.com").unwrap(),
        vec![
            TrustedOrigin::parse("lore=https://lore.example.com").unwrap(),
            TrustedOrigin::parse("apps=https://*.apps.example.com").unwrap(),
        ],
    )
}

/// Strings built from the characters redirect tricks are made of.
fn tricky() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "/",
        "//",
        "\\",
        "\t",
        "\n",
        "%2f",
        "%5c",
        "%09",
        "@",
        ":",
        ".",
        "evil.com",
        "example.com",
        "lore",
        "https:",
        "http:",
        "javascript:",
        "#",
        "?",
        "*",
        "airlock",
        "\u{3031}",
        "\u{ff0f}",
        " ",
        "%",
        "..",
    ]);
    prop::collection::vec(pieces, 0..12).prop_map(|p| p.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn redirects_are_trusted_or_refused(target in prop_oneof![tricky(), any::<String>()]) {
        let p = policy();
        if let Some(url) = p.safe_redirect(&target) {
            prop_assert!(p.is_trusted(&url), "{target:?} -> {url}");
            prop_assert!(matches!(url.scheme(), "http" | "https"));
            prop_assert!(url.username().is_empty() && url.password().is_none());
        }
    }

    #[test]
    fn origin_checks_never_panic(origin in proptest::option::of(tricky()), referer in proptest::option::of(any::<String>()),
                                 site in proptest::option::of(any::<String>())) {
        let _ = policy().check_request_origin(origin.as_deref(), referer.as_deref(), site.as_deref());
    }

    #[test]
    fn trusted_origin_entries_never_panic(entry in prop_oneof![tricky(), any::<String>()]) {
        let _ = TrustedOrigin::parse(&entry);
    }

    #[test]
    fn token_shapes_never_panic(token in any::<String>()) {
        let session = looks_like_session_token(&token);
        let api = looks_like_api_token(&token);
        prop_assert!(!(session && api));
        if session {
            prop_assert_eq!(token.len(), 43);
        }
    }

    #[test]
    fn durations_never_panic(text in "[0-9a-z ]{0,24}") {
        let _ = airlock::config::parse_duration("k", &text);
    }

    #[test]
    fn cookie_domains_never_panic(domain in any::<String>()) {
        if let Ok(accepted) = airlock::config::check_cookie_domain(&domain) {
            prop_assert!(accepted.contains('.'));
        }
    }

    /// The session cookie's lookup, and every pair, are what the cookie crate parses.
    #[test]
    fn session_cookie_lookup_matches_a_full_parse(
        header in prop::collection::vec(prop::sample::select(vec![
            "airlock_session", "airlock_sessionx", "x", "=", ";", " ", "\t", "\"", "tok", "%41", "\u{e9}",
        ]), 0..16).prop_map(|pieces| pieces.concat()),
    ) {
        let name = "airlock_session";
        let expected: Vec<&str> = tower_cookies::Cookie::split_parse(header.as_str())
            .flatten()
            .filter(|cookie| cookie.name() == name)
            .filter_map(|cookie| cookie.value_raw())
            .collect();
        let found: Vec<&str> = shared::cookies::values([header.as_str()], name).collect();
        prop_assert_eq!(found, expected);
        let every: Vec<(&str, &str)> = tower_cookies::Cookie::split_parse(header.as_str())
            .flatten()
            .filter_map(|cookie| Some((cookie.name_raw()?, cookie.value_raw()?)))
            .collect();
        prop_assert_eq!(shared::cookies::pairs([header.as_str()]).collect::<Vec<_>>(), every);
    }
}
