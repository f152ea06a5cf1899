//! The readable account of what a pass did. It states facts only (what moved, what failed
//! and why); whether that is a success is said once, by the [`verdict`](crate::verdict).

use std::fmt;

use mailmigrate_core::engine::SyncReport;

/// Displays a [`SyncReport`] for the operator: one line per folder, the totals, and the
/// failures split into those refused for good and those retried on the next pass.
#[derive(Debug, Clone, Copy)]
pub struct Summary<'a>(pub &'a SyncReport);

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0;
        let t = &r.totals;
        let verb = if r.dry_run { "would copy" } else { "copied" };
        for folder in &r.folders {
            let s = &folder.stats;
            write!(
                f,
                "{:<40} {verb} {:>6}  flags {:>5}  dedup {:>5}  failed {:>4}",
                folder.source.to_string(),
                s.copied,
                s.flags_updated,
                s.deduplicated,
                s.failed
            )?;
            if !folder.complete {
                write!(f, "  stopped early")?;
            }
            writeln!(f)?;
        }
        if t.moved_nothing() && t.failed == 0 {
            write!(
                f,
                "Nothing to do: nothing changed at the source since the last pass ({} messages unchanged",
                t.unchanged
            )?;
            if t.previously_failed > 0 {
                write!(f, ", {} known failures not retried", t.previously_failed)?;
            }
            writeln!(f, ").")?;
        } else {
            writeln!(
                f,
                "Total: {verb} {} messages ({} bytes), {} flag updates, {} deduplicated, {} deleted, \
                 {} filtered, {} failed, {} unchanged.",
                t.copied,
                t.bytes,
                t.flags_updated,
                t.deduplicated,
                t.deleted,
                t.filtered,
                t.failed,
                t.unchanged
            )?;
        }
        if t.gone_at_destination > 0 {
            writeln!(
                f,
                "{} copies were deleted or moved away at the destination since they were written; \
                 their flag changes could not be carried.",
                t.gone_at_destination
            )?;
        }
        let (finals, retried): (Vec<_>, Vec<_>) = r.failures.iter().partition(|x| x.final_for_item);
        if !finals.is_empty() {
            writeln!(f, "Refused for good (not retried):")?;
            for x in finals {
                writeln!(f, "  failed: {}", x.message)?;
            }
        }
        if !retried.is_empty() {
            writeln!(f, "Failed this time, tried again on the next pass:")?;
            for x in retried {
                writeln!(f, "  failed: {}", x.message)?;
            }
        }
        Ok(())
    }
}
