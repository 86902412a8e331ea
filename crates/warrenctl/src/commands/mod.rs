//! Runs one verb against the management API: the verb's calls and what it prints.

mod connections;
mod definitions;
mod limits;
mod listings;
mod node_status;
mod permissions;
mod policies;
mod queues;
mod users;
mod vhosts;

use crate::api::ManagementApi;
use crate::cli::Verb;
use crate::columns;
use crate::error::CtlError;
use crate::output::CommandOutput;

/// What every verb needs.
pub struct Context<'a> {
    pub api: &'a ManagementApi,
    pub vhost: &'a str,
    pub timeout_seconds: u64,
}

/// Checks made before the banner is printed, as rabbitmqctl validates arguments first.
pub fn validate(verb: &Verb) -> Result<(), CtlError> {
    let (listing, requested) = match verb {
        Verb::ListQueues { columns } => (columns::QUEUES, columns),
        Verb::ListExchanges { columns } => (columns::EXCHANGES, columns),
        Verb::ListBindings { columns } => (columns::BINDINGS, columns),
        Verb::ListConnections { columns } => (columns::CONNECTIONS, columns),
        Verb::ListChannels { columns } => (columns::CHANNELS, columns),
        Verb::ListConsumers { columns } => (columns::CONSUMERS, columns),
        Verb::ListVhosts { columns } => (columns::VHOSTS, columns),
        Verb::ImportDefinitions { file: Some(file) } => return definitions::validate_import(file),
        _ => return Ok(()),
    };
    listing.select(requested).map(drop)
}

pub fn execute(verb: &Verb, ctx: &Context<'_>) -> Result<CommandOutput, CtlError> {
    match verb {
        Verb::Status => node_status::status(ctx),
        Verb::Environment => node_status::environment(ctx),
        Verb::Report => node_status::report(ctx),

        Verb::ListUsers => users::list(ctx),
        Verb::AddUser {
            username,
            user_password,
        } => users::add(ctx, username, user_password),
        Verb::DeleteUser { username } => users::delete(ctx, username),
        Verb::ChangePassword {
            username,
            new_password,
        } => users::change_password(ctx, username, new_password),
        Verb::ClearPassword { username } => users::clear_password(ctx, username),
        Verb::AuthenticateUser {
            username,
            user_password,
        } => users::authenticate(ctx, username, user_password),
        Verb::SetUserTags { username, tags } => users::set_tags(ctx, username, tags),

        Verb::ListVhosts { columns } => vhosts::list(ctx, columns),
        Verb::AddVhost {
            name,
            description,
            tags,
        } => vhosts::add(ctx, name, description.as_deref(), tags.as_deref()),
        Verb::DeleteVhost { name } => vhosts::delete(ctx, name),

        Verb::ListPermissions => permissions::list_for_vhost(ctx),
        Verb::ListUserPermissions { username } => permissions::list_for_user(ctx, username),
        Verb::SetPermissions {
            username,
            configure,
            write,
            read,
        } => permissions::set(ctx, username, [configure, write, read]),
        Verb::ClearPermissions { username } => permissions::clear(ctx, username),

        Verb::ListQueues { columns } => listings::queues(ctx, columns),
        Verb::ListExchanges { columns } => listings::exchanges(ctx, columns),
        Verb::ListBindings { columns } => listings::bindings(ctx, columns),
        Verb::ListConnections { columns } => listings::connections(ctx, columns),
        Verb::ListChannels { columns } => listings::channels(ctx, columns),
        Verb::ListConsumers { columns } => listings::consumers(ctx, columns),
        Verb::PurgeQueue { queue } => queues::purge(ctx, queue),
        Verb::DeleteQueue {
            queue,
            if_empty,
            if_unused,
        } => queues::delete(ctx, queue, *if_empty, *if_unused),
        Verb::CloseConnection {
            connection,
            explanation,
        } => connections::close(ctx, connection, explanation),

        Verb::SetPolicy {
            priority,
            apply_to,
            name,
            pattern,
            definition,
        } => policies::set(
            ctx,
            name,
            pattern,
            definition,
            priority.unwrap_or(0),
            apply_to.as_deref().unwrap_or("all"),
        ),
        Verb::ClearPolicy { name } => policies::clear(ctx, name),
        Verb::ListPolicies => policies::list(ctx),

        Verb::SetVhostLimits { definition } => limits::set_vhost(ctx, definition),
        Verb::ClearVhostLimits => limits::clear_vhost(ctx),
        Verb::ListVhostLimits { global } => limits::list_vhost(ctx, *global),
        Verb::SetUserLimits {
            username,
            definition,
        } => limits::set_user(ctx, username, definition),
        Verb::ClearUserLimits { username, limit } => limits::clear_user(ctx, username, limit),
        Verb::ListUserLimits {
            limits_user,
            global,
        } => limits::list_user(ctx, limits_user.as_deref(), *global),

        Verb::ExportDefinitions { file } => definitions::export(ctx, file),
        Verb::ImportDefinitions { file } => definitions::import(ctx, file.as_deref()),
    }
}

/// The node's name, for JSON results (`{"node":…,"result":"ok"}`).
pub fn node_name(api: &ManagementApi) -> Result<String, CtlError> {
    let overview = api
        .get("/overview?columns=node")
        .map_err(|e| api.general_error(e))?;
    Ok(overview
        .get("node")
        .and_then(|n| n.as_str())
        .unwrap_or_default()
        .to_string())
}
