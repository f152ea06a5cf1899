//! A progress bar fed by engine events.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mailmigrate_core::engine::{Event, EventSink};

/// Shows the engine's progress on stdout; hidden when stdout is not a terminal.
///
/// The bar's length grows as folders are listed; it advances as messages are copied,
/// recognised as already present, updated, or fail.
///
/// ```
/// use mailmigrate_examples::progress::Progress;
/// let p = Progress::hidden();
/// let sink = p.sink();
/// # let _ = sink;
/// p.finish();
/// ```
#[derive(Debug, Clone)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar on stdout, drawn only if stdout is a terminal.
    pub fn stdout() -> Self {
        use std::io::IsTerminal;
        let target = if std::io::stdout().is_terminal() {
            ProgressDrawTarget::stdout()
        } else {
            ProgressDrawTarget::hidden()
        };
        Self::with_target(target)
    }

    /// A bar that draws nothing (it still counts).
    pub fn hidden() -> Self {
        Self::with_target(ProgressDrawTarget::hidden())
    }

    fn with_target(target: ProgressDrawTarget) -> Self {
        let bar = ProgressBar::with_draw_target(Some(0), target);
        let style = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} msgs, eta {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        Self { bar }
    }

    /// The event sink to pass to [`Engine::with_events`](mailmigrate_core::engine::Engine::with_events).
    pub fn sink(&self) -> impl EventSink {
        let bar = self.bar.clone();
        move |e: &Event| apply(&bar, e)
    }

    /// Messages accounted for so far.
    pub fn position(&self) -> u64 {
        self.bar.position()
    }

    /// Messages listed so far.
    pub fn length(&self) -> u64 {
        self.bar.length().unwrap_or(0)
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

fn apply(bar: &ProgressBar, e: &Event) {
    match e {
        Event::Listed { messages, .. } => bar.inc_length(*messages),
        Event::Copied { messages, .. } | Event::FlagsUpdated { messages, .. } => bar.inc(*messages),
        Event::ItemFailed { .. } => bar.inc(1),
        Event::FolderStarted { source, .. } => bar.set_message(source.to_string()),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailmigrate_core::FolderPath;

    #[test]
    fn events_move_the_bar() {
        let p = Progress::hidden();
        let sink = p.sink();
        let source = FolderPath::inbox();
        sink.event(&Event::Listed {
            source: source.clone(),
            messages: 10,
        });
        sink.event(&Event::Copied {
            source: source.clone(),
            messages: 4,
            bytes: 400,
        });
        sink.event(&Event::ItemFailed {
            source,
            id: mailmigrate_core::MessageId::new("1"),
            kind: mailmigrate_core::ErrorKind::InvalidMessage,
            message: "empty message".into(),
        });
        assert_eq!((p.position(), p.length()), (5, 10));
    }
}
