//! `train --config FILE`: a recipe file (`train::recipe_file`) read as if its settings were
//! typed first on the command line, so that any flag typed as well overrides the file's (the
//! `train` command takes a repeated flag's last value).

use std::ffi::OsString;
use std::path::Path;

use anyhow::Context;
use clap::{ArgAction, CommandFactory};

use super::Cli;
use crate::train::recipe_file::RecipeFile;

/// The flag that names a recipe file.
pub const FLAG: &str = "--config";

/// `args` (the process's, the program first) with a `train --config FILE`'s settings put in
/// right after `train`, before the flags typed. A face set typed (`--data`, `--synthetic`)
/// replaces the file's.
pub fn expand(args: Vec<OsString>) -> anyhow::Result<Vec<OsString>> {
    let Some(train) = subcommand(&args).filter(|&at| args[at] == "train") else {
        return Ok(args);
    };
    let typed = &args[train + 1..];
    let named = typed
        .windows(2)
        .find(|pair| pair[0] == FLAG)
        .map(|pair| pair[1].clone());
    let joined = || {
        typed.iter().find_map(|a| {
            a.to_str()
                .and_then(|a| a.strip_prefix("--config="))
                .map(OsString::from)
        })
    };
    let Some(file) = named.or_else(joined) else {
        return Ok(args);
    };
    let text = std::fs::read_to_string(Path::new(&file))
        .with_context(|| format!("reading the recipe file {}", Path::new(&file).display()))?;
    let mut recipe = RecipeFile::parse(&text)
        .with_context(|| format!("the recipe file {}", Path::new(&file).display()))?;
    let names_data = |flag: &str| {
        typed.iter().any(|a| {
            a.to_str()
                .is_some_and(|a| a == flag || a.starts_with(&format!("{flag}=")))
        })
    };
    if names_data("--data") || names_data("--synthetic") {
        recipe.data = None;
        recipe.synthetic = None;
    }
    let flags = flags_of(&recipe)?;
    let mut expanded = args[..=train].to_vec();
    expanded.extend(flags.into_iter().map(OsString::from));
    expanded.extend(args[train + 1..].iter().cloned());
    Ok(expanded)
}

/// Where the subcommand is among `args` (the program first): the first word after the
/// program that is not a global option or its value.
fn subcommand(args: &[OsString]) -> Option<usize> {
    let mut at = 1;
    while let Some(word) = args.get(at) {
        match word.to_str() {
            Some("--max-pixels") => at += 2,
            Some(flag) if flag.starts_with('-') => at += 1,
            _ => return Some(at),
        }
    }
    None
}

/// The `train` flags of `file`'s settings: `--key value`, a switch (`--multi`) as itself when
/// true and not at all when false.
pub fn flags_of(file: &RecipeFile) -> anyhow::Result<Vec<String>> {
    let command = Cli::command();
    let train = command
        .find_subcommand("train")
        .context("the train command")?;
    let mut flags = Vec::new();
    for (key, value) in file.pairs()? {
        let arg = train
            .get_arguments()
            .find(|arg| arg.get_long() == Some(key.as_str()))
            .with_context(|| format!("`{key}` is no flag of train"))?;
        match arg.get_action() {
            ArgAction::SetTrue if value == "true" => flags.push(format!("--{key}")),
            ArgAction::SetTrue => {}
            _ => flags.extend([format!("--{key}"), value]),
        }
    }
    Ok(flags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn a_recipe_files_flags_parse_as_train_takes_them_and_typed_flags_win() {
        let file = RecipeFile::parse("preset = \"tiny\"\nbatch = 8\nmulti = true\nimages-per-id = 2\npose-maps = true\nflip = false").expect("parses");
        let flags = flags_of(&file).expect("flags");
        assert!(
            flags.contains(&"--multi".to_owned()) && !flags.contains(&"--flip".to_owned()),
            "{flags:?}"
        );
        let argv = ["drgan-studio", "train"]
            .into_iter()
            .map(String::from)
            .chain(flags)
            .chain(["--batch", "16", "--out", "x"].map(String::from));
        let Some(crate::cli::Command::Train(args)) =
            Cli::try_parse_from(argv).expect("parses").command
        else {
            panic!("train")
        };
        assert_eq!(
            (
                args.preset,
                args.batch,
                args.multi,
                args.images_per_id,
                args.pose_maps
            ),
            (crate::model::Preset::Tiny, 16, true, 2, Some(true))
        );
    }

    #[test]
    fn a_file_of_every_setting_runs_as_those_settings() {
        use crate::train::{Architecture, MultiImage};
        let (mut settings, architecture) = {
            let argv = ["drgan-studio", "train", "--recipe", "polish", "--out", "x"];
            let Some(crate::cli::Command::Train(args)) =
                Cli::try_parse_from(argv).expect("parses").command
            else {
                panic!("train")
            };
            crate::cli::train::settings(&args).expect("settings")
        };
        settings.recipe.edge_weight = 0.5;
        settings.eval_every = 7;
        settings.multi = Some(MultiImage {
            images_per_id: 3,
            degrade_fraction: 0.1,
            groups_per_batch: Some(2),
            d_real_apart: true,
        });
        let architecture = Architecture {
            patch_critic: true,
            ..architecture
        };
        let file = RecipeFile::of(crate::model::Preset::Paper, &settings, architecture, None);
        let argv = ["drgan-studio", "train"]
            .into_iter()
            .map(String::from)
            .chain(flags_of(&file).expect("flags"))
            .chain(["--out", "x"].map(String::from));
        let Some(crate::cli::Command::Train(args)) =
            Cli::try_parse_from(argv).expect("parses").command
        else {
            panic!("train")
        };
        assert_eq!(args.preset, crate::model::Preset::Paper);
        assert_eq!(
            crate::cli::train::settings(&args).expect("settings"),
            (settings, architecture)
        );
    }
}
