//! Every environment variable that docker-compose.yml, the Dockerfile and the Kubernetes
//! manifests set for OrderFlow is one the binaries read (a typo would be silently ignored),
//! the ones a container cannot do without are set, and the Kubernetes settings are accepted by
//! a production start.

use orderflow_shared::settings::{ApiSettings, WorkerSettings};
use std::{
    cell::RefCell,
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every variable the API's and the worker's settings look up (the core's included), plus the
/// log filter read by tracing and the OpenTelemetry variables (`telemetry::VARIABLES`).
fn variables_read() -> BTreeSet<String> {
    let mut seen = api_variables();
    seen.extend(worker_variables());
    seen.insert("RUST_LOG".into());
    seen.extend(
        orderflow_shared::telemetry::VARIABLES
            .iter()
            .map(|v| v.to_string()),
    );
    seen
}

/// A binary's variables: the keys its settings look up. Development, so that no production
/// check stops the reading half-way.
fn looked_up<T>(read: impl FnOnce(&dyn Fn(&str) -> Option<String>) -> T) -> BTreeSet<String> {
    let seen = RefCell::new(BTreeSet::new());
    let lookup = |key: &str| {
        seen.borrow_mut().insert(key.to_string());
        (key == "APP_ENV").then(|| "development".to_string())
    };
    let _ = read(&lookup);
    seen.into_inner()
}

fn api_variables() -> BTreeSet<String> {
    looked_up(|get| ApiSettings::from_lookup(get))
}

fn worker_variables() -> BTreeSet<String> {
    looked_up(|get| WorkerSettings::from_lookup(get))
}

fn upper_key(line: &str) -> Option<(String, String)> {
    let trimmed = line.trim_start().trim_start_matches("- name: ");
    let (key, value) = trimmed.split_once(':').unwrap_or((trimmed, ""));
    let key = key.trim();
    let is_var = key.len() > 2
        && key.starts_with(|c: char| c.is_ascii_uppercase())
        && key
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    is_var.then(|| (key.to_string(), value.trim().trim_matches('"').to_string()))
}

/// The application's variables in docker-compose.yml: the shared `x-app-env` block and the
/// `environment` of the services that run OrderFlow's image.
fn compose_variables() -> BTreeSet<String> {
    let mut vars = BTreeSet::new();
    let (mut top, mut service) = (String::new(), String::new());
    for line in read("docker-compose.yml").lines() {
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if indent == 0 {
            top = line
                .trim_end_matches(':')
                .split(':')
                .next()
                .unwrap()
                .to_string();
        } else if indent == 2 && top == "services" {
            service = line.trim().trim_end_matches(':').to_string();
        } else if let Some((key, _)) = upper_key(line)
            && (compose_env_block(&top)
                || (top == "services" && ["api", "worker", "migrate"].contains(&&*service)))
        {
            vars.insert(key);
        }
    }
    vars
}

/// `x-app-env` (both binaries) and `x-api-env` (the API's own, on top).
fn compose_env_block(top: &str) -> bool {
    top.starts_with("x-") && top.ends_with("-env")
}

/// The variables of one top-level block of docker-compose.yml.
fn compose_block(name: &str) -> BTreeSet<String> {
    let mut vars = BTreeSet::new();
    let mut inside = false;
    for line in read("docker-compose.yml").lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() && !line.starts_with('#') {
            inside = line.trim_end_matches(':').split(':').next() == Some(name);
        } else if inside && let Some((key, _)) = upper_key(line) {
            vars.insert(key);
        }
    }
    vars
}

/// Under compose too, the worker is not given the API's secrets: its environment is the
/// shared block, which holds none of them.
#[test]
fn the_compose_worker_gets_no_api_secret() {
    let shared = compose_block("x-app-env");
    assert!(shared.contains("DATABASE_URL"), "{shared:?}");
    let api = compose_block("x-api-env");
    assert!(api.contains("JWT_SECRET"), "{api:?}");
    for secret in ["JWT_SECRET", "FIRST_ADMIN_PASSWORD"] {
        assert!(!shared.contains(secret), "x-app-env holds {secret}");
    }
    let compose = read("docker-compose.yml");
    let worker = compose
        .split("\n  worker:")
        .nth(1)
        .expect("a worker service");
    // Up to the next service (a line indented by exactly two spaces).
    let worker: String = worker
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with("  ") || l.starts_with("   "))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(worker.contains("<<: *app-env"), "{worker}");
    assert!(
        !worker.contains("api-env") && !worker.contains("JWT"),
        "{worker}"
    );
}

fn dockerfile_variables() -> BTreeSet<String> {
    read("Dockerfile")
        .lines()
        .filter_map(|l| l.strip_prefix("ENV "))
        .flat_map(|l| l.split_whitespace())
        .filter_map(|pair| pair.split_once('=').map(|(k, _)| k.to_string()))
        .collect()
}

/// Keys of the ConfigMap and the Secret template, and `env` entries of the Deployments.
fn kubernetes_variables() -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    for file in ["configmap.yaml", "secret.example.yaml"] {
        for line in read(&format!("deploy/kubernetes/{file}")).lines() {
            if line.starts_with("  ")
                && !line.starts_with("   ")
                && let Some((k, v)) = upper_key(line)
            {
                vars.insert(k, v);
            }
        }
    }
    for file in ["api-deployment.yaml", "worker-deployment.yaml"] {
        for line in read(&format!("deploy/kubernetes/{file}")).lines() {
            if line.trim_start().starts_with("- name: ")
                && let Some((k, _)) = upper_key(line)
            {
                vars.insert(k, String::new());
            }
        }
    }
    vars
}

#[test]
fn every_variable_the_deployments_set_is_read_by_the_binaries() {
    let known = variables_read();
    assert!(known.contains("DATABASE_URL") && known.contains("USER_WRITE_RATE_LIMIT_BURST"));
    let sources = [
        ("docker-compose.yml", compose_variables()),
        ("Dockerfile", dockerfile_variables()),
        (
            "deploy/kubernetes",
            kubernetes_variables().into_keys().collect(),
        ),
    ];
    for (source, vars) in &sources {
        assert!(!vars.is_empty(), "{source}: no variables found");
        let unknown: Vec<_> = vars.difference(&known).collect();
        assert!(
            unknown.is_empty(),
            "{source} sets variables nothing reads: {unknown:?}"
        );
    }
}

#[test]
fn the_variables_a_container_needs_are_set() {
    let mut compose = compose_variables();
    compose.extend(dockerfile_variables());
    let kubernetes: BTreeSet<String> = kubernetes_variables().into_keys().collect();
    // Defaults point at localhost, which inside a container is the container itself; a
    // listener on 127.0.0.1 cannot be reached from outside it.
    let needed = [
        "DATABASE_URL",
        "REDIS_URL",
        "JWT_SECRET",
        "SMTP_HOST",
        "APP_HOST",
        "WORKER_HOST",
    ];
    for (source, vars) in [("compose", &compose), ("kubernetes", &kubernetes)] {
        let missing: Vec<_> = needed.iter().filter(|v| !vars.contains(**v)).collect();
        assert!(missing.is_empty(), "{source} does not set {missing:?}");
    }
    assert!(kubernetes.contains("APP_ENV"));
    assert!(
        !kubernetes.contains("WORKER_NAME"),
        "worker names must be unique"
    );
}

#[test]
fn the_kubernetes_settings_start_in_production() {
    let mut vars = kubernetes_variables();
    assert_eq!(vars["APP_ENV"], "production");
    // The template's placeholders are refused on purpose; a real secret replaces them.
    let refused = ApiSettings::from_lookup(|k| vars.get(k).cloned());
    assert!(refused.is_err(), "the template's JWT_SECRET must not start");
    vars.insert("JWT_SECRET".into(), "k".repeat(48));
    let refused = ApiSettings::from_lookup(|k| vars.get(k).cloned()).unwrap_err();
    assert!(
        refused.to_string().contains("FIRST_ADMIN_PASSWORD"),
        "the template's admin password must not start: {refused}"
    );
    vars.insert(
        "FIRST_ADMIN_PASSWORD".into(),
        "a-password-of-its-own-4711".into(),
    );
    let settings = ApiSettings::from_lookup(|k| vars.get(k).cloned()).expect("valid settings");
    assert_eq!(settings.host, "0.0.0.0");
    assert!(!settings.limits.trusted_proxies.is_empty());
    assert!(!settings.migrate_on_start);
}

/// The worker's pod gets the ConfigMap and only the secrets its Deployment names; with those
/// it starts in production (no `JWT_SECRET`, no first-admin password), and it is given none
/// of the API's secrets.
#[test]
fn the_kubernetes_worker_starts_in_production_with_only_its_own_secrets() {
    let deployment = read("deploy/kubernetes/worker-deployment.yaml");
    assert!(
        !deployment.contains("secretRef:"),
        "the worker takes named keys of the Secret, not all of it"
    );
    let secrets: BTreeSet<String> = deployment
        .lines()
        .filter_map(|l| l.trim().strip_prefix("key: "))
        .map(str::to_string)
        .collect();
    assert!(secrets.contains("DATABASE_URL") && secrets.contains("REDIS_URL"));
    let worker_reads = worker_variables();
    for secret in &secrets {
        assert!(
            worker_reads.contains(secret),
            "the worker does not read {secret}"
        );
    }
    for api_only in ["JWT_SECRET", "JWT_PREVIOUS_KEYS", "FIRST_ADMIN_PASSWORD"] {
        assert!(
            !secrets.contains(api_only),
            "the worker is given {api_only}"
        );
        assert!(
            !worker_reads.contains(api_only),
            "the worker reads {api_only}"
        );
    }

    let template = kubernetes_variables();
    let mut vars: BTreeMap<String, String> = read("deploy/kubernetes/configmap.yaml")
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(upper_key)
        .collect();
    for secret in &secrets {
        vars.insert(secret.clone(), template[secret].clone());
    }
    assert_eq!(vars["APP_ENV"], "production");
    assert!(!vars.contains_key("JWT_SECRET"));
    let worker = WorkerSettings::from_lookup(|k| vars.get(k).cloned())
        .expect("the worker starts in production with its own variables");
    assert_eq!(worker.host, "0.0.0.0");
}

/// Backticked variable names (`SOME_NAME`) in `text`.
fn named_variables(text: &str) -> BTreeSet<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(|name| name.trim_end_matches("/_ARG"))
        .filter(|name| {
            name.len() > 3
                && name.starts_with(|c: char| c.is_ascii_uppercase())
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .map(str::to_string)
        .collect()
}

/// The README's "Configuration" table says which binary reads each variable, and the README
/// names every variable either binary reads.
#[test]
fn the_readme_documents_every_variable_and_which_binary_reads_it() {
    let readme = read("README.md");
    let (api, worker) = (api_variables(), worker_variables());
    let telemetry: BTreeSet<String> = orderflow_shared::telemetry::VARIABLES
        .iter()
        .map(|v| v.to_string())
        .chain(["RUST_LOG".to_string()])
        .collect();
    let table = readme
        .split("## Configuration")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("a Configuration section");
    let mut rows = 0;
    for row in table
        .lines()
        .filter(|l| l.starts_with("| `") || l.starts_with("| limits"))
    {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let (variables, read_by) = (named_variables(cells[1]), cells[2]);
        for variable in &variables {
            let (by_api, by_worker) = if telemetry.contains(variable) {
                (true, true)
            } else {
                (api.contains(variable), worker.contains(variable))
            };
            let actual = match (by_api, by_worker) {
                (true, true) => "both",
                (true, false) => "API",
                (false, true) => "worker",
                (false, false) => "nothing",
            };
            assert_eq!(actual, read_by, "README says {read_by} reads {variable}");
        }
        rows += 1;
    }
    assert!(rows > 20, "the table's rows were not found ({rows})");
    let documented = named_variables(&readme);
    let missing: Vec<_> = api
        .union(&worker)
        .filter(|v| !documented.contains(*v))
        .collect();
    assert!(
        missing.is_empty(),
        "read but not in the README: {missing:?}"
    );
}
