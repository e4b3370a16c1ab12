//! `iot-sdk-codegen`: Rust services from IoTDA product models.
//!
//! * `generate MODEL... -o DIR` writes `DIR/<model>.rs` for each model;
//! * `check MODEL... -o DIR` fails when those files are not what the models give;
//! * `model MODEL` prints the checked model as JSON;
//! * `schema` prints the JSON Schema of that model.
//!
//! Exit status: 0 done, 1 a model or the code has problems, 2 bad usage.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use iot_sdk_codegen::{Builder, Error, ProductModel, load, output_file_name};

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
    Generate {
        /// Product models: zip archives, package folders or JSON files.
        #[arg(required = true)]
        models: Vec<PathBuf>,
        /// Where to write the code.
        #[arg(short, long, default_value = ".")]
        out_dir: PathBuf,
    },
    /// Fail when `<DIR>/<model>.rs` is not the code the model gives.
    Check {
        /// Product models: zip archives, package folders or JSON files.
        #[arg(required = true)]
        models: Vec<PathBuf>,
        /// Where the generated code is.
        #[arg(short, long, default_value = ".")]
        out_dir: PathBuf,
    },
    /// Print the checked model as JSON.
    Model {
        /// A product model: zip archive, package folder or JSON file.
        model: PathBuf,
    },
    /// Print the JSON Schema of the checked model.
    Schema,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Action::Generate { models, out_dir } => report(generate(&models, &out_dir)),
        Action::Check { models, out_dir } => check(&models, &out_dir),
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

fn generate(models: &[PathBuf], out_dir: &Path) -> Result<(), Error> {
    for model in models {
        warn(&load(model)?.warnings);
        let builder = Builder::new()
            .cargo_instructions(false)
            .out_dir(out_dir)
            .model(model);
        for path in builder.generate()? {
            println!("{}", path.display());
        }
    }
    Ok(())
}

/// Checks every model, reporting each stale or missing file.
fn check(models: &[PathBuf], out_dir: &Path) -> ExitCode {
    let mut status = ExitCode::SUCCESS;
    for model in models {
        let existing = out_dir.join(output_file_name(model));
        match iot_sdk_codegen::check(model, &existing) {
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
