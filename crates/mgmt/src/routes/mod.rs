//! The API's endpoints, one module per group.

mod bindings;
mod connections;
mod definitions;
mod exchanges;
mod limits;
mod overview;
mod policies;
mod queues;
mod users;
mod vhosts;

use std::sync::Arc;

use axum::Router;

use crate::Api;

pub fn all() -> Router<Arc<Api>> {
    Router::new()
        .merge(overview::routes())
        .merge(vhosts::routes())
        .merge(users::routes())
        .merge(exchanges::routes())
        .merge(queues::routes())
        .merge(bindings::routes())
        .merge(connections::routes())
        .merge(policies::routes())
        .merge(limits::routes())
        .merge(definitions::routes())
}
