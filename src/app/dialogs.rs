//! File dialogs that neither block the window nor fail silently. A dialog runs on its own thread
//! while the window keeps drawing (on macOS, where dialogs belong to the main thread, it runs
//! there), and a field for a typed path is shown beside it from the start: on a desktop where no
//! dialog can open (on Linux, one without a file-chooser portal or zenity, such as a bare X
//! server) the person types the path, however long the failed dialog takes to come back. A
//! dialog that comes back empty leaves the field up (a dialog that could not open comes back
//! empty too, and the two cannot be told apart), saying which of the two it most likely was.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, TryRecvError, channel};
use std::time::{Duration, Instant};

use eframe::egui;

/// What to ask the person for.
#[derive(Clone, Debug)]
pub enum Request {
    /// A folder, starting in this one when it exists.
    Folder { start: Option<PathBuf> },
    /// One file.
    File,
    /// One or more images.
    Images,
    /// Where to save a file of this suggested name, in this folder unless the person picks
    /// another.
    Save { name: String, folder: PathBuf },
}

impl Request {
    /// Runs the platform's dialog; `None` when it was cancelled or could not open.
    fn run(self) -> Option<Vec<PathBuf>> {
        match self {
            Request::Folder { start } => {
                let dialog = rfd::FileDialog::new();
                let dialog = match start.filter(|s| s.is_dir()) {
                    Some(start) => dialog.set_directory(start),
                    None => dialog,
                };
                dialog.pick_folder().map(|p| vec![p])
            }
            Request::File => rfd::FileDialog::new().pick_file().map(|p| vec![p]),
            Request::Images => rfd::FileDialog::new()
                .add_filter(
                    "images",
                    &["png", "jpg", "jpeg", "bmp", "webp", "gif", "tif", "tiff"],
                )
                .pick_files(),
            Request::Save { name, folder } => rfd::FileDialog::new()
                .set_directory(folder)
                .set_file_name(name)
                .save_file()
                .map(|p| vec![p]),
        }
    }

    /// What the typed-path field starts with.
    fn suggestion(&self) -> String {
        match self {
            Request::Save { name, folder } => folder.join(name).display().to_string(),
            _ => String::new(),
        }
    }
}

/// A dialog that comes back empty sooner than this could not have been shown to anyone.
const TOO_FAST_FOR_A_PERSON: Duration = Duration::from_millis(400);

/// Why the typed-path field is up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Why {
    /// The dialog is still open.
    DialogOpen,
    /// It came back empty too fast for a person: it could not open.
    NoDialog,
    /// It came back empty: cancelled, or it could not open.
    Closed,
}

/// What the person is choosing a path for, and how far the choice has gone.
enum State<P> {
    Idle,
    Choosing {
        purpose: P,
        answer: Option<Receiver<Option<Vec<PathBuf>>>>,
        opened: Instant,
        text: String,
        why: Why,
    },
}

/// Runs a request's dialog (the platform's, or a stand-in in tests).
pub type DialogRunner = fn(Request) -> Option<Vec<PathBuf>>;

/// One view's file dialog: at most one open at a time. `P` says what the chosen paths are for
/// (and can carry what to save).
pub struct FileChooser<P> {
    state: State<P>,
    runner: DialogRunner,
}

impl<P> Default for FileChooser<P> {
    fn default() -> Self {
        Self {
            state: State::Idle,
            runner: Request::run,
        }
    }
}

impl<P> FileChooser<P> {
    /// Whether a dialog or the typed-path field is waiting for the person.
    pub fn is_busy(&self) -> bool {
        !matches!(self.state, State::Idle)
    }

    /// A chooser whose dialogs `runner` answers (tests stand in for a desktop's dialog).
    pub fn with_runner(runner: DialogRunner) -> Self {
        Self {
            state: State::Idle,
            runner,
        }
    }

    /// Opens a dialog for `purpose`, and the typed-path field beside it; the window goes on
    /// drawing meanwhile.
    pub fn open(&mut self, ctx: &egui::Context, purpose: P, request: Request) {
        let (sender, answer) = channel();
        let text = request.suggestion();
        let runner = self.runner;
        let answer = if cfg!(target_os = "macos") {
            let _ = sender.send(runner(request));
            Some(answer)
        } else {
            let ctx = ctx.clone();
            let spawned = std::thread::Builder::new()
                .name("file dialog".to_owned())
                .spawn(move || {
                    let _ = sender.send(runner(request));
                    ctx.request_repaint();
                });
            // No thread for the dialog: the typed path alone.
            spawned.ok().map(|_| answer)
        };
        let why = if answer.is_some() {
            Why::DialogOpen
        } else {
            Why::NoDialog
        };
        self.state = State::Choosing {
            purpose,
            answer,
            opened: Instant::now(),
            text,
            why,
        };
    }

    /// Shows the state of the choice (a note while a dialog is open, and the typed-path field)
    /// and returns the paths once chosen.
    pub fn ui(&mut self, ui: &mut egui::Ui) -> Option<(P, Vec<PathBuf>)> {
        let State::Choosing {
            purpose,
            answer,
            opened,
            mut text,
            mut why,
        } = std::mem::replace(&mut self.state, State::Idle)
        else {
            return None;
        };
        let mut answer = answer;
        if let Some(receiver) = &answer {
            match receiver.try_recv() {
                Ok(Some(paths)) => return Some((purpose, paths)),
                Ok(None) | Err(TryRecvError::Disconnected) => {
                    why = if opened.elapsed() < TOO_FAST_FOR_A_PERSON {
                        Why::NoDialog
                    } else {
                        Why::Closed
                    };
                    answer = None;
                }
                Err(TryRecvError::Empty) => {}
            }
        }
        match why {
            Why::DialogOpen => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("a file dialog is open… or type the path here:");
                });
            }
            Why::NoDialog => {
                ui.colored_label(ui.visuals().warn_fg_color, "No file dialog could open here (no desktop file-chooser portal or zenity). Type the path:");
            }
            Why::Closed => {
                ui.label("The file dialog closed without a choice (or could not open). Type the path, or Cancel:");
            }
        }
        let (mut chosen, mut cancelled) = (false, false);
        ui.horizontal(|ui| {
            let label = ui.label("path");
            let field = ui
                .add(
                    egui::TextEdit::singleline(&mut text)
                        .hint_text("a path")
                        .desired_width(220.0),
                )
                .labelled_by(label.id);
            chosen = ui.button("OK").clicked()
                || (field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)));
            cancelled = ui.button("Cancel").clicked();
        });
        if chosen && !text.trim().is_empty() {
            return Some((purpose, vec![PathBuf::from(text.trim())]));
        }
        if !cancelled {
            self.state = State::Choosing {
                purpose,
                answer,
                opened,
                text,
                why,
            };
        }
        None
    }
}
