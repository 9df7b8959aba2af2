//! The audit log against real airlock processes, on both stores.

use airlock_system_tests::{ADMIN_EMAIL, ADMIN_PASSWORD, AirlockOptions, AirlockProcess, RedisServer, browser};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn records(airlock: &AirlockProcess, client: &reqwest::Client, query: &str) -> Vec<Value> {
    let resp = client.get(airlock.at(&format!("/api/admin/audit{query}"))).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

#[tokio::test]
async fn events_are_recorded_filtered_and_readable_by_auditors_only() {
    for redis in [None, Some(RedisServer::start())] {
        let options = redis.as_ref().map(|r| AirlockOptions::redis(&r.url())).unwrap_or_default();
        let mut airlock = AirlockProcess::start(options).await;
        let admin = airlock.admin().await;
        assert_eq!(airlock.sign_in(&browser(), ADMIN_EMAIL, "wrong-password-1").await.status(), 401);
        airlock.add_user(&admin, "aud@example.com", "aud-password-1", &["auditor"]).await;
        airlock.add_user(&admin, "vic@example.com", "vic-password-1", &[]).await;
        let token: Value = admin
            .post(airlock.at("/api/tokens"))
            .json(&json!({"name": "ci"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        admin.delete(airlock.at("/api/tokens/ci")).send().await.unwrap();
        let disable = admin.patch(airlock.at("/api/admin/users/vic@example.com")).json(&json!({"disabled": true}));
        assert_eq!(disable.send().await.unwrap().status(), 200);
        // A session revoked through the self-service API is audited too, with who revoked it.
        let laptop = browser();
        airlock.sign_in(&laptop, ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let sessions: Value = admin.get(airlock.at("/api/auth/sessions")).send().await.unwrap().json().await.unwrap();
        let other = sessions.as_array().unwrap().iter().find(|s| s["current"] == false).unwrap()["id"].clone();
        let revoked = admin.delete(airlock.at(&format!("/api/auth/sessions/{}", other.as_str().unwrap()))).send();
        assert_eq!(revoked.await.unwrap().status(), 200);
        let out = browser();
        airlock.sign_in(&out, ADMIN_EMAIL, ADMIN_PASSWORD).await;
        out.post(airlock.at("/api/auth/sign-out")).send().await.unwrap();

        let all = records(&airlock, &admin, "?limit=100").await;
        let events: Vec<&str> = all.iter().map(|r| r["event"].as_str().unwrap()).collect();
        for expected in [
            "auth.login.success",
            "auth.login.fail",
            "auth.logout",
            "admin.user.create",
            "admin.user.disable",
            "token.create",
            "token.revoke",
            "session.revoke",
        ] {
            assert!(events.contains(&expected), "{expected} missing from {events:?}");
        }
        assert_eq!(events[0], "auth.logout", "newest first");
        let revoke = all.iter().find(|r| r["event"] == "session.revoke").unwrap();
        assert_eq!((&revoke["actor"], &revoke["subject"]), (&json!(ADMIN_EMAIL), &other), "{revoke}");
        let fail = all.iter().find(|r| r["event"] == "auth.login.fail").unwrap();
        assert_eq!(fail["actor"], ADMIN_EMAIL);
        assert_eq!(fail["ip"], "127.0.0.1");
        assert_eq!(fail["outcome"], "failure");
        assert!(fail["time"].is_string());
        let created = all.iter().find(|r| r["event"] == "token.create").unwrap();
        assert_eq!(created["subject"], token["id"]);

        let failures = records(&airlock, &admin, "?event=auth.login.fail").await;
        assert!(!failures.is_empty() && failures.iter().all(|r| r["event"] == "auth.login.fail"));
        let admin_events = records(&airlock, &admin, "?event=admin.*").await;
        assert!(admin_events.iter().all(|r| r["event"].as_str().unwrap().starts_with("admin.")));
        assert_eq!(records(&airlock, &admin, "?limit=2").await.len(), 2);
        let text = serde_json::to_string(&all).unwrap();
        assert!(!text.contains(ADMIN_PASSWORD) && !text.contains("wrong-password-1") && !text.contains("alk_"));

        // Auditors read it; a viewer does not.
        let auditor = browser();
        airlock.sign_in(&auditor, "aud@example.com", "aud-password-1").await;
        assert!(!records(&airlock, &auditor, "").await.is_empty());
        airlock.add_user(&admin, "viewer@example.com", "viewer-password-1", &[]).await;
        let viewer = browser();
        airlock.sign_in(&viewer, "viewer@example.com", "viewer-password-1").await;
        assert_eq!(viewer.get(airlock.at("/api/admin/audit")).send().await.unwrap().status(), StatusCode::FORBIDDEN);

        // The CLI reads the same log (from the store; an embedded store needs the server stopped).
        airlock.stop();
        let out = airlock.cli(&["audit", "tail", "--event", "auth.login.fail", "--json"], None);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let tail: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        assert!(!tail.is_empty() && tail.iter().all(|r| r["event"] == "auth.login.fail"));
    }
}
