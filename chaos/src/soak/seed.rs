//! The soak's accounts and products, made through the API like any client would.

use anyhow::Context;
use serde_json::{Value, json};

use super::load::Cast;

const CUSTOMERS: usize = 8;
const PASSWORD: &str = "soak-customer-password";

async fn json(response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let body: Value = response.json().await?;
    anyhow::ensure!(status.is_success(), "{status}: {body}");
    Ok(body)
}

async fn login(
    client: &reqwest::Client,
    api: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<String> {
    let body = json(
        client
            .post(format!("{api}/api/v1/auth/login"))
            .form(&[("username", email), ("password", password)])
            .send()
            .await?,
    )
    .await?;
    body["access_token"]
        .as_str()
        .map(str::to_owned)
        .context("no access token")
}

pub async fn cast(apis: &[String]) -> anyhow::Result<Cast> {
    let client = reqwest::Client::new();
    let api = &apis[0];
    let admin = login(&client, api, "admin@chaos.example", "chaos-admin-password").await?;
    let mut products = Vec::new();
    for (sku, price) in [
        ("SOAK-1", "20.00"),
        ("SOAK-2", "4.50"),
        ("SOAK-3", "129.99"),
    ] {
        let body = json(
            client
                .post(format!("{api}/api/v1/products"))
                .bearer_auth(&admin)
                .json(&json!({"sku": sku, "name": format!("Soak product {sku}"), "price": price}))
                .send()
                .await?,
        )
        .await?;
        products.push(body["id"].as_i64().context("product id")?);
    }
    let mut customers = Vec::new();
    for i in 0..CUSTOMERS {
        let email = format!("soak-{i}@chaos.example");
        let body = json(
            client
                .post(format!("{api}/api/v1/auth/register"))
                .json(&json!({"email": email, "password": PASSWORD, "name": format!("Soak Customer {i}")}))
                .send()
                .await?,
        )
        .await?;
        let customer = body["customer_id"].as_i64().context("customer id")?;
        let token = login(&client, api, &email, PASSWORD).await?;
        customers.push((token, customer, email, PASSWORD.to_string()));
    }
    Ok(Cast {
        apis: apis.to_vec(),
        admin,
        customers,
        products,
    })
}
