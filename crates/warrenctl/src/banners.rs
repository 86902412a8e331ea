//! The informational lines rabbitmqctl 3.10 prints before it runs each verb (dropped by `-q`).
//!
//! Texts are copied from rabbitmqctl 3.10.8's output, including its quoting and spacing quirks
//! (`Listing bindings for vhost /...` has no space before the dots).

use crate::cli::Verb;

/// Banner lines for `verb` in `vhost`; status, environment and report print theirs after
/// asking the node for its name.
pub fn banner(verb: &Verb, vhost: &str, timeout_seconds: u64) -> Vec<String> {
    let line = match verb {
        Verb::Status | Verb::Environment | Verb::Report => return vec![],
        Verb::ListUsers => "Listing users ...".to_string(),
        Verb::AddUser { username, .. } => format!("Adding user \"{username}\" ..."),
        Verb::DeleteUser { username } => format!("Deleting user \"{username}\" ..."),
        Verb::ChangePassword { username, .. } => {
            format!("Changing password for user \"{username}\" ...")
        }
        Verb::ClearPassword { username } => format!("Clearing password for user \"{username}\" ..."),
        Verb::AuthenticateUser { username, .. } => format!("Authenticating user \"{username}\" ..."),
        Verb::SetUserTags { username, tags } => {
            format!("Setting tags for user \"{username}\" to [{}] ...", tags.join(", "))
        }
        Verb::ListVhosts { .. } => "Listing vhosts ...".to_string(),
        Verb::AddVhost { name, .. } => format!("Adding vhost \"{name}\" ..."),
        Verb::DeleteVhost { name } => format!("Deleting vhost \"{name}\" ..."),
        Verb::ListPermissions => format!("Listing permissions for vhost \"{vhost}\" ..."),
        Verb::ListUserPermissions { username } => {
            format!("Listing permissions for user \"{username}\" ...")
        }
        Verb::SetPermissions { username, .. } => {
            format!("Setting permissions for user \"{username}\" in vhost \"{vhost}\" ...")
        }
        Verb::ClearPermissions { username } => {
            format!("Clearing permissions for user \"{username}\" in vhost \"{vhost}\" ...")
        }
        Verb::ListQueues { .. } => {
            return vec![
                timeout_line(timeout_seconds),
                format!("Listing queues for vhost {vhost} ..."),
            ]
        }
        Verb::ListExchanges { .. } => format!("Listing exchanges for vhost {vhost} ..."),
        Verb::ListBindings { .. } => format!("Listing bindings for vhost {vhost}..."),
        Verb::ListConnections { .. } => "Listing connections ...".to_string(),
        Verb::ListChannels { .. } => "Listing channels ...".to_string(),
        Verb::ListConsumers { .. } => format!("Listing consumers in vhost {vhost} ..."),
        Verb::PurgeQueue { queue } => format!("Purging queue '{queue}' in vhost '{vhost}' ..."),
        Verb::DeleteQueue {
            queue,
            if_empty,
            if_unused,
        } => {
            let mut conditions = Vec::new();
            if *if_empty {
                conditions.push("if queue is empty ");
            }
            if *if_unused {
                conditions.push("if queue is unused ");
            }
            format!(
                "Deleting queue '{queue}' on vhost '{vhost}' {}...",
                conditions.join("and ")
            )
        }
        Verb::CloseConnection {
            connection,
            explanation,
        } => format!("Closing connection {connection}, reason: {explanation}..."),
        Verb::SetPolicy {
            priority,
            name,
            pattern,
            definition,
            ..
        } => format!(
            "Setting policy \"{name}\" for pattern \"{pattern}\" to \"{definition}\" with priority \"{}\" for vhost \"{vhost}\" ...",
            priority.unwrap_or(0)
        ),
        Verb::ClearPolicy { name } => format!("Clearing policy \"{name}\" on vhost \"{vhost}\" ..."),
        Verb::ListPolicies => format!("Listing policies for vhost \"{vhost}\" ..."),
        Verb::SetVhostLimits { definition } => {
            format!("Setting vhost limits to \"{definition}\" for vhost \"{vhost}\" ...")
        }
        Verb::ClearVhostLimits => format!("Clearing vhost \"{vhost}\" limits ..."),
        Verb::ListVhostLimits { global: true } => "Listing limits for all vhosts ...".to_string(),
        Verb::ListVhostLimits { global: false } => {
            format!("Listing limits for vhost \"{vhost}\" ...")
        }
        Verb::SetUserLimits {
            username,
            definition,
        } => format!("Setting user limits to \"{definition}\" for user \"{username}\" ..."),
        Verb::ClearUserLimits { username, limit } if limit == "all" => {
            format!("Clearing all limits for user \"{username}\" ...")
        }
        Verb::ClearUserLimits { username, limit } => {
            format!("Clearing \"{limit}\" limit for user \"{username}\" ...")
        }
        Verb::ListUserLimits { global: true, .. } => "Listing limits for all users ...".to_string(),
        Verb::ListUserLimits { limits_user, .. } => format!(
            "Listing limits for user \"{}\" ...",
            limits_user.as_deref().unwrap_or(crate::cli::DEFAULT_LIMITS_USER)
        ),
        // `-` writes the definitions themselves to stdout: no banner.
        Verb::ExportDefinitions { file } if file == "-" => return vec![],
        Verb::ExportDefinitions { file } => {
            format!("Exporting definitions in JSON to a file at \"{file}\" ...")
        }
        Verb::ImportDefinitions { file: Some(file) } if file == "-" => return vec![],
        Verb::ImportDefinitions { file: Some(file) } => {
            format!("Importing definitions in JSON from a file at \"{file}\" ...")
        }
        Verb::ImportDefinitions { file: None } => {
            "Importing definitions in JSON from standard input ...".to_string()
        }
    };
    vec![line]
}

/// `Timeout: 60.0 seconds ...` (rabbitmqctl shows the timeout as a float).
pub fn timeout_line(timeout_seconds: u64) -> String {
    format!("Timeout: {timeout_seconds}.0 seconds ...")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_queues_prints_timeout_then_vhost_without_quotes() {
        let verb = Verb::ListQueues { columns: vec![] };
        assert_eq!(
            banner(&verb, "/", 60),
            [
                "Timeout: 60.0 seconds ...",
                "Listing queues for vhost / ..."
            ]
        );
    }

    #[test]
    fn quoting_differs_per_verb_as_in_rabbitmqctl() {
        assert_eq!(
            banner(&Verb::ListPermissions, "v1", 60),
            ["Listing permissions for vhost \"v1\" ..."]
        );
        assert_eq!(
            banner(&Verb::ListBindings { columns: vec![] }, "v1", 60),
            ["Listing bindings for vhost v1..."]
        );
        assert_eq!(
            banner(&Verb::PurgeQueue { queue: "q".into() }, "v1", 60),
            ["Purging queue 'q' in vhost 'v1' ..."]
        );
        let tags = Verb::SetUserTags {
            username: "u".into(),
            tags: vec!["monitoring".into(), "management".into()],
        };
        assert_eq!(
            banner(&tags, "/", 60),
            ["Setting tags for user \"u\" to [monitoring, management] ..."]
        );
    }

    #[test]
    fn delete_queue_names_its_conditions() {
        let verb = |if_empty, if_unused| Verb::DeleteQueue {
            queue: "q".into(),
            if_empty,
            if_unused,
        };
        assert_eq!(
            banner(&verb(false, false), "v", 60),
            ["Deleting queue 'q' on vhost 'v' ..."]
        );
        assert_eq!(
            banner(&verb(true, false), "v", 60),
            ["Deleting queue 'q' on vhost 'v' if queue is empty ..."]
        );
        assert_eq!(
            banner(&verb(true, true), "v", 60),
            ["Deleting queue 'q' on vhost 'v' if queue is empty and if queue is unused ..."]
        );
    }

    #[test]
    fn set_policy_shows_priority_zero_by_default() {
        let verb = Verb::SetPolicy {
            priority: None,
            apply_to: None,
            name: "p4".into(),
            pattern: "^zz".into(),
            definition: "{\"max-length\":7}".into(),
        };
        assert_eq!(
            banner(&verb, "v", 60),
            ["Setting policy \"p4\" for pattern \"^zz\" to \"{\"max-length\":7}\" with priority \"0\" for vhost \"v\" ..."]
        );
    }

    #[test]
    fn export_to_stdout_and_import_from_dash_print_nothing_first() {
        assert!(banner(&Verb::ExportDefinitions { file: "-".into() }, "/", 60).is_empty());
        assert!(banner(
            &Verb::ImportDefinitions {
                file: Some("-".into())
            },
            "/",
            60
        )
        .is_empty());
    }
}
