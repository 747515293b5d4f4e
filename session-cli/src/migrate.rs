//! `migrate`: copy every live session from one store to another, page by page, resumable.

use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sessions::{ErrorKind, SessionStore, WalkCursor};

use crate::commands::Output;
use crate::{Failure, Outcome, target};

/// What `migrate` was asked to do.
pub(crate) struct Plan {
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) dry_run: bool,
    pub(crate) resume: Option<PathBuf>,
    pub(crate) batch: usize,
}

/// What the resume file keeps between runs.
#[derive(Serialize, Deserialize, Default, Clone)]
struct Progress {
    /// The stores it was for: a resume file of another migration is refused.
    from: String,
    to: String,
    /// Where the walk goes on.
    cursor: Option<String>,
    copied: u64,
    existing: u64,
}

/// What a run did.
#[derive(Default)]
struct Counts {
    read: u64,
    copied: u64,
    existing: u64,
}

pub(crate) async fn run(plan: &Plan, out: &Output) -> Outcome {
    if plan.from.trim() == plan.to.trim() {
        return Err(Failure::Usage(
            "--from and --to name the same store; there is nothing to copy".into(),
        ));
    }
    let source = target::connect(&target::from_url(&plan.from)?, &plan.from).await?;
    let dest = target::connect(&target::from_url(&plan.to)?, &plan.to).await?;
    if !source.capabilities().walk {
        return Err(Failure::Store(format!(
            "the {} store cannot list its sessions (it declares no walk), so they cannot be \
             copied from it",
            source.name()
        )));
    }
    let from_text = sessions::kit::redacted_url(&plan.from);
    let to_text = sessions::kit::redacted_url(&plan.to);
    let progress = match &plan.resume {
        Some(file) if file.exists() && !plan.dry_run => {
            let kept = read_progress(file)?;
            if kept.from != from_text || kept.to != to_text {
                return Err(Failure::Usage(format!(
                    "{} is the resume file of a migration from {} to {}, not of this one",
                    file.display(),
                    kept.from,
                    kept.to
                )));
            }
            kept
        }
        _ => Progress {
            from: from_text.clone(),
            to: to_text.clone(),
            ..Progress::default()
        },
    };
    let resumed = progress.cursor.is_some();
    // What earlier runs of a resumed migration did.
    let earlier = (progress.copied, progress.existing);

    let bar = if out.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new_spinner()
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));

    let mut counts = Counts::default();
    let mut cursor = progress.cursor.clone().map(WalkCursor::new);
    loop {
        let page = source
            .walk(cursor.as_ref(), plan.batch)
            .await
            .map_err(|e| stopped(e.into(), plan))?;
        for record in &page.records {
            counts.read += 1;
            let there = if plan.dry_run {
                dest.load(&record.key)
                    .await
                    .map_err(|e| stopped(e.into(), plan))?
                    .is_some()
            } else {
                match dest.create(record).await {
                    Ok(()) => false,
                    // Already copied (an earlier run, or a repeat in the walk): left as it is.
                    Err(e) if e.kind() == ErrorKind::AlreadyExists => true,
                    Err(e) => {
                        return Err(stopped(Failure::from(e), plan));
                    }
                }
            };
            if there {
                counts.existing += 1;
            } else {
                counts.copied += 1;
            }
        }
        cursor = page.next;
        bar.set_message(format!(
            "{} {}, {} already there",
            counts.copied,
            if plan.dry_run { "to copy" } else { "copied" },
            counts.existing
        ));
        if let Some(file) = &plan.resume
            && !plan.dry_run
        {
            let (copied, existing) = totals(earlier, &counts);
            let kept = Progress {
                cursor: cursor.as_ref().map(|c| c.as_str().to_owned()),
                copied,
                existing,
                ..progress.clone()
            };
            write_progress(file, &kept)?;
        }
        if cursor.is_none() {
            break;
        }
    }
    bar.finish_and_clear();
    if let Some(file) = &plan.resume
        && !plan.dry_run
    {
        // Complete: a later run starts over, and finds everything already there.
        let _ = std::fs::remove_file(file);
    }
    let (copied_total, existing_total) = totals(earlier, &counts);
    out.print(
        || {
            let verb = if plan.dry_run { "would copy" } else { "copied" };
            let mut text = format!(
                "{verb} {} sessions from {} to {}; {} were already there",
                counts.copied, from_text, to_text, counts.existing
            );
            if resumed {
                text.push_str(&format!(
                    " (resumed: {copied_total} copied and {existing_total} already there in all)"
                ));
            }
            text
        },
        json!({
            "from": from_text,
            "to": to_text,
            "dry_run": plan.dry_run,
            "read": counts.read,
            "copied": counts.copied,
            "already_there": counts.existing,
            "resumed": resumed,
            "copied_in_all": copied_total,
            "already_there_in_all": existing_total,
        }),
    );
    Ok(())
}

/// The totals over every run of a resumed migration: what earlier runs kept, plus this run.
fn totals(earlier: (u64, u64), counts: &Counts) -> (u64, u64) {
    (earlier.0 + counts.copied, earlier.1 + counts.existing)
}

/// A failure mid-copy, saying how to go on.
fn stopped(failure: Failure, plan: &Plan) -> Failure {
    let hint = match &plan.resume {
        Some(file) => format!(
            "; run the same command again to go on from {}",
            file.display()
        ),
        None => "; run it again (sessions already copied are skipped), or add --resume FILE \
                      to go on from where it stopped"
            .to_owned(),
    };
    match failure {
        Failure::Store(m) => Failure::Store(format!("migration stopped: {m}{hint}")),
        Failure::Usage(m) => Failure::Usage(format!("migration stopped: {m}{hint}")),
        Failure::NotFound(m) => Failure::NotFound(m),
    }
}

fn read_progress(file: &Path) -> Result<Progress, Failure> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", file.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        Failure::Usage(format!(
            "{} is not a migration resume file: {e}",
            file.display()
        ))
    })
}

/// Writes the resume file whole or not at all: a temporary file, then a rename.
fn write_progress(file: &Path, progress: &Progress) -> Outcome {
    let text = serde_json::to_string_pretty(progress)
        .map_err(|e| Failure::Store(format!("cannot write the resume file: {e}")))?;
    let temp = file.with_extension("tmp");
    std::fs::write(&temp, text)
        .and_then(|()| std::fs::rename(&temp, file))
        .map_err(|e| Failure::Usage(format!("cannot write {}: {e}", file.display())))
}
