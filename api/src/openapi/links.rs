//! OpenAPI links from each creation (`POST /x` answering 201 with the new `id`) to every
//! operation on `/x/{id}` and below, so that clients and schemathesis' stateful phase can go
//! from "create an order" to reading, patching, transitioning and deleting that order.

use serde_json::Value;
use utoipa::openapi::{OpenApi, RefOr, link::LinkBuilder};

pub fn add(spec: &mut OpenApi) {
    // (operationId, path) of everything that takes an `{id}` right after a collection.
    let mut targets: Vec<(String, String)> = Vec::new();
    for (path, item) in &spec.paths.paths {
        let operations = [&item.get, &item.put, &item.patch, &item.delete, &item.post];
        for operation in operations.into_iter().flatten() {
            if let Some(id) = &operation.operation_id {
                targets.push((id.clone(), path.clone()));
            }
        }
    }
    for (path, item) in spec.paths.paths.iter_mut() {
        let Some(create) = item.post.as_mut() else {
            continue;
        };
        let Some(RefOr::T(created)) = create.responses.responses.get_mut("201") else {
            continue;
        };
        let below = format!("{path}/{{id}}");
        for (operation_id, target) in &targets {
            if target == &below || target.starts_with(&format!("{below}/")) {
                let link = LinkBuilder::new()
                    .operation_id(operation_id)
                    .parameter("id", Value::from("$response.body#/id"))
                    .description(format!("The created resource, by `{operation_id}`"))
                    .build();
                created.links.insert(operation_id.clone(), RefOr::T(link));
            }
        }
    }
}
