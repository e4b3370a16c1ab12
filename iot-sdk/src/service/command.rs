//! Commands of a service: what `#[commands]` registers, and what a command
//! method may return.

use std::any::{Any, TypeId};
use std::fmt;
use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

use crate::protocol::model::ServiceCommandPara;
use crate::protocol::payload::CommandResponse;

/// A boxed command future borrowing the service.
pub type CommandFuture<'a> = Pin<Box<dyn Future<Output = CommandResponse> + Send + 'a>>;

/// Calls one command method with the command's `paras`, on the service
/// behind a type-erased `tokio::sync::Mutex<S>`: the command decodes its
/// parameters before it waits for the lock.
pub type CommandFn = for<'a> fn(&'a (dyn Any + Send + Sync), Value) -> CommandFuture<'a>;

/// One `#[command]` method, collected by `inventory` across the program.
#[derive(Debug)]
pub struct CommandRegistration {
    /// The type of the service the method belongs to.
    pub service_type: fn() -> TypeId,
    /// Its name, for error messages.
    pub service_type_name: fn() -> &'static str,
    /// The command name the platform calls.
    pub name: &'static str,
    /// The method's doc comment.
    pub description: Option<&'static str>,
    /// Calls the method.
    pub invoke: CommandFn,
    /// The parameters, for the product model.
    pub paras: fn() -> Vec<ServiceCommandPara>,
    /// Where the method is, for error messages: `file:line`.
    pub location: &'static str,
}

inventory::collect!(CommandRegistration);

/// The registered commands of service type `S`, in a stable order.
pub(crate) fn commands_of<S: 'static>() -> Vec<&'static CommandRegistration> {
    let mut commands: Vec<_> = inventory::iter::<CommandRegistration>
        .into_iter()
        .filter(|c| (c.service_type)() == TypeId::of::<S>())
        .collect();
    commands.sort_by_key(|c| (c.name, c.location));
    commands
}

/// The registered commands whose service type is none of `added`.
pub(crate) fn unadded_commands(added: &[TypeId]) -> Vec<&'static CommandRegistration> {
    inventory::iter::<CommandRegistration>
        .into_iter()
        .filter(|c| !added.contains(&(c.service_type)()))
        .collect()
}

/// A failed command: a description, and the `result_code` to answer
/// (default -1).
///
/// Every `std::error::Error` converts into it, so `?` works in a command
/// method that returns `Result<_, CommandError>`.
pub struct CommandError {
    code: i32,
    message: String,
}

impl CommandError {
    /// A failure with `result_code` -1.
    pub fn new(message: impl fmt::Display) -> Self {
        CommandError {
            code: CommandResponse::FAILURE_CODE,
            message: message.to_string(),
        }
    }

    /// The same failure with another `result_code`.
    pub fn with_code(mut self, code: i32) -> Self {
        self.code = code;
        self
    }
}

impl<E: std::error::Error> From<E> for CommandError {
    fn from(error: E) -> Self {
        CommandError::new(error)
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CommandError({}: {})", self.code, self.message)
    }
}

/// What a command method may return.
#[diagnostic::on_unimplemented(
    message = "a command method cannot return `{Self}`",
    label = "not a command response",
    note = "return (), CommandResponse, or a Result of one of them whose error converts into CommandError"
)]
pub trait IntoCommandResponse {
    /// The answer the platform gets.
    fn into_command_response(self) -> CommandResponse;
}

impl IntoCommandResponse for CommandResponse {
    fn into_command_response(self) -> CommandResponse {
        self
    }
}

impl IntoCommandResponse for () {
    fn into_command_response(self) -> CommandResponse {
        CommandResponse::success()
    }
}

impl<T: IntoCommandResponse, E: Into<CommandError>> IntoCommandResponse for Result<T, E> {
    fn into_command_response(self) -> CommandResponse {
        match self {
            Ok(done) => done.into_command_response(),
            Err(error) => {
                let error = error.into();
                let mut response = CommandResponse::failure(error.message);
                response.result_code = error.code;
                response
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn results_become_responses() {
        let ok: Result<(), CommandError> = Ok(());
        assert!(ok.into_command_response().is_success());
        let io = std::io::Error::other("disk full");
        let failed: Result<CommandResponse, CommandError> = Err(io.into());
        let response = failed.into_command_response();
        assert_eq!(response.result_code, -1);
        assert_eq!(response.paras, Some(json!({"error": "disk full"})));
        let coded: Result<(), _> = Err(CommandError::new("busy").with_code(2));
        assert_eq!(coded.into_command_response().result_code, 2);
    }
}
