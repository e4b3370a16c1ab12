//! `iot-sdk-codegen`: Rust services from IoTDA product models.
//!
//! * `generate MODEL... -o DIR` writes `DIR/<model>.rs` for each model
//!   (`--out-file NAME` chooses the name for a single model);
//! * `check MODEL... -o DIR` fails when those files are not what the models give;
//! * `model MODEL` prints the checked model as JSON;
//! * `schema` prints the JSON Schema of that model.
//!
//! Exit status: 0 done, 1 a model or the code has problems, 2 bad usage.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand};
use iot_sdk_codegen::{Builder, Error, ProductModel, load};

/// Rust services from IoTDA product models (offline zip/folder or API JSON).
#[derive(Debug, Parser)]
#[command(name = "iot-sdk-codegen", version)]
struct Cli {
    #[command(subcommand)]
    command: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Generate `<DIR>/<model>.rs` for each model.
    Generate(Outputs),
    /// Fail when `<DIR>/<model>.rs` is not the code the model gives.
    Check(Outputs),
    /// Print the checked model as JSON.
    Model {
        /// A product model: zip archive, package folder or JSON file.
        model: PathBuf,
    },
    /// Print the JSON Schema of the checked model.
    Schema,
}

/// The models and where their code is.
#[derive(Debug, Args)]
struct Outputs {
    /// Product models: zip archives, package folders or JSON files.
    #[arg(required = true)]
    models: Vec<PathBuf>,
    /// The directory of the code.
    #[arg(short, long, value_name = "DIR", default_value = ".")]
    out_dir: PathBuf,
    /// The code's file name in DIR, for a single model (by default the
    /// model's file name in snake case: `smokeDetector.zip` gives
    /// `smoke_detector.rs`).
    #[arg(short = 'f', long, value_name = "NAME")]
    out_file: Option<String>,
}

impl Outputs {
    /// A builder for the models; exits with a usage error when one file
    /// name is given for several models, which cannot all have it.
    fn builder(&self) -> Builder {
        if self.out_file.is_some() && self.models.len() > 1 {
            Cli::command()
                .error(
                    clap::error::ErrorKind::ArgumentConflict,
                    "--out-file names the file of a single model",
                )
                .exit();
        }
        let builder = Builder::new()
            .cargo_instructions(false)
            .out_dir(&self.out_dir);
        self.models
            .iter()
            .fold(builder, |builder, model| match &self.out_file {
                Some(name) => builder.model_as(model, name),
                None => builder.model(model),
            })
    }
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Action::Generate(outputs) => report(generate(&outputs)),
        Action::Check(outputs) => check(&outputs),
        Action::Model { model } => report(show(&model)),
        Action::Schema => {
            print_json(&schemars::schema_for!(ProductModel));
            ExitCode::SUCCESS
        }
    }
}

/// Prints the error, if any, and turns the result into the exit status.
fn report(result: Result<(), Error>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}

fn show(model: &Path) -> Result<(), Error> {
    let loaded = load(model)?;
    warn(&loaded.warnings);
    print_json(&loaded.model);
    Ok(())
}

/// One builder for all models, so that two of them cannot write one file.
fn generate(outputs: &Outputs) -> Result<(), Error> {
    let builder = outputs.builder();
    builder.output_paths()?;
    // The builder tells warnings to Cargo only: load once more to show them.
    for model in &outputs.models {
        warn(&load(model)?.warnings);
    }
    for path in builder.generate()? {
        println!("{}", path.display());
    }
    Ok(())
}

/// Checks every model, reporting each stale or missing file.
fn check(outputs: &Outputs) -> ExitCode {
    let paths = match outputs.builder().output_paths() {
        Ok(paths) => paths,
        Err(error) => return report(Err(error)),
    };
    let mut status = ExitCode::SUCCESS;
    for (model, existing) in outputs.models.iter().zip(&paths) {
        match iot_sdk_codegen::check(model, existing) {
            Ok(()) => println!("{}: up to date", existing.display()),
            Err(error) => {
                eprintln!("{error}");
                status = ExitCode::FAILURE;
            }
        }
    }
    status
}

fn warn(warnings: &[iot_sdk_codegen::Problem]) {
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
}

fn print_json(value: &impl serde::Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(json) => println!("{json}"),
        Err(error) => eprintln!("cannot write JSON: {error}"),
    }
}
