//! `omnify-sandbox`: the seven platform sandboxes on consecutive loopback
//! ports, for trying the connectors by hand.

use clap::Parser;
use omnify_sandbox::world::Scenario;
use omnify_sandbox::{Sandbox, SandboxConfig};

/// Serve seeded Meta, Google Ads, TikTok, Shopify, Stripe, LinkedIn and
/// GoHighLevel APIs on loopback.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The first of seven consecutive ports (Meta, Google, TikTok, Shopify,
    /// Stripe, LinkedIn, GoHighLevel).
    #[arg(long, default_value_t = 9101)]
    first_port: u16,
    /// The seed of the generated data.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Serve the control data set, without planted facts.
    #[arg(long)]
    control: bool,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let sandbox = Sandbox::start(SandboxConfig {
        seed: args.seed,
        scenario: if args.control {
            Scenario::Control
        } else {
            Scenario::Planted
        },
        first_port: Some(args.first_port),
        ..SandboxConfig::default()
    })
    .await?;
    println!("Meta Marketing API  {}", sandbox.meta.url);
    println!("Google Ads API      {}", sandbox.google.url);
    println!("TikTok Business API {}", sandbox.tiktok.url);
    println!("Shopify Admin API   {}", sandbox.shopify.url);
    println!("Stripe API          {}", sandbox.stripe.url);
    println!("LinkedIn Marketing  {}", sandbox.linkedin.url);
    println!("GoHighLevel API     {}", sandbox.gohighlevel.url);
    println!("\nEnable the connectors against them with these request bodies:");
    for (plugin, body) in sandbox.enablements() {
        println!("PUT /v1/tenants/<tenant>/plugins/{plugin}\n{body}\n");
    }
    tokio::signal::ctrl_c().await
}
