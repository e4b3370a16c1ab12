//! The rules across the commands of one impl block.

use std::collections::HashMap;

use super::attr::Command;
use crate::errors::Errors;

/// Reports empty command names and names used twice in the block. (Names
/// repeated across impl blocks are found by the runtime when the service
/// is added: one block cannot see another.)
pub(crate) fn check(commands: &[Command], errors: &Errors) {
    let mut seen: HashMap<&str, &Command> = HashMap::new();
    for command in commands {
        if command.name.is_empty() {
            errors.at(command.name_span, "the command name must not be empty");
        } else if let Some(first) = seen.insert(&command.name, command) {
            errors.at(
                command.name_span,
                format_args!(
                    "duplicate command name `{}`: method `{}` already uses it",
                    command.name, first.method
                ),
            );
        }
    }
}
