//! The layering of settings and the checks of the resolved configuration.

use super::*;

#[test]
fn flags_override_environment_override_file() {
    let file: Settings =
        toml::from_str("bind = \"127.0.0.1:1\"\nmax_body_bytes = 10\nsession_days = 2").unwrap();
    let env_and_flags = Settings {
        bind: Some("127.0.0.1:2".parse().unwrap()),
        ..Default::default()
    };
    let config = Config::resolve(env_and_flags.over(file)).unwrap();
    assert_eq!(config.bind.port(), 2);
    assert_eq!(config.limits.max_body_bytes, 10);
    assert_eq!(config.limits.session, Duration::from_secs(2 * 86_400));
    assert_eq!(config.limits.ws_queue_frames, 256);
}

#[test]
fn media_settings() {
    let config = Config::resolve(Settings::default()).unwrap();
    assert_eq!(config.media.bind, "127.0.0.1:10000".parse().unwrap());
    assert_eq!(config.media.ice_servers, serde_json::json!([]));
    assert!(config.media.tcp, "ICE-TCP on by default");
    let off = Settings {
        media_tcp: Some(false),
        ..Default::default()
    };
    assert!(!Config::resolve(off).unwrap().media.tcp);
    let config = Config::resolve(Settings {
        bind: Some("127.0.0.1:0".parse().unwrap()),
        ice_servers: Some("stun:stun.example.org:3478, turn:turn.example.org".into()),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        config.media.bind.port(),
        0,
        "a free port beside a free port"
    );
    assert_eq!(
        config.media.ice_servers,
        serde_json::json!([{"urls": ["stun:stun.example.org:3478", "turn:turn.example.org"]}])
    );
    assert!(config.media.turn.is_none());
    let config = Config::resolve(Settings {
        turn_urls: Some("turn:turn.example.org:3478, turns:turn.example.org:5349".into()),
        turn_secret: Some("north".into()),
        ..Default::default()
    })
    .unwrap();
    let turn = config.media.turn.unwrap();
    assert_eq!(
        turn.urls,
        ["turn:turn.example.org:3478", "turns:turn.example.org:5349"]
    );
    assert_eq!(turn.ttl, Duration::from_secs(86_400));
    for (settings, named) in [
        (
            Settings {
                ice_servers: Some("http://x".into()),
                ..Default::default()
            },
            "ice_servers",
        ),
        (
            Settings {
                turn_urls: Some("turn:turn.example.org".into()),
                ..Default::default()
            },
            "turn_urls needs turn_secret",
        ),
        (
            Settings {
                turn_secret: Some("north".into()),
                ..Default::default()
            },
            "turn_secret is set but turn_urls is empty",
        ),
        (
            Settings {
                turn_urls: Some("stun:stun.example.org".into()),
                turn_secret: Some("north".into()),
                ..Default::default()
            },
            "turn_urls: \"stun:stun.example.org\" is not a turn: or turns: URL",
        ),
        (
            Settings {
                turn_urls: Some("turn:turn.example.org".into()),
                turn_secret: Some("north".into()),
                turn_ttl_secs: Some(0),
                ..Default::default()
            },
            "turn_ttl_secs",
        ),
        (
            Settings {
                call_video_slots: Some(26),
                ..Default::default()
            },
            "call_video_slots",
        ),
        (
            Settings {
                media_idle_timeout_secs: Some(0),
                ..Default::default()
            },
            "media_idle_timeout_secs",
        ),
    ] {
        let err = Config::resolve(settings).unwrap_err().to_string();
        assert!(err.contains(named), "{err}");
    }
}

#[test]
fn bad_values_are_named() {
    let err = toml::from_str::<Settings>("bnid = \"x\"")
        .unwrap_err()
        .to_string();
    assert!(err.contains("bnid"), "{err}");
    let err = Config::resolve(Settings {
        ws_queue_frames: Some(0),
        ..Default::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("ws_queue_frames"));
    let err = Config::resolve(Settings {
        database_url: Some("mysql://x".into()),
        ..Default::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("database_url"));
}

#[test]
fn cluster_mode_needs_postgres_and_a_sound_node_id() {
    let err = Config::resolve(Settings {
        nats_url: Some("nats://127.0.0.1:4222".into()),
        ..Default::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("PostgreSQL"), "{err}");
    let pg = || Some("postgres://127.0.0.1/test".to_owned());
    let config = Config::resolve(Settings {
        nats_url: Some("nats://127.0.0.1:4222".into()),
        database_url: pg(),
        node_id: Some("node-a".into()),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(config.cluster.unwrap().node_id, "node-a");
    let made = Config::resolve(Settings {
        nats_url: Some("nats://127.0.0.1:4222".into()),
        database_url: pg(),
        ..Default::default()
    })
    .unwrap();
    assert!(made.cluster.unwrap().node_id.ends_with("-8080"));
    for (nats, node) in [("http://x", None), ("nats://x", Some("a b"))] {
        let err = Config::resolve(Settings {
            nats_url: Some(nats.into()),
            database_url: pg(),
            node_id: node.map(str::to_owned),
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains(if node.is_some() {
            "node_id"
        } else {
            "nats_url"
        }));
    }
    let lone = Config::resolve(Settings {
        node_id: Some("a".into()),
        ..Default::default()
    })
    .unwrap_err();
    assert!(lone.to_string().contains("nats_url"));
    assert!(
        Config::with_data_dir(std::path::Path::new("x"))
            .cluster
            .is_none()
    );
}
