//! What tracing costs (docs/tracing.md): read by id (cache off) and an order placed, on a
//! fresh API process per setting — no endpoint (off), an endpoint with the sampler at 0%, and
//! every trace sampled and exported to a live OTLP receiver in this process (which decodes
//! every span, on the same machine) — in two rounds, off → 0% → 100% → 100% → 0% → off, so a
//! drift of the machine during the run falls on each setting alike.

use orderflow_testkit::otlp::OtlpReceiver;

use crate::{
    process::Process,
    report::{ApiRow, Summary},
    scenarios::Context,
};

const SETTINGS: [(&str, &str); 3] = [("off", ""), ("0%", "0.0"), ("100%", "1.0")];

pub async fn run(ctx: &Context<'_>, summary: &mut Summary) -> anyhow::Result<()> {
    let receiver = OtlpReceiver::start_counting().await;
    let uncached = ctx.env.with(&[("CACHE_TTL_SECONDS", "0".into())]);
    let order = [0, 1, 2, 2, 1, 0];
    let mut rows: Vec<(usize, ApiRow, ApiRow)> = Vec::new();
    // This process's CPU per setting: the receiver decoding spans (plus wrk's bookkeeping,
    // the same for every setting), which shares the 2 cores with the API.
    let mut own_cpu = [0.0f64; 3];
    let me = std::process::id();
    for setting in order {
        let (name, ratio) = SETTINGS[setting];
        let env = if ratio.is_empty() {
            uncached.clone()
        } else {
            uncached.with(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
                ("OTEL_TRACES_SAMPLER", "traceidratio".into()),
                ("OTEL_TRACES_SAMPLER_ARG", ratio.into()),
            ])
        };
        let api = Process::api(ctx.cfg, &env, &format!("api-tracing-{setting}")).await?;
        let cpu_before = crate::process::cpu_seconds(me).unwrap_or(0.0);
        let read = ctx
            .measure_with(
                &api,
                &format!("GET /orders/{{id}} (cache off, tracing {name})"),
                "read",
                &[],
            )
            .await?;
        let create = ctx
            .measure_with(
                &api,
                &format!("POST /orders (3 items, tracing {name})"),
                "create",
                &[],
            )
            .await?;
        own_cpu[setting] += crate::process::cpu_seconds(me).unwrap_or(0.0) - cpu_before;
        api.stop().await?;
        rows.push((setting, read, create));
    }
    let spans = receiver.received();
    println!("\n### Tracing cost (same run; ratio of requests/s to tracing off)\n");
    println!(
        "| setting | GET /orders/{{id}} rps (rounds) | ratio | POST /orders rps (rounds) | ratio |"
    );
    println!("|---|---|---|---|---|");
    let rps = |setting: usize, pick: fn(&(usize, ApiRow, ApiRow)) -> f64| -> Vec<f64> {
        rows.iter().filter(|r| r.0 == setting).map(pick).collect()
    };
    let read = |r: &(usize, ApiRow, ApiRow)| r.1.load.rps;
    let create = |r: &(usize, ApiRow, ApiRow)| r.2.load.rps;
    let sum = |v: &[f64]| v.iter().sum::<f64>();
    let (off_read, off_create) = (rps(0, read), rps(0, create));
    for (setting, (name, _)) in SETTINGS.iter().enumerate() {
        let (r, c) = (rps(setting, read), rps(setting, create));
        println!(
            "| {name} | {} | {:.3} | {} | {:.3} |",
            r.iter()
                .map(|x| format!("{x:.0}"))
                .collect::<Vec<_>>()
                .join(", "),
            sum(&r) / sum(&off_read),
            c.iter()
                .map(|x| format!("{x:.0}"))
                .collect::<Vec<_>>()
                .join(", "),
            sum(&c) / sum(&off_create),
        );
    }
    println!("\nspans received by the OTLP receiver: {spans}");
    for (setting, (name, _)) in SETTINGS.iter().enumerate() {
        println!(
            "bench process CPU (the receiver, on the same cores) with tracing {name}: {:.1} s",
            own_cpu[setting]
        );
    }
    for (_, read, create) in rows {
        summary.api.push(read);
        summary.api.push(create);
    }
    Ok(())
}
